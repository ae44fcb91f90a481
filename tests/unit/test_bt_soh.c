/* test_bt_soh.c - unit tests of a bt-soh run (lib/bt_soh): the rows a
 * history run writes, and the error paths with their messages. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt_soh.h"
#include "check.h"

/* Write TEXT to a new temporary file, whose name goes to PATH (a mkstemp
 * template).  Returns 0, or -1 on failure. */
static int
put(char *path, const char *text)
{
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		return -1;
	return 0;
}

/* Run OPTS on the input CSV with the output to OUT (up to SIZE bytes of
 * it); *MSG gets the error message.  Returns the status of the run. */
static enum bt_status
run(const struct bt_soh_opts *opts, const char *csv, char *out, size_t size,
    char *msg, size_t msgsize)
{
	char in[] = "/tmp/test_bt_soh.XXXXXX", op[] = "/tmp/test_bt_soh.XXXXXX";
	struct bt_reader *r = NULL;
	struct bt_writer *w = NULL;
	struct bt_soh *s = NULL;
	enum bt_status st;
	FILE *f;
	size_t n;

	out[0] = msg[0] = '\0';
	if (put(in, csv) != 0 || put(op, "") != 0) {
		CHECK(0, "temporary files");
		return BT_EIO;
	}
	CHECK(bt_soh_alloc(&s, opts) == BT_OK, "alloc");
	CHECK(bt_reader_open(&r, in, NULL) == BT_OK, "open input");
	CHECK(bt_writer_open(&w, op, 0, 0) == BT_OK, "open output");
	st = bt_soh_load_models(s);
	if (st == BT_OK)
		st = bt_soh_open(s, r);
	if (st == BT_OK)
		st = bt_soh_write(s, w);
	if (st != BT_OK)
		snprintf(msg, msgsize, "%s", bt_soh_errmsg(s));
	CHECK(bt_writer_close(w) == BT_OK, "close output");
	f = fopen(op, "r");
	n = f != NULL ? fread(out, 1, size - 1, f) : 0;
	out[n] = '\0';
	if (f != NULL)
		fclose(f);
	bt_writer_free(w);
	bt_soh_free(s);
	bt_reader_free(r);
	remove(in);
	remove(op);
	return st;
}

static void
test_history(void)
{
	struct bt_soh_opts o;
	char out[1024], msg[512], want[256];

	bt_soh_opts_init(&o);
	o.task = BT_SOH_HISTORY;
	o.health.reference_ah = 1.25;
	o.health.hampel_half = 0;
	CHECK(run(&o, "cycle,capacity_ah\n1,1.1875\n2,1.125\n", out, sizeof out,
		  msg, sizeof msg) == BT_OK, "history: %s", msg);
	CHECK_STR(out, "cycle,capacity_ah,soh,flag\n1,1.1875,0.95,0\n2,1.125,0.9,0\n",
		  "history rows");

	CHECK(run(&o, "cycle,capacity_ah\n", out, sizeof out, msg, sizeof msg)
	      == BT_EEMPTY, "no rows");
	snprintf(want, sizeof want, "no data rows after the header");
	CHECK(strstr(msg, want) != NULL, "no rows: %s", msg);
	CHECK_STR(out, "cycle,capacity_ah,soh,flag\n", "no rows: the header only");

	CHECK(run(&o, "cycle,volts\n1,3.1\n", out, sizeof out, msg, sizeof msg)
	      == BT_ENOCOL, "no capacity column");
	CHECK(msg[0] != '\0', "no capacity column: a message");
}

static void
test_errors(void)
{
	struct bt_soh_opts o;
	struct bt_soh *s;
	struct bt_net_report rep;
	const char *models[BT_SOH_MAX_MODELS + 1] = {
		"/nonexistent/test_bt_soh.btnet"
	};
	char out[1024], msg[512];

	bt_soh_opts_init(&o);
	o.task = BT_SOH_ICA;
	o.ica.bin_v = 1e-7;
	o.ica.smooth_v = 0;
	CHECK(run(&o, "time_s,current_a,voltage_v\n0,-1.5,3.7182\n1,-1.5,3.5141\n",
		  out, sizeof out, msg, sizeof msg) == BT_ERANGE, "ica: too many bins");
	CHECK(strstr(msg, ":3: voltage '3.5141' spans more than") != NULL,
	      "ica: too many bins: %s", msg);

	bt_soh_opts_init(&o);
	o.task = BT_SOH_PREDICT;
	o.models = models;
	o.nmodels = 1;
	CHECK(run(&o, "time_s,current_a,voltage_v\n0,-1.5,3.7182\n", out, sizeof out,
		  msg, sizeof msg) != BT_OK, "predict: no model file");
	CHECK(strstr(msg, "test_bt_soh.btnet") != NULL, "predict: %s", msg);

	o.nmodels = BT_SOH_MAX_MODELS + 1;
	CHECK(bt_soh_alloc(&s, &o) == BT_EINVAL && s == NULL, "too many models");

	bt_soh_opts_init(&o);
	CHECK(bt_soh_alloc(&s, &o) == BT_OK, "alloc");
	CHECK(bt_soh_load_models(s) == BT_OK, "cycles: no models to load");
	CHECK(bt_soh_train(s, &rep) == BT_EINVAL, "train without a training run");
	bt_soh_free(s);
	bt_soh_free(NULL);
}

int
main(void)
{
	test_history();
	test_errors();
	return check_report();
}
