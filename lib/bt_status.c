/* bt_status.c - descriptions of the library's error codes. */
#include "bt_status.h"

static const char *const messages[BT_NSTATUS] = {
	[BT_OK] = "success",
	[BT_EOF] = "end of input",
	[BT_ENOMEM] = "out of memory",
	[BT_EIO] = "input/output error",
	[BT_EINVAL] = "invalid argument",
	[BT_EPARSE] = "invalid number",
	[BT_ERAGGED] = "wrong number of fields",
	[BT_ENOCOL] = "missing column",
	[BT_EEMPTY] = "no data",
	[BT_EGZIP] = "truncated or corrupt gzip data",
	[BT_ETIME] = "time goes backwards",
	[BT_ENONFINITE] = "value is not a finite number",
	[BT_ELINE] = "line too long",
	[BT_ENUL] = "NUL byte in text input",
	[BT_EFORMAT] = "invalid file format",
	[BT_ENOCONV] = "did not converge",
	[BT_ERANGE] = "value out of range",
	[BT_EHEADER] = "unusable header",
};

const char *
bt_strerror(enum bt_status status)
{
	if ((unsigned)status >= BT_NSTATUS)
		return "unknown error";
	return messages[status];
}
