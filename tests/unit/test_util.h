/* test_util.h - what the estimation unit tests share besides check.h: a
 * deterministic uniform generator and the example cell model.  Header-only:
 * each test program includes it once. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "bt_ecm.h"
#include "check.h"


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


#endif /* TEST_UTIL_H */
