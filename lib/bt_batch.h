/* bt_batch.h - one job per input on GNU parallel or a Slurm job array: the
 * tasks of a batch, the script that runs one of them, and their state.
 *
 * A batch is a shell TEMPLATE with the placeholders {in}, {name} and {out},
 * a list of inputs and an output directory OUTDIR.  Each input is a task.
 * Its name is the input's base name without its extension (and without a
 * compression suffix first: "B0005.csv.gz" is "B0005"), its output is
 * OUTDIR/NAME.SUFFIX, and its logs are OUTDIR/logs/NAME.err (standard
 * error), NAME.out (standard output, when the template writes {out}
 * itself) and NAME.exit (the exit status).  In the template, {in}, {name}
 * and {out} become shell-quoted words; {out} names a file in the run's
 * directory (OUTDIR/logs/run.<random>.d, from mkdtemp) that is renamed to
 * the output when the whole pipeline succeeds (bash's pipefail), so an
 * output exists only complete.
 * A template without {out} has its standard output written there.
 *
 * The state of a task is read from the file system, so that a batch is
 * resumed by running it again: a task whose output exists is done; one with
 * an exit status and no output failed; any other (never started, or
 * interrupted, which records no status) is still to do.
 *
 * bt_batch_start writes a bash script (the runner) that runs the tasks to
 * do whose numbers it is given, and starts the engine over it: GNU
 * parallel, handing each job per_job numbers, or sbatch with a job array
 * whose task I runs the I-th group of per_job tasks.  The caller waits for
 * the process (forwarding signals as it likes) and hands its status to
 * bt_batch_finish, which reads the tasks' states again.
 *
 * Memory: a few hundred bytes per input; nothing grows with the data.
 * Errors are described by bt_batch_errmsg, without the program's name.
 */
#ifndef BT_BATCH_H
#define BT_BATCH_H

#include <stddef.h>
#include <sys/types.h>

#include "bt_status.h"

/* The output suffix when none is given, and the name of the log directory
 * under OUTDIR. */
#define BT_BATCH_SUFFIX ".csv"
#define BT_BATCH_LOGDIR "logs"

enum bt_task_state {
	BT_TASK_PENDING,	/* never run, or interrupted */
	BT_TASK_DONE,	/* its output exists */
	BT_TASK_FAILED	/* ran and failed: an exit status, no output */
};

struct bt_task {
	const char *input;	/* as given */
	const char *name;	/* {name} */
	const char *output;	/* OUTDIR/NAME.SUFFIX */
	enum bt_task_state state;
	int exit_status;	/* the job's exit status, when it failed */
	int run;		/* chosen to run by bt_batch_scan */
};

struct bt_batch_opts {
	const char *template;	/* the job, with {in}, {name}, {out} */
	const char *outdir;
	const char *suffix;	/* NULL for BT_BATCH_SUFFIX */
	int retry_failed;	/* run failed tasks again */
};

enum bt_batch_engine { BT_ENGINE_PARALLEL, BT_ENGINE_SLURM };

struct bt_batch_engine_opts {
	enum bt_batch_engine engine;
	long jobs;		/* parallel: jobs at once; 0 for one per core */
	long per_job;		/* tasks run one after another in one job (1) */
	long array_max;		/* slurm: array tasks at once; 0 for no limit */
	const char *partition;	/* slurm: NULL for the cluster's defaults */
	const char *time;
	const char *mem;
	char *const *sbatch_args;	/* more sbatch options, verbatim */
	size_t nsbatch_args;
	int wait;		/* slurm: sbatch --wait */
};

struct bt_batch;

/* Check a template on its own: it must name an input ({in} or {name}), a
 * .gz SUFFIX needs {out} (a job's standard output is not compressed), and
 * it must be a valid bash command (bash -n).  Returns BT_OK, or BT_EINVAL
 * with the reason in WHY (SIZE bytes), or BT_EIO when bash cannot run. */
enum bt_status bt_batch_check_template(const char *template, const char *suffix,
				       char *why, size_t size);

/* The name of INPUT ({name}): its base name without a compression suffix
 * (.gz, .bz2, .xz, .zst) and then without its extension.  Returns BT_OK
 * and a new string in *NAME, BT_EINVAL when INPUT has no usable name (it
 * ends in '/', is "." or "..", or holds a line break), or BT_ENOMEM. */
enum bt_status bt_batch_name(const char *input, char **name);

/* The engine to use when none is asked for: Slurm when sbatch is on the
 * PATH, a Slurm configuration is visible (SLURM_CONF, or
 * /etc/slurm/slurm.conf) and this process is not already inside a Slurm
 * job (SLURM_JOB_ID); GNU parallel otherwise. */
enum bt_batch_engine bt_batch_default_engine(void);

/* Start a batch.  Returns BT_OK, or BT_ENOMEM. */
enum bt_status bt_batch_alloc(struct bt_batch **batch,
			      const struct bt_batch_opts *opts);

/* Release the batch and remove the files of a run that bt_batch_finish did
 * not see end.  bt_batch_free(NULL) does nothing. */
void bt_batch_free(struct bt_batch *batch);

/* Add INPUT as a task.  Returns BT_OK, BT_EINVAL (see bt_batch_name) or
 * BT_ENOMEM. */
enum bt_status bt_batch_add(struct bt_batch *batch, const char *input);

/* Add the inputs listed in the file PATH ("-" for standard input), one per
 * line; empty lines are skipped and a final carriage return is dropped.
 * Returns BT_OK, BT_EIO, BT_EINVAL (naming PATH and the line) or
 * BT_ENOMEM. */
enum bt_status bt_batch_add_list(struct bt_batch *batch, const char *path);

/* Check that no two inputs share a name, create OUTDIR and its log
 * directory, read every task's state and choose the tasks to run (those to
 * do, and the failed ones with retry_failed); store their number in *NRUN.
 * Returns BT_OK, BT_EINVAL (two inputs with one name; no input), BT_EIO or
 * BT_ENOMEM. */
enum bt_status bt_batch_scan(struct bt_batch *batch, size_t *nrun);

/* The number of tasks, and task I (valid until the batch is freed). */
size_t bt_batch_ntasks(const struct bt_batch *batch);
const struct bt_task *bt_batch_task(const struct bt_batch *batch, size_t i);

/* Write the runner for the tasks chosen to run and start the engine on it,
 * its standard input /dev/null and its standard output on standard error
 * (sbatch's, with the job id, in a file).  Stores the engine's process id in
 * *PID.  Returns BT_OK, BT_EIO (cannot write the runner, or cannot start
 * the engine) or BT_ENOMEM. */
enum bt_status bt_batch_start(struct bt_batch *batch,
			      const struct bt_batch_engine_opts *opts,
			      pid_t *pid);

/* After the engine started by bt_batch_start has ended with the wait
 * status WSTATUS: read sbatch's job id, remove the run's files (the runner
 * stays while a Slurm array that was not waited for may still need it) and
 * read the chosen tasks' states again.  Returns BT_OK, or BT_EIO when
 * sbatch submitted nothing. */
enum bt_status bt_batch_finish(struct bt_batch *batch, int wstatus);

/* The Slurm job id of the last submission, or "" . */
const char *bt_batch_job_id(const struct bt_batch *batch);

/* The log directory, OUTDIR/logs. */
const char *bt_batch_logdir(const struct bt_batch *batch);

/* Copy the first line of task I's standard error to BUF (SIZE bytes; cut
 * when longer).  Returns 1 when there was one, 0 otherwise. */
int bt_batch_first_error(const struct bt_batch *batch, size_t i, char *buf,
			 size_t size);

/* Describe the last error. */
const char *bt_batch_errmsg(const struct bt_batch *batch);

#endif /* BT_BATCH_H */
