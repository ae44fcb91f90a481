/* test_bt_stream.c - the stream reader and writer, every error path included.
 *
 * Each case writes a small input to a temporary directory, reads it, and
 * checks the fields, values, statuses and exact error messages.  The fast
 * path and libcsv are compared field by field on the same inputs.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "bt_num.h"
#include "bt_stream.h"
#include "check.h"

static char dir[] = "/tmp/test_bt_stream.XXXXXX";



static const char *
path_of(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static const char *
write_file(const char *name, const char *data, size_t len)
{
	const char *p = path_of(name);
	FILE *f = fopen(p, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(p);
		exit(2);
	}
	return p;
}

static const char *
write_text(const char *name, const char *text)
{
	return write_file(name, text, strlen(text));
}

static const char *
write_gzip(const char *name, const char *text, size_t cut)
{
	const char *p = path_of(name);
	gzFile gz = gzopen(p, "wb");
	FILE *f;
	long size;

	gzwrite(gz, text, (unsigned)strlen(text));
	gzclose(gz);
	if (cut > 0) {
		f = fopen(p, "rb+");
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fclose(f);
		if (truncate(p, size - (long)cut) != 0)
			exit(2);
	}
	return p;
}

/* Open PATH expecting success. */
static struct bt_reader *
open_ok(const char *path, const struct bt_reader_opts *opts, const char *what)
{
	struct bt_reader *r;
	enum bt_status st = bt_reader_open(&r, path, opts);

	if (st != BT_OK) {
		CHECK(0, "%s: open: %s", what, r ? bt_reader_errmsg(r) : "");
		bt_reader_free(r);
		return NULL;
	}
	return r;
}

/* Open PATH expecting the status WANT and the message MSG (with the
 * directory prefix added). */
static void
open_fails(const char *name, const struct bt_reader_opts *opts,
	   enum bt_status want, const char *msg, const char *what)
{
	struct bt_reader *r;
	enum bt_status st = bt_reader_open(&r, path_of(name), opts);
	char full[600];

	snprintf(full, sizeof full, "%s/%s", dir, msg);
	CHECK(st == want, "%s", what);
	if (r != NULL)
		CHECK_STR(bt_reader_errmsg(r), full, what);
	bt_reader_free(r);
}

/* Read every row of NAME expecting the status WANT at the end (BT_EOF for
 * success) and the message MSG; return the number of rows read. */
static long
read_all(const char *name, const struct bt_reader_opts *opts,
	 enum bt_status want, const char *msg, const char *what)
{
	struct bt_reader *r = open_ok(path_of(name), opts, what);
	enum bt_status st;
	long rows = 0;
	char full[600];

	if (r == NULL)
		return -1;
	while ((st = bt_reader_next(r)) == BT_OK)
		rows++;
	CHECK(st == want, "%s", what);
	if (msg != NULL) {
		snprintf(full, sizeof full, "%s/%s", dir, msg);
		CHECK_STR(bt_reader_errmsg(r), full, what);
	}
	bt_reader_free(r);
	return rows;
}

static int
field_is(struct bt_reader *r, size_t col, const char *want)
{
	size_t len;
	const char *s = bt_reader_text(r, col, &len);

	return len == strlen(want) && memcmp(s, want, len) == 0;
}

static void
test_basic(void)
{
	struct bt_reader *r;
	double x;
	size_t col;

	write_text("basic.csv", "\xEF\xBB\xBF# made by hand\r\n# second comment\r\n"
		   "time_s,current_a,voltage_v,note\r\n"
		   "0,-1.2507,3.7182,start\r\n"
		   "0.5,-1.2507,3.7011,\r\n"
		   "1,0,3.7094,\"rest, then charge\"\r\n");
	r = open_ok(path_of("basic.csv"), NULL, "basic");
	if (r == NULL)
		return;
	CHECK(bt_reader_ncols(r) == 4, "basic: four columns");
	CHECK_STR(bt_reader_name(r, 0), "time_s", "basic: BOM skipped");
	CHECK(bt_reader_delimiter(r) == ',', "basic: comma detected");
	CHECK(bt_reader_find(r, "note") == 3 && bt_reader_find(r, "nope") == -1,
	      "basic: find");
	CHECK(bt_reader_next(r) == BT_OK, "basic: row 1");
	CHECK(bt_reader_line(r) == 4, "basic: line numbers count comments");
	CHECK(bt_reader_number(r, 2, &x) == BT_OK && x == 3.7182, "basic: value");
	CHECK(field_is(r, 3, "start"), "basic: text, CR stripped");
	CHECK(bt_reader_next(r) == BT_OK, "basic: row 2");
	CHECK(field_is(r, 3, ""), "basic: empty field");
	CHECK(bt_reader_number(r, 3, &x) == BT_OK && isnan(x),
	      "basic: empty field is NaN");
	CHECK(bt_reader_finite(r, 3, &x) == BT_ENONFINITE, "basic: empty not finite");
	{
		char want[300];

		snprintf(want, sizeof want,
			 "%s/basic.csv:5: missing value in column 'note'", dir);
		CHECK_STR(bt_reader_errmsg(r), want, "basic: missing value message");
	}
	CHECK(bt_reader_next(r) == BT_OK, "basic: row 3");
	CHECK(field_is(r, 3, "rest, then charge"), "basic: quoted field");
	CHECK(bt_reader_number(r, 3, &x) == BT_EPARSE, "basic: text is no number");
	CHECK(bt_reader_next(r) == BT_EOF, "basic: end");
	CHECK(bt_reader_require(r, "soc", &col) == BT_ENOCOL, "basic: require");
	{
		char want[300];

		snprintf(want, sizeof want,
			 "%s/basic.csv: missing column 'soc' (columns found: "
			 "time_s, current_a, voltage_v, note)", dir);
		CHECK_STR(bt_reader_errmsg(r), want, "basic: missing column message");
	}
	bt_reader_free(r);
}

static void
test_delimiters(void)
{
	struct bt_reader_opts o;
	struct bt_reader *r;
	double x;

	write_text("tab.tsv", "time_s\tcurrent_a\tvoltage_v\n1.5\t-0.25\t3.6512\n");
	r = open_ok(path_of("tab.tsv"), NULL, "tab");
	if (r != NULL) {
		CHECK(bt_reader_delimiter(r) == '\t', "tab detected");
		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, 2, &x) == BT_OK && x == 3.6512,
		      "tab value");
		bt_reader_free(r);
	}

	write_text("semi.csv", "time_s;current_a;voltage_v\n1,5;-0,25;3,6512\n");
	memset(&o, 0, sizeof o);
	o.decimal_comma = 1;
	r = open_ok(path_of("semi.csv"), &o, "semicolon");
	if (r != NULL) {
		CHECK(bt_reader_delimiter(r) == ';', "semicolon detected");
		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, 0, &x) == BT_OK && x == 1.5
		      && bt_reader_number(r, 2, &x) == BT_OK && x == 3.6512,
		      "decimal comma values");
		CHECK(!bt_reader_verbatim(r, 2), "decimal comma is not verbatim");
		bt_reader_free(r);
	}
	r = open_ok(path_of("semi.csv"), NULL, "semicolon, no decimal comma");
	if (r != NULL) {
		char want[300];

		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, 0, &x) == BT_EPARSE,
		      "decimal comma refused without the option");
		snprintf(want, sizeof want,
			 "%s/semi.csv:2: invalid number '1,5' in column 'time_s' "
			 "(use --decimal-comma?)", dir);
		CHECK_STR(bt_reader_errmsg(r), want, "decimal comma hint");
		bt_reader_free(r);
	}

	memset(&o, 0, sizeof o);
	o.delimiter = ';';
	write_text("forced.csv", "time_s;a,b\n1;x,y\n");
	r = open_ok(path_of("forced.csv"), &o, "forced delimiter");
	if (r != NULL) {
		CHECK(bt_reader_ncols(r) == 2 && bt_reader_next(r) == BT_OK
		      && field_is(r, 1, "x,y"), "forced delimiter keeps commas");
		bt_reader_free(r);
	}
}

static void
test_errors(void)
{
	char big[64];
	char *line;
	size_t n;

	open_fails("missing.csv", NULL, BT_EIO,
		   "missing.csv: No such file or directory", "nonexistent file");
	write_text("empty.csv", "");
	open_fails("empty.csv", NULL, BT_EEMPTY,
		   "empty.csv: empty input (no header line)", "empty input");
	write_text("comments.csv", "# only\n# comments\n");
	open_fails("comments.csv", NULL, BT_EEMPTY,
		   "comments.csv: empty input (no header line)", "only comments");
	write_text("header.csv", "time_s,current_a,voltage_v\n");
	CHECK(read_all("header.csv", NULL, BT_EOF, NULL, "header only") == 0,
	      "header only: no rows");

	write_text("short.csv", "time_s,current_a,voltage_v\n0,1,3.7\n1,1\n");
	read_all("short.csv", NULL, BT_ERAGGED,
		 "short.csv:3: expected 3 fields, found 2", "short row");
	write_text("long.csv", "time_s,current_a,voltage_v\n0,1,3.7,9\n");
	read_all("long.csv", NULL, BT_ERAGGED,
		 "long.csv:2: expected 3 fields, found 4", "long row");
	write_text("verylong.csv", "time_s,current_a,voltage_v\n0,1,3.7,9,9,9,9\n");
	read_all("verylong.csv", NULL, BT_ERAGGED,
		 "verylong.csv:2: expected 3 fields, found more", "very long row");
	write_text("blank.csv", "time_s,current_a,voltage_v\n0,1,3.7\n\n1,1,3.7\n");
	read_all("blank.csv", NULL, BT_ERAGGED,
		 "blank.csv:3: expected 3 fields, found 1", "blank line in data");
	write_text("quote.csv", "time_s,current_a,voltage_v\n0,\"1,3.7\n");
	read_all("quote.csv", NULL, BT_EPARSE,
		 "quote.csv:2: unterminated quoted field", "unterminated quote");

	write_file("nul.csv", "time_s,current_a,voltage_v\n0,1,3.\0007\n", 34);
	read_all("nul.csv", NULL, BT_ENUL, "nul.csv:2: NUL byte in the input",
		 "NUL byte");

	n = BT_STREAM_MAX_LINE + 10;
	line = malloc(n + 64);
	strcpy(line, "time_s,current_a,voltage_v\n0,1,");
	memset(line + strlen(line), '7', n);
	line[31 + n] = '\n';
	write_file("huge.csv", line, 32 + n);
	free(line);
	read_all("huge.csv", NULL, BT_ELINE,
		 "huge.csv:2: line longer than 1048576 bytes", "line over 1 MiB");

	/* Long enough that the header is read before the cut is reached. */
	{
		size_t k, size = 400000, used;
		char *text = malloc(size);

		if (text == NULL)
			exit(2);
		used = (size_t)sprintf(text, "time_s,current_a,voltage_v\n");
		for (k = 0; used < size - 64; k++)
			used += (size_t)sprintf(text + used, "%zu,-1.2507,%.4f\n", k,
						3.7 + (double)(k % 97) * 1e-4);
		write_gzip("trunc.csv.gz", text, 12);
		free(text);
	}
	read_all("trunc.csv.gz", NULL, BT_EGZIP, "trunc.csv.gz: truncated gzip data",
		 "truncated gzip");
	snprintf(big, sizeof big, "%c%c%c%c%c%c%c%c%c%c%s", 0x1f, 0x8b, 8, 0, 0, 0,
		 0, 0, 0, 3, "garbage!garbage!");
	write_file("corrupt.gz", big, 26);
	open_fails("corrupt.gz", NULL, BT_EGZIP,
		   "corrupt.gz: corrupt gzip data (invalid block type)",
		   "corrupt gzip");
}

static void
test_values(void)
{
	struct bt_reader_opts o;
	struct bt_reader *r;
	double x;
	char want[300];

	write_text("vals.csv", "time_s,current_a,voltage_v\n0,-2.5,abc\n1,nan,inf\n");
	r = open_ok(path_of("vals.csv"), NULL, "values");
	if (r == NULL)
		return;
	CHECK(bt_reader_next(r) == BT_OK, "values: row");
	CHECK(bt_reader_number(r, 2, &x) == BT_EPARSE, "values: bad number");
	snprintf(want, sizeof want,
		 "%s/vals.csv:2: invalid number 'abc' in column 'voltage_v'", dir);
	CHECK_STR(bt_reader_errmsg(r), want, "values: bad number message");
	CHECK(bt_reader_next(r) == BT_OK, "values: row 2");
	CHECK(bt_reader_number(r, 1, &x) == BT_OK && isnan(x), "values: nan allowed");
	CHECK(bt_reader_finite(r, 2, &x) == BT_ENONFINITE, "values: inf refused");
	snprintf(want, sizeof want,
		 "%s/vals.csv:3: non-finite value 'inf' in column 'voltage_v'", dir);
	CHECK_STR(bt_reader_errmsg(r), want, "values: non-finite message");
	bt_reader_free(r);

	memset(&o, 0, sizeof o);
	o.discharge_positive = 1;
	r = open_ok(path_of("vals.csv"), &o, "discharge positive");
	if (r != NULL) {
		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, 1, &x) == BT_OK && x == 2.5,
		      "discharge positive flips current");
		CHECK(!bt_reader_verbatim(r, 1) && bt_reader_verbatim(r, 0),
		      "flipped current is not verbatim");
		bt_reader_free(r);
	}
}

static void
test_time(void)
{
	struct bt_reader_opts o;

	memset(&o, 0, sizeof o);
	o.check_time = 1;
	write_text("back.csv", "time_s,current_a,voltage_v\n0,1,3.7\n5,1,3.7\n4.5,1,3.7\n");
	read_all("back.csv", &o, BT_ETIME,
		 "back.csv:4: time goes backwards from 5 to 4.5 in column 'time_s'",
		 "time backwards");
	write_text("cycles.csv", "cycle,time_s,current_a,voltage_v\n"
		   "1,0,1,3.7\n1,5,1,3.7\n2,0,1,3.7\n2,3,1,3.7\n2,1,1,3.7\n");
	read_all("cycles.csv", &o, BT_ETIME,
		 "cycles.csv:6: time goes backwards from 3 to 1 in column 'time_s' "
		 "within a cycle", "time backwards within a cycle");
	write_text("reset.csv", "cycle,time_s,current_a,voltage_v\n"
		   "1,0,1,3.7\n1,5,1,3.7\n2,0,1,3.7\n2,3,1,3.7\n");
	CHECK(read_all("reset.csv", &o, BT_EOF, NULL, "reset at a cycle") == 4,
	      "a reset at a cycle boundary is data");
	write_text("notime.csv", "time_s,current_a,voltage_v\n0,1,3.7\n,1,3.7\n");
	read_all("notime.csv", &o, BT_ENONFINITE,
		 "notime.csv:3: missing value in column 'time_s'", "missing time");
	CHECK(read_all("back.csv", NULL, BT_EOF, NULL, "no time check") == 3,
	      "time check only on request");
}

/* The fast path and libcsv must split every input alike. */
static void
test_paths_agree(void)
{
	static const char *const inputs[] = {
		"a,b,c\n1,2,3\n,,\n-0.5,x y,  spaced  \n1e-3,\t,z\n",
		"a\tb\tc\n1\t2\t3\n\t\t\n4\t 5 \tsix\n",
		"a;b;c\n1,5;2;3\n;;\n",
		"a,b,c\r\n1,2,3\r\n4,5,6",
		"a\n1\n\n2\n",
		";\n;\n",	/* empty fields only (found by fuzz_reader) */
	};
	struct bt_reader_opts o;
	size_t k, c, l1, l2;
	char name[32];

	memset(&o, 0, sizeof o);
	for (k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
		struct bt_reader *fast, *slow;
		enum bt_status s1, s2;
		int same = 1;

		snprintf(name, sizeof name, "agree%zu.csv", k);
		write_text(name, inputs[k]);
		o.force_libcsv = 0;
		fast = open_ok(path_of(name), &o, "agree fast");
		o.force_libcsv = 1;
		slow = open_ok(path_of(name), &o, "agree libcsv");
		if (fast == NULL || slow == NULL) {
			bt_reader_free(fast);
			bt_reader_free(slow);
			continue;
		}
		same = bt_reader_ncols(fast) == bt_reader_ncols(slow);
		for (;;) {
			s1 = bt_reader_next(fast);
			s2 = bt_reader_next(slow);
			if (s1 != s2) {
				same = 0;
				break;
			}
			if (s1 != BT_OK)
				break;
			for (c = 0; c < bt_reader_ncols(fast); c++) {
				const char *a = bt_reader_text(fast, c, &l1);
				const char *b = bt_reader_text(slow, c, &l2);

				if (l1 != l2 || memcmp(a, b, l1) != 0)
					same = 0;
			}
		}
		snprintf(name, sizeof name, "fast path = libcsv, input %zu", k);
		CHECK(same, "%s", name);
		bt_reader_free(fast);
		bt_reader_free(slow);
	}
}

static void
test_quoted(void)
{
	struct bt_reader *r;

	write_text("multi.csv", "time_s,note,voltage_v\n"
		   "1,\"two\nlines, \"\"quoted\"\"\",3.7\n2,plain,3.8\n");
	r = open_ok(path_of("multi.csv"), NULL, "multi-line quoted");
	if (r == NULL)
		return;
	CHECK(bt_reader_next(r) == BT_OK
	      && field_is(r, bt_reader_find(r, "note"), "two\nlines, \"quoted\""),
	      "quoted field across lines");
	CHECK(bt_reader_next(r) == BT_OK && bt_reader_line(r) == 4
	      && field_is(r, bt_reader_find(r, "note"), "plain"),
	      "line count after a multi-line field");
	bt_reader_free(r);
}

static void
test_maps(void)
{
	struct bt_schema_map m;
	struct bt_reader_opts o;
	struct bt_reader *r;
	char *storage;
	double x;

	write_text("mapped.csv", "Seconds,Amps,Volts\n1,-1500,3.7\n"
		   "2,-1250.7,3.7\n3,-1.2507E+003,3.7\n4,12507e-4,3.7\n5,nan,3.7\n");
	CHECK(bt_schema_parse_map("current_a=Amps*0.001", &m, &storage) == BT_OK,
	      "map parses");
	memset(&o, 0, sizeof o);
	o.maps = &m;
	o.nmaps = 1;
	r = open_ok(path_of("mapped.csv"), &o, "map");
	if (r != NULL) {
		long c = bt_reader_find(r, "current_a");

		CHECK(c >= 0 && bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, (size_t)c, &x) == BT_OK && x == -1.5,
		      "map scales");
		/* 10^-k scales shift the exponent: exact, unlike x * 0.001. */
		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, (size_t)c, &x) == BT_OK && x == -1.2507,
		      "scaled decimal is exact");
		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, (size_t)c, &x) == BT_OK && x == -1.2507,
		      "scaled exponent notation is exact");
		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, (size_t)c, &x) == BT_OK && x == 0.0012507,
		      "scaled negative exponent is exact");
		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, (size_t)c, &x) == BT_OK && isnan(x),
		      "scaled nan stays nan");
		bt_reader_free(r);
	}
	free(storage);
	CHECK(bt_schema_parse_map("current_a=Nope", &m, &storage) == BT_OK,
	      "map parses 2");
	open_fails("mapped.csv", &o, BT_EHEADER,
		   "mapped.csv:1: --map 'current_a=Nope': no column 'Nope' in the header",
		   "map names a missing column");
	free(storage);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void
test_writer(void)
{
	struct bt_writer *w;
	struct bt_reader *r;
	const char *out = path_of("out.csv");
	size_t len;
	char *text;
	struct stat sb;

	CHECK(bt_writer_open(&w, out, 0, 0) == BT_OK, "writer opens");
	CHECK(stat(out, &sb) != 0, "no output before close");
	bt_writer_text(w, "a", 1);
	bt_writer_text(w, "b,c", 3);
	bt_writer_text(w, "say \"hi\"", 8);
	bt_writer_number(w, 3.7182);
	bt_writer_empty(w);
	CHECK(bt_writer_end_row(w) == BT_OK, "writer row");
	bt_writer_number(w, 0.1 + 0.2);
	bt_writer_number(w, NAN);
	bt_writer_number(w, -INFINITY);
	bt_writer_number(w, 1e21);
	bt_writer_number(w, -0.0);
	bt_writer_end_row(w);
	CHECK(bt_writer_close(w) == BT_OK, "writer closes");
	bt_writer_free(w);
	text = slurp(out, &len);
	CHECK_STR(text ? text : "",
		  "a,\"b,c\",\"say \"\"hi\"\"\",3.7182,\n"
		  "0.30000000000000004,nan,-inf,1e+21,-0\n", "writer output");
	free(text);

	CHECK(bt_writer_open(&w, out, ';', 3) == BT_OK, "writer opens (precision)");
	bt_writer_number(w, 3.71829);
	bt_writer_text(w, "x;y", 3);
	bt_writer_end_row(w);
	CHECK(bt_writer_close(w) == BT_OK, "writer closes (precision)");
	bt_writer_free(w);
	text = slurp(out, &len);
	CHECK_STR(text ? text : "", "3.72;\"x;y\"\n", "writer precision, delimiter");
	free(text);

	/* An unfinished writer leaves nothing, not even the old content. */
	unlink(out);
	CHECK(bt_writer_open(&w, out, 0, 0) == BT_OK, "writer opens (abandon)");
	bt_writer_text(w, "partial", 7);
	bt_writer_end_row(w);
	bt_writer_free(w);
	CHECK(stat(out, &sb) != 0, "abandoned output does not appear");
	{
		char cmd[300];
		FILE *p;
		int leftovers;

		snprintf(cmd, sizeof cmd, "ls -a %s | grep -c 'out.csv' || true", dir);
		p = popen(cmd, "r");
		CHECK(p != NULL && fscanf(p, "%d", &leftovers) == 1 && leftovers == 0,
		      "abandoned output leaves no temporary file");
		if (p != NULL)
			pclose(p);
	}

	/* gzip out, read back through the reader. */
	out = path_of("out.csv.gz");
	CHECK(bt_writer_open(&w, out, 0, 0) == BT_OK, "gzip writer opens");
	bt_writer_text(w, "time_s", 6);
	bt_writer_text(w, "current_a", 9);
	bt_writer_text(w, "voltage_v", 9);
	bt_writer_end_row(w);
	bt_writer_number(w, 0.25);
	bt_writer_number(w, -1.2507);
	bt_writer_number(w, 3.7182);
	bt_writer_end_row(w);
	CHECK(bt_writer_close(w) == BT_OK, "gzip writer closes");
	bt_writer_free(w);
	text = slurp(out, &len);
	CHECK(text != NULL && len > 2 && (unsigned char)text[0] == 0x1f
	      && (unsigned char)text[1] == 0x8b, "gzip magic written");
	free(text);
	r = open_ok(out, NULL, "gzip read back");
	if (r != NULL) {
		double x;

		CHECK(bt_reader_next(r) == BT_OK
		      && bt_reader_number(r, 1, &x) == BT_OK && x == -1.2507,
		      "gzip round trip");
		bt_reader_free(r);
	}

	/* Writing to a full device fails at the latest at close. */
	if (access("/dev/full", W_OK) == 0) {
		CHECK(bt_writer_open(&w, "-", 0, 0) == BT_OK, "stdout writer");
		/* Redirect our standard output to /dev/full for this check. */
		fflush(stdout);
		{
			int saved = dup(1);
			FILE *full = fopen("/dev/full", "w");
			enum bt_status st;

			dup2(fileno(full), 1);
			bt_writer_text(w, "x", 1);
			bt_writer_end_row(w);
			st = bt_writer_close(w);
			dup2(saved, 1);
			close(saved);
			fclose(full);
			CHECK(st == BT_EIO, "/dev/full is an error");
			CHECK_STR(bt_writer_errmsg(w),
				  "write error: No space left on device",
				  "/dev/full message");
		}
		bt_writer_free(w);
	}

	CHECK(bt_writer_open(&w, "/nonexistent-dir/out.csv", 0, 0) == BT_EIO,
	      "unwritable output");
	if (w != NULL)
		CHECK_STR(bt_writer_errmsg(w),
			  "/nonexistent-dir/out.csv: No such file or directory",
			  "unwritable output message");
	bt_writer_free(w);
}

/* Copy IN to out.csv as bt-import does (check every mapped number, the
 * column REQUIRED, when not NULL, finite; then bt_reader_copy_row), with
 * DELIMITER and PRECISION.  Returns the status of the first row that
 * failed, with the reader's message in ERRMSG, or BT_OK. */
static enum bt_status
copy_file(const char *in, char delimiter, int precision, const char *required,
	  char *errmsg, size_t size)
{
	struct bt_reader *r;
	struct bt_writer *w;
	enum bt_status st = BT_OK;
	long col = -1;
	size_t i;

	errmsg[0] = '\0';
	if (bt_reader_open(&r, path_of(in), NULL) != BT_OK) {
		bt_reader_free(r);
		return BT_EIO;
	}
	if (bt_writer_open(&w, path_of("out.csv"), delimiter, precision) != BT_OK)
		exit(2);
	if (required != NULL) {
		col = bt_reader_find(r, required);
		CHECK(col >= 0, "column %s", required);
	}
	CHECK(bt_reader_copy_header(r, w, NULL, precision > 0) == BT_OK,
	      "copy header %s", in);
	bt_writer_end_row(w);
	while (st == BT_OK && (st = bt_reader_next(r)) == BT_OK) {
		for (i = 0; i < bt_reader_ncols(r) && st == BT_OK; i++)
			if (bt_reader_schema(r)->cols[i].conv != BT_CONV_TEXT)
				st = bt_reader_check(r, i, (long)i == col);
		if (st != BT_OK)
			break;
		bt_reader_copy_row(r, w);
		bt_writer_end_row(w);
	}
	if (st == BT_EOF) {
		st = BT_OK;
		CHECK(bt_writer_close(w) == BT_OK, "close");
	} else {
		snprintf(errmsg, size, "%s", bt_reader_errmsg(r));
	}
	bt_writer_free(w);
	bt_reader_free(r);
	return st;
}

static const char *
read_out(void)
{
	static char buf[4096];
	FILE *f = fopen(path_of("out.csv"), "rb");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* The pass-through of bt_reader_copy_header/copy_row: which columns are
 * copied, checked or converted, the whole-line path, and the errors. */
static void
test_copy(void)
{
	char msg[512];

	/* A canonical stream passes through byte for byte, extra text columns
	 * and a missing value included. */
	write_text("canon.csv", "time_s,current_a,voltage_v,note\n"
		   "0,-1.2507,3.7182,rest\n"
		   "0.5,-1.2507,,\"a, b\"\n");
	CHECK(copy_file("canon.csv", 0, 0, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_out(), "time_s,current_a,voltage_v,note\n"
		  "0,-1.2507,3.7182,rest\n0.5,-1.2507,,\"a, b\"\n", "canonical");

	/* A precision converts every mapped number; text is kept. */
	CHECK(copy_file("canon.csv", 0, 3, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_out(), "time_s,current_a,voltage_v,note\n"
		  "0,-1.25,3.72,rest\n0.5,-1.25,,\"a, b\"\n", "-p 3");

	/* Another delimiter rewrites the line, field by field. */
	CHECK(copy_file("canon.csv", ';', 0, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_out(), "time_s;current_a;voltage_v;note\n"
		  "0;-1.2507;3.7182;rest\n0.5;-1.2507;;a, b\n", "-d ';'");

	/* Units of a cycler export are converted to canonical ones. */
	write_text("ma.csv", "Test_Time(s),Current(mA),Voltage(V)\n"
		   "12.5,-1250.7,3.7182\n");
	CHECK(copy_file("ma.csv", 0, 0, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_out(), "time_s,current_a,voltage_v\n"
		  "12.5,-1.2507,3.7182\n", "mA to A");

	/* A bad number fails its row, naming the line and the column. */
	write_text("bad.csv", "time_s,current_a,voltage_v\n0,-1.2507,3.7182\n"
		   "1,oops,3.7011\n");
	CHECK(copy_file("bad.csv", 0, 0, NULL, msg, sizeof msg) == BT_EPARSE,
	      "bad number");
	CHECK(strstr(msg, ":3: ") != NULL && strstr(msg, "'oops'") != NULL
	      && strstr(msg, "current_a") != NULL, "message: %s", msg);

	/* A missing value is a value unless the column is required. */
	write_text("gap.csv", "time_s,current_a,voltage_v\n0,-1.2507,3.7182\n"
		   "1,-1.2507,\n");
	CHECK(copy_file("gap.csv", 0, 0, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK(copy_file("gap.csv", 0, 0, "voltage_v", msg, sizeof msg)
	      == BT_ENONFINITE, "required voltage");
	CHECK(strstr(msg, ":3: ") != NULL, "message: %s", msg);

}

int
main(void)
{
	char cmd[64];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_basic();
	test_delimiters();
	test_errors();
	test_values();
	test_time();
	test_paths_agree();
	test_quoted();
	test_maps();
	test_writer();
	test_copy();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
	return check_report();
}
