/* check.h - the small harness of the C unit tests.
 *
 * CHECK(cond, fmt, ...) counts a passed or failed check and, on failure,
 * prints "FILE:LINE: FAIL: message" on standard error; CHECK_NEAR and
 * CHECK_STR compare numbers within a tolerance and strings exactly.  A test
 * program ends with `return check_report();`, which prints the summary line
 * "N passed, N failed" that scripts/test and CI read, and returns non-zero
 * when anything failed.
 */
#ifndef BT_TEST_CHECK_H
#define BT_TEST_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Failures printed at most: a broken parser would otherwise print a
 * million lines. */
#define CHECK_MAX_REPORTED 50

static long check_passed, check_failed;

__attribute__((format(printf, 4, 5))) static inline void
check_at(const char *file, int line, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		check_passed++;
		return;
	}
	if (check_failed++ >= CHECK_MAX_REPORTED)
		return;
	fprintf(stderr, "%s:%d: FAIL: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) check_at(__FILE__, __LINE__, (cond), __VA_ARGS__)

#define CHECK_NEAR(got, want, tol, what)                                      \
	do {                                                                  \
		double got_ = (got), want_ = (want);                          \
		check_at(__FILE__, __LINE__, fabs(got_ - want_) <= (tol),     \
			 "%s: got %.17g, want %.17g (diff %.3g, tol %.3g)",   \
			 (what), got_, want_, got_ - want_, (double)(tol));   \
	} while (0)

#define CHECK_STR(got, want, what)                                            \
	do {                                                                  \
		const char *got_ = (got), *want_ = (want);                    \
		check_at(__FILE__, __LINE__, strcmp(got_, want_) == 0,        \
			 "%s\n  got:  %s\n  want: %s", (what), got_, want_);  \
	} while (0)

/* Print the summary line; returns the exit status of the test program. */
static inline int
check_report(void)
{
	printf("%ld passed, %ld failed\n", check_passed, check_failed);
	return check_failed != 0;
}

#endif /* BT_TEST_CHECK_H */
