/* test_bt_copy.c - the checked pass-through: which columns are copied,
 * checked or converted, the whole-line path, and the error paths.
 *
 * Each case writes a small input to a temporary directory, copies it with a
 * plan to an output file and compares that file with the stream written by
 * hand in the case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt_copy.h"
#include "bt_stream.h"
#include "check.h"

static char dir[] = "/tmp/test_bt_copy.XXXXXX";

static const char *
path_of(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

static void
write_text(const char *name, const char *text)
{
	FILE *f = fopen(path_of(name), "wb");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(name);
		exit(2);
	}
}

static const char *
read_text(const char *name)
{
	static char buf[4096];
	FILE *f = fopen(path_of(name), "rb");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* Copy IN to out.csv with DELIMITER and PRECISION, requiring the column
 * REQUIRED (or none when NULL) to be finite.  Returns the status of the
 * first row that failed, with the reader's message in ERRMSG, or BT_OK. */
static enum bt_status
copy_file(const char *in, char delimiter, int precision, const char *required,
	  char *errmsg, size_t size)
{
	struct bt_reader *r;
	struct bt_writer *w;
	struct bt_copy *c;
	enum bt_status st;
	long col;

	errmsg[0] = '\0';
	if (bt_reader_open(&r, path_of(in), NULL) != BT_OK) {
		bt_reader_free(r);
		return BT_EIO;
	}
	if (bt_writer_open(&w, path_of("out.csv"), delimiter, precision) != BT_OK)
		exit(2);
	CHECK(bt_copy_alloc(&c, r, delimiter, precision) == BT_OK, "alloc %s", in);
	if (required != NULL) {
		col = bt_reader_find(r, required);
		CHECK(col >= 0, "column %s", required);
		bt_copy_require(c, (size_t)col);
	}
	bt_copy_header(r, w);
	bt_writer_end_row(w);
	while ((st = bt_reader_next(r)) == BT_OK) {
		if ((st = bt_copy_row(c, r, w)) != BT_OK)
			break;
		bt_writer_end_row(w);
	}
	if (st == BT_EOF) {
		st = BT_OK;
		CHECK(bt_writer_close(w) == BT_OK, "close");
	} else {
		snprintf(errmsg, size, "%s", bt_reader_errmsg(r));
	}
	bt_writer_free(w);
	bt_copy_free(c);
	bt_reader_free(r);
	return st;
}

int
main(void)
{
	char msg[512];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	/* A canonical stream passes through byte for byte, extra text columns
	 * and a missing value included. */
	write_text("canon.csv", "time_s,current_a,voltage_v,note\n"
		   "0,-1.2507,3.7182,rest\n"
		   "0.5,-1.2507,,\"a, b\"\n");
	CHECK(copy_file("canon.csv", 0, 0, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_text("out.csv"), "time_s,current_a,voltage_v,note\n"
		  "0,-1.2507,3.7182,rest\n0.5,-1.2507,,\"a, b\"\n", "canonical");

	/* A precision converts every mapped number; text is kept. */
	CHECK(copy_file("canon.csv", 0, 3, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_text("out.csv"), "time_s,current_a,voltage_v,note\n"
		  "0,-1.25,3.72,rest\n0.5,-1.25,,\"a, b\"\n", "-p 3");

	/* Another delimiter rewrites the line, field by field. */
	CHECK(copy_file("canon.csv", ';', 0, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_text("out.csv"), "time_s;current_a;voltage_v;note\n"
		  "0;-1.2507;3.7182;rest\n0.5;-1.2507;;a, b\n", "-d ';'");

	/* Units of a cycler export are converted to canonical ones. */
	write_text("ma.csv", "Test_Time(s),Current(mA),Voltage(V)\n"
		   "12.5,-1250.7,3.7182\n");
	CHECK(copy_file("ma.csv", 0, 0, NULL, msg, sizeof msg) == BT_OK, "%s", msg);
	CHECK_STR(read_text("out.csv"), "time_s,current_a,voltage_v\n"
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

	remove(path_of("canon.csv"));
	remove(path_of("ma.csv"));
	remove(path_of("bad.csv"));
	remove(path_of("gap.csv"));
	remove(path_of("out.csv"));
	rmdir(dir);
	return check_report();
}
