/* bt_num.h - locale-independent number parsing and formatting.
 *
 * These are the hot path of every battools stream: each field a tool reads
 * goes through bt_num_parse and each number it writes through
 * bt_num_format.  Both ignore the process locale entirely.
 *
 * Parsing is strict (the whole field must be one number) and exact: the
 * result equals glibc strtod() in the C locale bit for bit.  Ordinary
 * decimals take a fast path; anything the fast path cannot do exactly falls
 * back to an exact conversion.
 *
 * Formatting writes either the shortest decimal string that reads back to
 * the same double, or N significant digits rounded exactly like
 * printf("%.Ng") in the C locale.  Nothing is allocated.
 */
#ifndef BT_NUM_H
#define BT_NUM_H

#include <stddef.h>

#include "bt_status.h"

/* Room for any string bt_num_format writes, terminating NUL included. */
#define BT_NUM_BUFSIZE 40

/* Largest precision bt_num_format accepts. */
#define BT_NUM_MAX_PRECISION 17

/* Parse the LEN bytes at S as one number and store it in *OUT.
 *
 * Accepted: optional sign, digits with an optional decimal point (DECIMAL,
 * '.' or ','), an optional exponent (e or E, optional sign, digits), and
 * "nan", "inf", "infinity" in any case with an optional sign.  At least one
 * digit is required; no leading or trailing space, no hex, no thousands
 * separators.  S need not be NUL-terminated.
 *
 * Returns BT_OK, or BT_EPARSE (and leaves *OUT unchanged) when the bytes are
 * not exactly one number (an empty field included). */
enum bt_status bt_num_parse(const char *s, size_t len, char decimal, double *out);

/* What bt_num_check finds a field to be. */
enum bt_num_class {
	BT_NUM_INVALID,		/* not a number: bt_num_parse would refuse it */
	BT_NUM_FINITE,		/* a number that reads as a finite double */
	BT_NUM_NONFINITE	/* nan, inf, or a number too large for a double */
};

/* Check the LEN bytes at S as bt_num_parse would read them, without
 * converting them when that can be avoided: for streams that pass numbers
 * through unchanged but must still validate every one.
 *
 * Returns the class of the field (BT_NUM_INVALID for what bt_num_parse
 * refuses). */
enum bt_num_class bt_num_check(const char *s, size_t len, char decimal);

/* Scan the longest prefix of the LEN bytes at S that has the form of a
 * decimal number: optional sign, digits with an optional decimal point
 * (DECIMAL) and at least one digit, and an optional exponent.  Store in
 * *CLS whether that prefix reads as a finite double (BT_NUM_FINITE) or
 * overflows (BT_NUM_NONFINITE).  Store in *VALUE the value bt_num_parse
 * gives the prefix when it is cheap (Clinger's fast path: at most 15
 * digits and a power of ten up to 10^22), and NAN when converting would
 * take more.  A reader splitting a line finds a
 * numeric field's end and checks it, and most often converts it, in one
 * pass: the field is a valid number when the prefix ends at the
 * delimiter.  nan and inf are not scanned.
 *
 * Returns the length of the prefix, 0 (with *CLS BT_NUM_INVALID and
 * *VALUE untouched) when there is none. */
size_t bt_num_scan(const char *s, size_t len, char decimal,
		   enum bt_num_class *cls, double *value);

/* Write X into BUF (at least BT_NUM_BUFSIZE bytes) and NUL-terminate it.
 *
 * PRECISION 0 writes the shortest string that bt_num_parse reads back to
 * exactly X, in the layout of Python's repr() except that an integral value
 * has no ".0" (3.0 -> "3", 0.1 -> "0.1", 1e-05 -> "1e-05", 1e+16 -> "1e+16",
 * -0.0 -> "-0").  PRECISION 1..BT_NUM_MAX_PRECISION writes what
 * printf("%.*g", PRECISION, X) writes in the C locale.  NaN is "nan",
 * infinities "inf" and "-inf".
 *
 * Returns the length written, not counting the NUL. */
size_t bt_num_format(double x, int precision, char *buf);

/* bt_num_format without its fast layout of numbers of eight digits or
 * fewer: every number goes through the general digit string.  For tests,
 * which check that both write the same bytes.
 *
 * Returns the length written, not counting the NUL. */
size_t bt_num_format_reference(double x, int precision, char *buf);

#endif /* BT_NUM_H */
