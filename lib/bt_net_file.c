/* bt_net_file.c - the bt-net(5) model file: encoding, the strict decoder,
 * atomic saving and loading.
 *
 * Every integer and float is little-endian whatever the host; the last
 * four bytes are the CRC-32 (zlib's crc32, the polynomial of ISO 3309 and
 * PNG) of everything before them.  The decoder accepts a file only when
 * every field holds a value this library could have written and the
 * length is exact, and says which field is wrong and at which byte.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "bt_net.h"
#include "bt_net_impl.h"
#include "bt_stream.h"

/* The first eight bytes of every model file: a byte with the high bit set
 * (catches 7-bit transfers), the name, and CR LF (catches line-end
 * conversions). */
static const unsigned char magic[8] = {0x89, 'B', 'T', 'N', 'E', 'T', '\r', '\n'};

/* --- Encoding ------------------------------------------------------------ */

struct out {
	unsigned char *buf;
	size_t len, cap;
	int failed;
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		unsigned char *b;

		while (cap < o->len + n)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (b == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
put_u32(struct out *o, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
			      (unsigned char)(v >> 16), (unsigned char)(v >> 24)};

	put(o, b, 4);
}

static void
put_u64(struct out *o, uint64_t v)
{
	put_u32(o, (uint32_t)v);
	put_u32(o, (uint32_t)(v >> 32));
}

static void
put_f64(struct out *o, double x)
{
	uint64_t v;

	memcpy(&v, &x, sizeof v);
	put_u64(o, v);
}

enum bt_status
bt_net_encode(const struct bt_net *net, unsigned char **buf, size_t *len)
{
	const struct bt_net_arch *a = &net->arch;
	struct out o = {NULL, 0, 0, 0};
	unsigned l;
	size_t i;

	*buf = NULL;
	*len = 0;
	put(&o, magic, sizeof magic);
	put_u32(&o, BT_NET_FORMAT_VERSION);
	put_u32(&o, a->window);
	put_u32(&o, a->channels);
	put_u32(&o, a->n_conv);
	put_u32(&o, a->n_lstm);
	for (l = 0; l < a->n_conv; l++) {
		put_u32(&o, a->conv[l].kernel);
		put_u32(&o, a->conv[l].filters);
		put_u32(&o, a->conv[l].pool);
	}
	for (l = 0; l < a->n_lstm; l++)
		put_u32(&o, a->hidden[l]);
	put_f64(&o, net->period_s);
	for (l = 0; l <= a->channels; l++) {
		unsigned char n = (unsigned char)strlen(net->names[l]);

		put(&o, &n, 1);
		put(&o, net->names[l], n);
		put_f64(&o, net->mean[l]);
		put_f64(&o, net->scale[l]);
	}
	put_u64(&o, net->lay.nparams);
	for (i = 0; i < net->lay.nparams; i++) {
		uint32_t v;

		memcpy(&v, &net->params[i], sizeof v);
		put_u32(&o, v);
	}
	if (!o.failed)
		put_u32(&o, (uint32_t)crc32(crc32(0L, Z_NULL, 0), o.buf,
					    (uInt)o.len));
	if (o.failed) {
		free(o.buf);
		return BT_ENOMEM;
	}
	*buf = o.buf;
	*len = o.len;
	return BT_OK;
}

/* --- Decoding ------------------------------------------------------------ */

struct in {
	const unsigned char *p;
	size_t len, pos;
	const char *name;
	char *errmsg;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static enum bt_status
fail(struct in *r, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->errmsg == NULL)
		return BT_EFORMAT;
	n = snprintf(r->errmsg, BT_ERRMSG_SIZE, "%s: byte %zu: ", r->name, at);
	if (n < 0 || n >= BT_ERRMSG_SIZE)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(r->errmsg + n, BT_ERRMSG_SIZE - (size_t)n, fmt, ap);
	va_end(ap);
	return BT_EFORMAT;
}

/* Make sure N more bytes are there for FIELD. */
static enum bt_status
need(struct in *r, size_t n, const char *field)
{
	if (r->len - r->pos < n)
		return fail(r, r->pos, "truncated: the file ends inside the %s",
			    field);
	return BT_OK;
}

static uint32_t
get_u32(struct in *r)
{
	const unsigned char *b = r->p + r->pos;

	r->pos += 4;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16
	       | (uint32_t)b[3] << 24;
}

static uint64_t
get_u64(struct in *r)
{
	uint64_t lo = get_u32(r);

	return lo | (uint64_t)get_u32(r) << 32;
}

static double
get_f64(struct in *r)
{
	uint64_t v = get_u64(r);
	double x;

	memcpy(&x, &v, sizeof x);
	return x;
}

/* Read a u32 FIELD that must lie in [LO, HI] into *V. */
static enum bt_status
get_range(struct in *r, const char *field, uint32_t lo, uint32_t hi,
	  unsigned *v)
{
	size_t at = r->pos;
	uint32_t x;

	if (need(r, 4, field) != BT_OK)
		return BT_EFORMAT;
	x = get_u32(r);
	if (x < lo || x > hi)
		return fail(r, at, "%s '%lu' is out of range (%lu to %lu)", field,
			    (unsigned long)x, (unsigned long)lo,
			    (unsigned long)hi);
	*v = x;
	return BT_OK;
}

static enum bt_status
parse(struct in *r, struct bt_net **netp)
{
	struct bt_net_arch a;
	struct bt_net *net;
	char field[64], why[BT_ERRMSG_SIZE];
	unsigned version, l;
	size_t at, i, body;
	uint64_t nparams;
	uint32_t stored, crc;
	double period;

	memset(&a, 0, sizeof a);
	if (r->len < sizeof magic || memcmp(r->p, magic, sizeof magic) != 0) {
		if (r->errmsg != NULL)
			snprintf(r->errmsg, BT_ERRMSG_SIZE,
				 "%s: not a battools network file (bad magic bytes)",
				 r->name);
		return BT_EFORMAT;
	}
	r->pos = sizeof magic;
	at = r->pos;
	if (need(r, 4, "format version") != BT_OK)
		return BT_EFORMAT;
	version = get_u32(r);
	if (version != BT_NET_FORMAT_VERSION)
		return fail(r, at, "unsupported format version '%u' (this battools reads %d)",
			    version, BT_NET_FORMAT_VERSION);
	if (get_range(r, "window", 1, BT_NET_MAX_WINDOW, &a.window) != BT_OK
	    || get_range(r, "channels", 1, BT_NET_MAX_CHANNELS, &a.channels) != BT_OK
	    || get_range(r, "convolution layers", 0, BT_NET_MAX_CONV, &a.n_conv) != BT_OK
	    || get_range(r, "LSTM layers", 1, BT_NET_MAX_LSTM, &a.n_lstm) != BT_OK)
		return BT_EFORMAT;
	for (l = 0; l < a.n_conv; l++) {
		snprintf(field, sizeof field, "conv%u kernel", l + 1);
		if (get_range(r, field, 1, BT_NET_MAX_WINDOW, &a.conv[l].kernel) != BT_OK)
			return BT_EFORMAT;
		snprintf(field, sizeof field, "conv%u filters", l + 1);
		if (get_range(r, field, 1, BT_NET_MAX_UNITS, &a.conv[l].filters) != BT_OK)
			return BT_EFORMAT;
		snprintf(field, sizeof field, "conv%u pool", l + 1);
		if (get_range(r, field, 1, BT_NET_MAX_WINDOW, &a.conv[l].pool) != BT_OK)
			return BT_EFORMAT;
	}
	for (l = 0; l < a.n_lstm; l++) {
		snprintf(field, sizeof field, "lstm%u units", l + 1);
		if (get_range(r, field, 1, BT_NET_MAX_UNITS, &a.hidden[l]) != BT_OK)
			return BT_EFORMAT;
	}
	if (bt_net_arch_check(&a, why) != BT_OK)
		return fail(r, r->pos, "%s", why);
	at = r->pos;
	if (need(r, 8, "sample period") != BT_OK)
		return BT_EFORMAT;
	period = get_f64(r);
	if (!isnan(period) && !(isfinite(period) && period > 0))
		return fail(r, at, "sample period '%g' must be > 0 (or NaN: unknown)",
			    period);
	net = bt_net_new(&a);
	if (net == NULL) {
		if (r->errmsg != NULL)
			snprintf(r->errmsg, BT_ERRMSG_SIZE, "%s: out of memory",
				 r->name);
		return BT_ENOMEM;
	}
	net->period_s = period;
	for (l = 0; l <= a.channels; l++) {
		const char *what = l < a.channels ? "channel" : "target";
		unsigned n;

		at = r->pos;
		snprintf(field, sizeof field, "%s name", what);
		if (need(r, 1, field) != BT_OK)
			goto bad;
		n = r->p[r->pos++];
		if (need(r, n, field) != BT_OK)
			goto bad;
		if (!bt_net_name_ok((const char *)r->p + r->pos, n)) {
			fail(r, at, "%s %u: the name must be 1 to %d printable characters",
			     what, l + 1, BT_NET_MAX_NAME);
			goto bad;
		}
		memcpy(net->names[l], r->p + r->pos, n);
		net->names[l][n] = '\0';
		r->pos += n;
		at = r->pos;
		if (need(r, 16, "normalisation") != BT_OK)
			goto bad;
		net->mean[l] = get_f64(r);
		net->scale[l] = get_f64(r);
		if (!isfinite(net->mean[l]) || !isfinite(net->scale[l])
		    || !(net->scale[l] > 0)) {
			fail(r, at, "normalisation of '%s' (mean '%g', scale '%g') must be finite with scale > 0",
			     net->names[l], net->mean[l], net->scale[l]);
			goto bad;
		}
	}
	at = r->pos;
	if (need(r, 8, "weight count") != BT_OK)
		goto bad;
	nparams = get_u64(r);
	if (nparams != net->lay.nparams) {
		fail(r, at, "weight count '%llu' does not match the architecture's %zu",
		     (unsigned long long)nparams, net->lay.nparams);
		goto bad;
	}
	if (need(r, 4 * net->lay.nparams, "weights") != BT_OK)
		goto bad;
	for (i = 0; i < net->lay.nparams; i++) {
		uint32_t v = get_u32(r);

		memcpy(&net->params[i], &v, sizeof v);
		if (!isfinite(net->params[i])) {
			fail(r, r->pos - 4, "weight %zu is not finite", i);
			goto bad;
		}
	}
	body = r->pos;
	if (need(r, 4, "CRC-32") != BT_OK)
		goto bad;
	stored = get_u32(r);
	if (r->pos != r->len) {
		fail(r, r->pos, "%zu unexpected bytes after the CRC-32",
		     r->len - r->pos);
		goto bad;
	}
	crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), r->p, (uInt)body);
	if (crc != stored) {
		fail(r, body, "CRC-32 mismatch (stored %08lx, computed %08lx): the file is corrupt",
		     (unsigned long)stored, (unsigned long)crc);
		goto bad;
	}
	*netp = net;
	return BT_OK;
bad:
	bt_net_free(net);
	return BT_EFORMAT;
}

enum bt_status
bt_net_parse(const void *buf, size_t len, const char *name, struct bt_net **net,
	     char errmsg[BT_ERRMSG_SIZE])
{
	struct in r = {buf, len, 0, name, errmsg};

	*net = NULL;
	if (errmsg != NULL)
		errmsg[0] = '\0';
	return parse(&r, net);
}

static void
file_msg(char *errmsg, const char *path, const char *what)
{
	if (errmsg != NULL)
		snprintf(errmsg, BT_ERRMSG_SIZE, "%s: %s", path, what);
}

enum bt_status
bt_net_load(const char *path, struct bt_net **net, char errmsg[BT_ERRMSG_SIZE])
{
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, got;
	enum bt_status st;
	FILE *f;

	*net = NULL;
	if (errmsg != NULL)
		errmsg[0] = '\0';
	f = fopen(path, "rb");
	if (f == NULL) {
		file_msg(errmsg, path, strerror(errno));
		return BT_EIO;
	}
	for (;;) {
		if (len == cap) {
			unsigned char *b;

			if (cap >= (size_t)BT_NET_MAX_FILE_BYTES) {
				fclose(f);
				free(buf);
				file_msg(errmsg, path,
					 "too large for a battools network file");
				return BT_EFORMAT;
			}
			cap = cap ? 2 * cap : 65536;
			b = realloc(buf, cap + 1);
			if (b == NULL) {
				fclose(f);
				free(buf);
				file_msg(errmsg, path, "out of memory");
				return BT_ENOMEM;
			}
			buf = b;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;

		fclose(f);
		free(buf);
		file_msg(errmsg, path, strerror(e));
		return BT_EIO;
	}
	fclose(f);
	st = bt_net_parse(buf, len, path, net, errmsg);
	free(buf);
	return st;
}

enum bt_status
bt_net_save(const struct bt_net *net, const char *path,
	    char errmsg[BT_ERRMSG_SIZE])
{
	unsigned char *buf;
	char *tmp = NULL;
	size_t len, done = 0;
	enum bt_status st;
	int fd, e = 0;

	if (errmsg != NULL)
		errmsg[0] = '\0';
	st = bt_net_encode(net, &buf, &len);
	if (st != BT_OK) {
		file_msg(errmsg, path, "out of memory");
		return st;
	}
	fd = bt_stream_temporary(path, &tmp);
	if (fd < 0) {
		e = errno;
	} else {
		while (done < len) {
			ssize_t n = write(fd, buf + done, len - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				e = n < 0 ? errno : EIO;
				break;
			}
			done += (size_t)n;
		}
		if (close(fd) != 0 && e == 0)
			e = errno;
		if (e == 0 && bt_stream_commit(tmp, path) != 0)
			e = errno;
		if (e != 0 && tmp != NULL)
			unlink(tmp);
	}
	if (e != 0)
		file_msg(errmsg, path, strerror(e));
	free(tmp);
	free(buf);
	return e ? BT_EIO : BT_OK;
}
