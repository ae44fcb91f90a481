/* test_util.h - what the estimation unit tests share: CHECK, a
 * deterministic uniform generator, the example cell model and the report
 * line.  Header-only: each test program includes it once. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "bt_ecm.h"

static int test_pass, test_fail;

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline void
test_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		test_pass++;
		return;
	}
	test_fail++;
	fprintf(stderr, "%s:%d: FAIL: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) test_check((cond), __FILE__, __LINE__, __VA_ARGS__)

/* A uniform number in [0, 1) from the xorshift64 state *S. */
static inline double
test_uniform(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (double)(*s >> 11) / 9007199254740992.0;
}

/* The example cell, datasets/nmc18650.ecm, found through BT_SRCDIR (set
 * by make check) or from the build directory. */
static inline struct bt_ecm *
test_model(void)
{
	const char *src = getenv("BT_SRCDIR");
	char path[4096], msg[BT_ERRMSG_SIZE] = "";
	struct bt_ecm *ecm = NULL;

	snprintf(path, sizeof path, "%s/datasets/nmc18650.ecm", src ? src : "../..");
	if (bt_ecm_load(path, &ecm, msg) != BT_OK) {
		fprintf(stderr, "cannot load the example cell: %s\n", msg);
		exit(1);
	}
	return ecm;
}

static inline int
test_report(void)
{
	printf("%d passed, %d failed\n", test_pass, test_fail);
	return test_fail != 0;
}

#endif /* TEST_UTIL_H */
