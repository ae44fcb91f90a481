/* test_bt_batch.c - names, template checks, the default engine, and the
 * state of a batch read from its output directory, every error path
 * included.  (Running jobs is tested by tests/bt-batch.bats.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt_batch.h"
#include "check.h"

static char dir[] = "/tmp/test_bt_batch.XXXXXX";

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

static void
check_name(const char *input, const char *want)
{
	char *name;
	enum bt_status st = bt_batch_name(input, &name);

	if (want == NULL) {
		CHECK(st == BT_EINVAL && name == NULL, "'%s' has no name", input);
		return;
	}
	CHECK(st == BT_OK, "'%s': status %d", input, (int)st);
	if (st == BT_OK)
		CHECK_STR(name, want, input);
	free(name);
}

static void
check_template(const char *template, const char *suffix, enum bt_status want,
	       const char *why_part)
{
	char why[512];
	enum bt_status st = bt_batch_check_template(template, suffix, why,
						    sizeof why);

	CHECK(st == want, "template '%s': status %d, want %d (%s)", template,
	      (int)st, (int)want, why);
	CHECK(strstr(why, why_part) != NULL, "template '%s': '%s' lacks '%s'",
	      template, why, why_part);
}

/* A batch of the inputs in INPUTS (NULL-terminated) over DIR/out. */
static struct bt_batch *
batch_of(const char *const *inputs, int retry_failed)
{
	char outdir[256];
	struct bt_batch_opts o = {"bt-import {in} -o {out}", outdir, NULL,
				  retry_failed};
	struct bt_batch *b;

	snprintf(outdir, sizeof outdir, "%s/out/", dir);
	if (bt_batch_alloc(&b, &o) != BT_OK)
		exit(2);
	for (; *inputs; inputs++)
		CHECK(bt_batch_add(b, *inputs) == BT_OK, "add %s", *inputs);
	return b;
}

int
main(void)
{
	static const char *const four[] = {"cells/c1.csv", "c2.csv.gz",
					   "x/c3.txt", "c4", NULL};
	static const char *const twins[] = {"a/c1.csv", "b/c1.csv.gz", NULL};
	char path[512], line[64];
	struct bt_batch *b;
	size_t nrun;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	/* {name}: the base name without compression suffix and extension. */
	check_name("exports/B0005_discharge.csv.gz", "B0005_discharge");
	check_name("cell.v2.csv", "cell.v2");
	check_name("data/Arbin-2021.05.03.res.xz", "Arbin-2021.05.03");
	check_name("17", "17");
	check_name(".hidden", ".hidden");
	check_name("a/.gz", ".gz");
	check_name("-", "-");
	check_name("cells/", NULL);
	check_name(".", NULL);
	check_name("up/..", NULL);
	check_name("line\nbreak.csv", NULL);

	/* Templates: an input, {out} for .gz outputs, valid bash. */
	check_template("bt-import {in} -o {out}", NULL, BT_OK, "");
	check_template("bt-sim --seed {name} | bt-import", ".csv", BT_OK, "");
	check_template("bt-import x.csv", NULL, BT_EINVAL, "names no input");
	check_template("bt-import {in}", ".csv.gz", BT_EINVAL, ".gz suffix");
	check_template("bt-import {in} -o {out}", ".csv.gz", BT_OK, "");
	check_template("bt-import {in} | (", NULL, BT_EINVAL, "syntax error");
	/* Valid alone, but its backslash would swallow the runner's brace. */
	check_template("bt-import {in} \\", NULL, BT_EINVAL, "syntax error");

	/* The default engine follows SLURM_CONF and SLURM_JOB_ID, and needs
	 * sbatch on the PATH: a fake one here. */
	snprintf(path, sizeof path, "%s/bin", dir);
	mkdir(path, 0777);
	snprintf(path, sizeof path, "%s/bin/sbatch", dir);
	write_text(path, "#!/bin/sh\nexit 1\n");
	chmod(path, 0755);
	snprintf(path, sizeof path, "%s/bin", dir);
	setenv("PATH", path, 1);
	snprintf(path, sizeof path, "%s/slurm.conf", dir);
	write_text(path, "ClusterName=none\n");
	setenv("SLURM_CONF", path, 1);
	unsetenv("SLURM_JOB_ID");
	CHECK(bt_batch_default_engine() == BT_ENGINE_SLURM, "configured: slurm");
	setenv("SLURM_JOB_ID", "1234", 1);
	CHECK(bt_batch_default_engine() == BT_ENGINE_PARALLEL, "inside a job");
	unsetenv("SLURM_JOB_ID");
	snprintf(path, sizeof path, "%s/no-such.conf", dir);
	setenv("SLURM_CONF", path, 1);
	CHECK(bt_batch_default_engine() == BT_ENGINE_PARALLEL, "no configuration");
	snprintf(path, sizeof path, "%s/slurm.conf", dir);
	setenv("SLURM_CONF", path, 1);
	setenv("PATH", "/nonexistent", 1);
	CHECK(bt_batch_default_engine() == BT_ENGINE_PARALLEL, "no sbatch");

	/* Scan: tasks, outputs under OUTDIR (trailing slash dropped), and
	 * the state each one's files give. */
	b = batch_of(four, 0);
	CHECK(bt_batch_ntasks(b) == 4, "four tasks");
	CHECK(bt_batch_scan(b, &nrun) == BT_OK, "scan: %s", bt_batch_errmsg(b));
	CHECK(nrun == 4, "all four to run, not %zu", nrun);
	snprintf(path, sizeof path, "%s/out/c3.csv", dir);
	CHECK_STR(bt_batch_task(b, 2)->output, path, "output of x/c3.txt");
	snprintf(path, sizeof path, "%s/out/logs", dir);
	CHECK_STR(bt_batch_logdir(b), path, "log directory");
	bt_batch_free(b);

	snprintf(path, sizeof path, "%s/out/c1.csv", dir);	/* done */
	write_text(path, "time_s\n1\n");
	snprintf(path, sizeof path, "%s/out/logs/c2.exit", dir);	/* failed */
	write_text(path, "3\n");
	snprintf(path, sizeof path, "%s/out/logs/c2.err", dir);
	write_text(path, "bt-import: c2.csv.gz: truncated gzip data\r\nmore\n");
	snprintf(path, sizeof path, "%s/out/logs/c3.exit", dir);	/* interrupted */
	write_text(path, "");
	snprintf(path, sizeof path, "%s/out/logs/c4.exit", dir);	/* output gone */
	write_text(path, "0\n");
	b = batch_of(four, 0);
	CHECK(bt_batch_scan(b, &nrun) == BT_OK, "scan: %s", bt_batch_errmsg(b));
	CHECK(nrun == 2, "c3 and c4 to run, not %zu", nrun);
	CHECK(bt_batch_task(b, 0)->state == BT_TASK_DONE && !bt_batch_task(b, 0)->run,
	      "c1 done");
	CHECK(bt_batch_task(b, 1)->state == BT_TASK_FAILED && !bt_batch_task(b, 1)->run
	      && bt_batch_task(b, 1)->exit_status == 3, "c2 failed with 3");
	CHECK(bt_batch_task(b, 2)->state == BT_TASK_PENDING && bt_batch_task(b, 2)->run,
	      "c3 to do");
	CHECK(bt_batch_task(b, 3)->state == BT_TASK_PENDING && bt_batch_task(b, 3)->run,
	      "c4 to do");
	CHECK(bt_batch_first_error(b, 1, line, sizeof line) == 1, "c2 has an error");
	CHECK_STR(line, "bt-import: c2.csv.gz: truncated gzip data", "first line");
	CHECK(bt_batch_first_error(b, 1, line, 12) == 1, "cut");
	CHECK_STR(line, "bt-import: ", "first line, cut to the buffer");
	CHECK(bt_batch_first_error(b, 2, line, sizeof line) == 0 && line[0] == '\0',
	      "c3 has no error");
	bt_batch_free(b);
	b = batch_of(four, 1);
	CHECK(bt_batch_scan(b, &nrun) == BT_OK && nrun == 3, "--retry-failed: 3");
	CHECK(bt_batch_task(b, 1)->run, "c2 runs again");
	bt_batch_free(b);

	/* Two inputs with one name. */
	b = batch_of(twins, 0);
	CHECK(bt_batch_scan(b, &nrun) == BT_EINVAL, "twins");
	CHECK_STR(bt_batch_errmsg(b), "inputs 'a/c1.csv' and 'b/c1.csv.gz' have "
		  "the same name 'c1': their outputs would collide", "twins message");
	CHECK(bt_batch_add(b, "up/..") == BT_EINVAL, "no name");
	CHECK_STR(bt_batch_errmsg(b), "input 'up/..' has no name to give its output",
		  "no-name message");
	bt_batch_free(b);

	/* Lists: empty lines and carriage returns; errors name the line. */
	snprintf(path, sizeof path, "%s/list", dir);
	write_text(path, "cells/c1.csv\r\n\nc2.csv.gz\nx/\n");
	b = batch_of((const char *const[]){NULL}, 0);
	CHECK(bt_batch_add_list(b, path) == BT_EINVAL, "x/ in the list");
	CHECK(bt_batch_ntasks(b) == 2, "two inputs before the bad line");
	CHECK_STR(bt_batch_task(b, 0)->input, "cells/c1.csv", "CR dropped");
	snprintf(line, sizeof line, "%s:4: input 'x/'", path + strlen(dir) + 1);
	CHECK(strstr(bt_batch_errmsg(b), line) != NULL, "message: %s",
	      bt_batch_errmsg(b));
	snprintf(path, sizeof path, "%s/no-such-list", dir);
	CHECK(bt_batch_add_list(b, path) == BT_EIO, "missing list");
	CHECK(strstr(bt_batch_errmsg(b), "No such file or directory") != NULL,
	      "message: %s", bt_batch_errmsg(b));
	bt_batch_free(b);
	b = batch_of((const char *const[]){NULL}, 0);
	CHECK(bt_batch_scan(b, &nrun) == BT_EINVAL, "no input");
	CHECK_STR(bt_batch_errmsg(b), "no input", "no-input message");
	bt_batch_free(b);

	/* An output directory that cannot be made. */
	{
		struct bt_batch_opts o = {"cat {in}", "/nonexistent/out", NULL, 0};

		if (bt_batch_alloc(&b, &o) != BT_OK || bt_batch_add(b, "c.csv") != BT_OK)
			return 2;
		CHECK(bt_batch_scan(b, &nrun) == BT_EIO, "unwritable");
		CHECK_STR(bt_batch_errmsg(b), "cannot create the directory "
			  "'/nonexistent/out': No such file or directory", "message");
		bt_batch_free(b);
	}
	bt_batch_free(NULL);

	setenv("PATH", "/usr/bin:/bin", 1);
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 2;
	return check_report();
}
