/* bt-batch - one job per input file on GNU parallel or a Slurm job array,
 * and the per-input outputs gathered into one stream.
 *
 * bt-batch builds no scheduler of its own: lib/bt_batch writes a bash
 * runner for the tasks still to do and starts GNU parallel or sbatch on it;
 * this program forwards signals to that engine while it runs, reports the
 * tasks that failed and gathers the outputs with the stream reader and
 * writer, a column naming the input first.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bt_batch.h"
#include "bt_cli.h"
#include "bt_gather.h"
#include "bt_num.h"

/* The gathered column that names each input, unless --column says. */
#define DEFAULT_COLUMN "cell"

struct batch_args {
	struct bt_cli_common common;
	struct bt_batch_opts batch;
	struct bt_batch_engine_opts engine;
	int engine_given;
	const char *manifest;
	const char *column;
	int gather, gather_only;
	char **operands;
	size_t noperands;
	char **sbatch_args;
};

enum {
	OPT_OUTDIR = 0x200, OPT_SUFFIX, OPT_MANIFEST, OPT_RETRY_FAILED,
	OPT_ARRAY_MAX, OPT_PARTITION, OPT_TIME, OPT_MEM, OPT_SBATCH_ARG,
	OPT_WAIT, OPT_GATHER, OPT_GATHER_ONLY, OPT_COLUMN, OPT_PER_JOB
};

static const struct argp_option options[] = {
	{NULL, 0, NULL, 0, "Jobs:", 1},
	{"outdir", OPT_OUTDIR, "DIR", 0,
	 "write each input's output to DIR/NAME.csv and its logs to DIR/logs "
	 "(required)", 1},
	{"engine", 'e', "NAME", 0,
	 "parallel or slurm (default: slurm where sbatch and a Slurm "
	 "configuration are found outside a Slurm job, else parallel)", 1},
	{"jobs", 'j', "N", 0,
	 "run at most N jobs at once (default: one per CPU core with "
	 "parallel, no limit with slurm)", 1},
	{"per-job", OPT_PER_JOB, "N", 0,
	 "run N inputs one after another in each job or array task (default "
	 "1): for jobs of a second or less", 1},
	{"manifest", OPT_MANIFEST, "LIST", 0,
	 "read the inputs from LIST, one per line (- for standard input)", 1},
	{"suffix", OPT_SUFFIX, "EXT", 0, "the outputs' suffix (default .csv)", 1},
	{"retry-failed", OPT_RETRY_FAILED, NULL, 0,
	 "run again the inputs that failed before", 1},
	{NULL, 0, NULL, 0, "Slurm:", 2},
	{"array-max", OPT_ARRAY_MAX, "N", 0,
	 "at most N array tasks at once (default: -j)", 2},
	{"partition", OPT_PARTITION, "NAME", 0, "sbatch --partition", 2},
	{"time", OPT_TIME, "TIME", 0, "sbatch --time, per task", 2},
	{"mem", OPT_MEM, "SIZE", 0, "sbatch --mem, per task", 2},
	{"sbatch-arg", OPT_SBATCH_ARG, "OPTION", 0,
	 "pass OPTION to sbatch (repeatable)", 2},
	{"wait", OPT_WAIT, NULL, 0,
	 "wait for the job array to end, then report (parallel always waits)", 2},
	{NULL, 0, NULL, 0, "Gathering:", 3},
	{"gather", OPT_GATHER, NULL, 0,
	 "when every input is done, write their outputs as one stream (to "
	 "standard output or -o FILE), a column naming the input first", 3},
	{"gather-only", OPT_GATHER_ONLY, NULL, 0,
	 "run nothing: gather the FILEs themselves", 3},
	{"column", OPT_COLUMN, "NAME", 0,
	 "the name of the gathered input column (default cell)", 3},
	{NULL, 0, NULL, 0, NULL, 0}
};

static const char args_doc[] =
	"TEMPLATE FILE...\nTEMPLATE --manifest LIST\n--gather-only FILE...";

static const char doc[] =
	"Run the shell pipeline TEMPLATE once per input, on GNU parallel or as "
	"a Slurm job array, and gather the outputs.\v"
	"In TEMPLATE, {in} is the input, {name} its base name without "
	"extension and {out} the output file (without {out}, the job's "
	"standard output is the output); they become shell-quoted words, so "
	"do not quote them.  An input whose output exists is skipped: run the "
	"same command again to resume.  Gathered outputs must share one "
	"header; numbers are checked as every tool reads them.\n\n"
	"Examples:\n"
	"  bt-batch --outdir csv 'bt-import {in}' arbin_export.csv maccor_export.txt\n"
	"  bt-batch --gather --outdir sims 'bt-sim -m nmc18650.ecm {in}' profile.csv\n"
	"  bt-batch --gather-only csv/arbin_export.csv -p 4 --column export";

static void
check_args(struct argp_state *state, struct batch_args *a)
{
	char why[BT_ERRMSG_SIZE];

	if (a->gather_only) {
		if (a->noperands == 0)
			argp_error(state, "no FILE to gather");
		return;
	}
	if (a->noperands == 0)
		argp_error(state, "missing TEMPLATE");
	a->batch.template = a->operands[0];
	if (a->noperands == 1 && a->manifest == NULL)
		argp_error(state, "missing FILE (or --manifest LIST)");
	if (a->noperands > 1 && a->manifest != NULL)
		argp_error(state, "FILE operands and --manifest do not go together");
	if (a->batch.outdir == NULL)
		argp_error(state, "missing --outdir DIR");
	if (a->common.output != NULL && !a->gather)
		argp_error(state, "--output names the gathered stream: add --gather");
	if (!a->engine_given)
		a->engine.engine = bt_batch_default_engine();
	if (a->gather && a->engine.engine == BT_ENGINE_SLURM && !a->engine.wait)
		argp_error(state, "--gather with --engine slurm needs --wait");
	if (a->engine.array_max == 0)
		a->engine.array_max = a->engine.jobs;
	switch (bt_batch_check_template(a->batch.template, a->batch.suffix, why,
					sizeof why)) {
	case BT_OK:
		break;
	case BT_EINVAL:
		argp_error(state, "invalid TEMPLATE: %s", why);
		break;
	default:
		bt_cli_die("%s", why[0] ? why : "out of memory");
	}
}

static error_t
parse_opt(int key, char *arg, struct argp_state *state)
{
	struct batch_args *a = state->input;
	char **v;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &a->common;
		break;
	case 'e':
		if (strcmp(arg, "parallel") == 0)
			a->engine.engine = BT_ENGINE_PARALLEL;
		else if (strcmp(arg, "slurm") == 0)
			a->engine.engine = BT_ENGINE_SLURM;
		else
			argp_error(state, "unknown engine '%s' (use parallel or slurm)",
				   arg);
		a->engine_given = 1;
		break;
	case 'j':
		a->engine.jobs = (long)bt_cli_count(state, arg, "--jobs", 1, 1e9);
		break;
	case OPT_PER_JOB:
		a->engine.per_job = (long)bt_cli_count(state, arg, "--per-job", 1, 1e9);
		break;
	case OPT_OUTDIR:
		if (*arg == '\0')
			argp_error(state, "--outdir must not be empty");
		a->batch.outdir = arg;
		break;
	case OPT_SUFFIX:
		if (strchr(arg, '/') != NULL)
			argp_error(state, "invalid --suffix '%s' (it holds a '/')", arg);
		a->batch.suffix = arg;
		break;
	case OPT_MANIFEST:
		a->manifest = arg;
		break;
	case OPT_RETRY_FAILED:
		a->batch.retry_failed = 1;
		break;
	case OPT_ARRAY_MAX:
		a->engine.array_max = (long)bt_cli_count(state, arg, "--array-max", 1, 1e9);
		break;
	case OPT_PARTITION:
		a->engine.partition = arg;
		break;
	case OPT_TIME:
		a->engine.time = arg;
		break;
	case OPT_MEM:
		a->engine.mem = arg;
		break;
	case OPT_SBATCH_ARG:
		v = realloc(a->sbatch_args,
			    (a->engine.nsbatch_args + 1) * sizeof *v);
		if (v == NULL)
			bt_cli_die("out of memory");
		v[a->engine.nsbatch_args++] = arg;
		a->sbatch_args = v;
		a->engine.sbatch_args = v;
		break;
	case OPT_WAIT:
		a->engine.wait = 1;
		break;
	case OPT_GATHER:
		a->gather = 1;
		break;
	case OPT_GATHER_ONLY:
		a->gather_only = 1;
		break;
	case OPT_COLUMN:
		if (*arg == '\0')
			argp_error(state, "--column must not be empty");
		a->column = arg;
		break;
	case ARGP_KEY_ARGS:
		a->operands = state->argv + state->next;
		a->noperands = (size_t)(state->argc - state->next);
		break;
	case ARGP_KEY_END:
		check_args(state, a);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp argp = {options, parse_opt, args_doc, doc,
				 bt_cli_children, NULL, NULL};

static void
free_gather(void *g)
{
	bt_gather_free(g);
}

/* Write the streams PATHS[0..N) as one, the column --column holding their
 * names: NAMES[i], or the names bt-batch gives inputs when NAMES is NULL. */
static void
gather(const char *const *paths, const char *const *names, size_t n,
       const struct batch_args *a)
{
	struct bt_reader_opts opts = bt_cli_reader_opts(&a->common);
	struct bt_writer *w = bt_cli_open_output(&a->common);
	struct bt_gather *g;
	enum bt_status st;
	char *name = NULL;
	size_t i;

	if (bt_gather_alloc(&g, w, &opts, a->common.precision,
			    a->column ? a->column : DEFAULT_COLUMN) != BT_OK)
		bt_cli_die("out of memory");
	bt_cli_hold(g, free_gather);
	for (i = 0; i < n; i++) {
		if (names == NULL) {
			if (bt_batch_name(paths[i], &name) != BT_OK)
				bt_cli_die("'%s' has no name to give its rows",
					   paths[i]);
			bt_cli_hold(name, free);
		}
		st = bt_gather_file(g, paths[i], names ? names[i] : name);
		if (st == BT_EINVAL)
			bt_cli_die("%s (name the gathered column otherwise with "
				   "--column)", bt_gather_errmsg(g));
		if (st != BT_OK)
			bt_cli_die("%s", bt_gather_errmsg(g));
		bt_cli_release(name);
		name = NULL;
	}
	bt_cli_close_output(w);
	bt_cli_release(g);
}

/* --gather: the outputs of the batch's tasks, in the order of the inputs. */
static void
gather_outputs(const struct bt_batch *b, const struct batch_args *a)
{
	size_t i, n = bt_batch_ntasks(b);
	const char **v = calloc(2 * n, sizeof *v);

	if (v == NULL)
		bt_cli_die("out of memory");
	bt_cli_hold(v, free);
	for (i = 0; i < n; i++) {
		v[i] = bt_batch_task(b, i)->output;
		v[n + i] = bt_batch_task(b, i)->name;
	}
	gather(v, v + n, n, a);
	bt_cli_release(v);
}

/* The engine's process while it runs, and the signal that ended it. */
static volatile sig_atomic_t engine_pid, caught;

static void
forward(int sig)
{
	caught = sig;
	if (engine_pid > 0)
		kill((pid_t)engine_pid, sig);
}

/* Pass an interrupt on to the engine, which stops its jobs (whose runners
 * then record nothing, so that the same command resumes them).  A signal
 * ignored at start, as in a background job of a script, stays ignored. */
static void
catch_signals(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa, old;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

static void
check_batch(const struct bt_batch *b, enum bt_status st)
{
	if (st == BT_ENOMEM)
		bt_cli_die("out of memory");
	if (st != BT_OK)
		bt_cli_die("%s", bt_batch_errmsg(b));
}

static void
run_engine(struct bt_batch *b, const struct bt_batch_engine_opts *e)
{
	pid_t pid;
	int ws;

	catch_signals();
	check_batch(b, bt_batch_start(b, e, &pid));
	engine_pid = pid;
	if (caught)
		kill(pid, caught);
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			bt_cli_die("cannot wait for the engine: %s", strerror(errno));
	engine_pid = 0;
	check_batch(b, bt_batch_finish(b, ws));
}

/* Name every input that failed or did not finish, then sum up: always when
 * some input is not done, else unless -q.  Returns how many are not done. */
static size_t
report(const struct bt_batch *b, const struct batch_args *a, int submitted)
{
	size_t i, n = bt_batch_ntasks(b), done = 0, now = 0, failed = 0,
		  before = 0, unfinished = 0;
	char line[BT_ERRMSG_SIZE], sum[2 * BT_ERRMSG_SIZE];
	int k;

	for (i = 0; i < n; i++) {
		const struct bt_task *t = bt_batch_task(b, i);

		if (t->state == BT_TASK_DONE) {
			done++;
			now += t->run;
		} else if (t->state == BT_TASK_FAILED) {
			failed++;
			before += !t->run;
			k = bt_batch_first_error(b, i, line, sizeof line);
			bt_cli_warn("%s: failed (exit %d)%s%s", t->input,
				    t->exit_status, k ? ": " : "", k ? line : "");
		} else if (!submitted) {
			unfinished++;
			bt_cli_warn("%s: did not finish", t->input);
		}
	}
	if (a->common.quiet && failed + unfinished == 0)
		return 0;
	k = snprintf(sum, sizeof sum, "%zu input%s: %zu done (%zu in this run)",
		     n, n == 1 ? "" : "s", done, now);
	if (submitted)
		k += snprintf(sum + k, sizeof sum - (size_t)k, ", %zu submitted as "
			      "Slurm job %s", n - done - failed, bt_batch_job_id(b));
	if (failed)
		k += snprintf(sum + k, sizeof sum - (size_t)k, ", %zu failed", failed);
	if (before)
		k += snprintf(sum + k, sizeof sum - (size_t)k, " (%zu before this "
			      "run: --retry-failed runs them again)", before);
	if (unfinished)
		k += snprintf(sum + k, sizeof sum - (size_t)k, ", %zu did not finish",
			      unfinished);
	if (failed + unfinished > 0 && a->gather)
		k += snprintf(sum + k, sizeof sum - (size_t)k, ", nothing gathered");
	bt_cli_warn("%s; logs in %s", sum, bt_batch_logdir(b));
	return failed + unfinished;
}

static void
free_batch(void *b)
{
	bt_batch_free(b);
}

int
main(int argc, char **argv)
{
	struct batch_args args;
	struct bt_batch *b;
	size_t i, nrun, bad = 0;
	int submitted = 0, sig;

	bt_cli_init("bt-batch");
	memset(&args, 0, sizeof args);
	argp_parse(&argp, argc, argv, 0, NULL, &args);
	if (args.gather_only) {
		gather((const char *const *)args.operands, NULL, args.noperands,
		       &args);
	} else {
		if (bt_batch_alloc(&b, &args.batch) != BT_OK)
			bt_cli_die("out of memory");
		bt_cli_hold(b, free_batch);
		if (args.manifest != NULL)
			check_batch(b, bt_batch_add_list(b, args.manifest));
		for (i = 1; i < args.noperands; i++)
			check_batch(b, bt_batch_add(b, args.operands[i]));
		check_batch(b, bt_batch_scan(b, &nrun));
		if (nrun > 0) {
			run_engine(b, &args.engine);
			submitted = args.engine.engine == BT_ENGINE_SLURM
				    && !args.engine.wait;
		}
		bad = report(b, &args, submitted);
		if (caught) {
			sig = caught;
			bt_cli_release(b);
			signal(sig, SIG_DFL);
			raise(sig);
		}
		if (bad == 0 && args.gather && !submitted)
			gather_outputs(b, &args);
		bt_cli_release(b);
	}
	free(args.sbatch_args);
	bt_cli_common_free(&args.common);
	return bad > 0 ? BT_EXIT_FAILURE : BT_EXIT_OK;
}
