/* bt_status.h - error codes shared by every libbattools module.
 *
 * Library functions never print, exit or abort: they return one of these
 * codes.  Objects that read data (the stream reader, the ECM loader) also
 * keep the position and a one-line description of their last error for the
 * command-line tools to report.  bt_strerror() maps a code to a short,
 * lowercase English phrase with no final full stop.
 */
#ifndef BT_STATUS_H
#define BT_STATUS_H

enum bt_status {
	BT_OK = 0,	/* success */
	BT_EOF,		/* no more rows: not an error for a stream */
	BT_ENOMEM,	/* out of memory */
	BT_EIO,		/* read or write error reported by the system */
	BT_EINVAL,	/* an invalid argument or option value */
	BT_EPARSE,	/* a field is not a valid number */
	BT_ERAGGED,	/* a row has the wrong number of fields */
	BT_ENOCOL,	/* a required column is missing */
	BT_EEMPTY,	/* the input is empty or has no data rows */
	BT_EGZIP,	/* truncated or corrupt gzip data */
	BT_ETIME,	/* time goes backwards within a cycle */
	BT_ENONFINITE,	/* NaN, infinity or a missing value where a number is required */
	BT_ELINE,	/* a line is longer than the reader accepts */
	BT_ENUL,	/* a NUL byte in text input */
	BT_EFORMAT,	/* a file does not follow its format (ECM, network) */
	BT_ENOCONV,	/* an iterative method did not converge */
	BT_ERANGE,	/* a value lies outside the range the model accepts */
	BT_EHEADER,	/* a header that cannot be used (unrecognised, duplicate) */
	BT_NSTATUS
};

/* Size of the buffers in which loaders (bt_ecm, bt_net) describe an error:
 * "FILE:LINE: what is wrong", lowercase, no final full stop. */
#define BT_ERRMSG_SIZE 512

/* Return a static lowercase description of STATUS, never NULL. */
const char *bt_strerror(enum bt_status status);

#endif /* BT_STATUS_H */
