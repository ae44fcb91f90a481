/* bt_batch.c - the tasks of a batch, their runner and their state (see
 * bt_batch.h).
 *
 * The runner is a bash script whose function `one K` runs task K: a `case`
 * arm sets the task's name and output and defines `job` as the template
 * with its placeholders replaced by shell-quoted words; the common part runs
 * the job with pipefail, renames the finished output into place and records
 * the exit status.  A signal (an interrupted GNU parallel, a Slurm time
 * limit) records nothing, so the task stays to do.  GNU parallel calls the
 * runner with task numbers read from a file, per_job at a time; a Slurm
 * array task calls it with --array and runs its group of per_job tasks.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bt_batch.h"

extern char **environ;

/* Compression suffixes dropped from an input's name before its extension. */
static const char *const compressed[] = {".gz", ".bz2", ".xz", ".zst"};

/* Where a Slurm installation keeps its configuration when SLURM_CONF does
 * not say. */
#define SLURM_CONF_DEFAULT "/etc/slurm/slurm.conf"

struct bt_batch {
	char *template;
	char *outdir;		/* without trailing slashes */
	char *suffix;
	char *logdir;
	int retry_failed;
	int writes_out;		/* the template writes {out} itself */
	struct bt_task *tasks;
	size_t ntasks, cap;
	enum bt_batch_engine engine;
	int wait;
	char *runner;		/* the run's runner, until bt_batch_finish */
	char *rundir;		/* the run's directory for unfinished outputs */
	char job_id[64];
	char errmsg[BT_ERRMSG_SIZE];
};

__attribute__((format(printf, 3, 4))) static enum bt_status
fail(struct bt_batch *b, enum bt_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
	va_end(ap);
	return st;
}

/* A new string formatted as printf would, or NULL when out of memory. */
__attribute__((format(printf, 1, 2))) static char *
format(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static int
ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), k = strlen(end);

	return n >= k && strcmp(s + n - k, end) == 0;
}

/* Write S to F as one shell word, single-quoted: nothing in it expands. */
static void
quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

/* Run ARGV with standard input and output on /dev/null and capture the
 * first SIZE - 1 bytes of its standard error in BUF.  Returns BT_OK with
 * the wait status in *WSTATUS, or BT_EIO with errno set. */
static enum bt_status
run_capture(char *const argv[], char *buf, size_t size, int *wstatus)
{
	posix_spawn_file_actions_t fa;
	size_t n = 0;
	ssize_t k;
	char sink[256];
	pid_t pid;
	int fd[2], err;

	buf[0] = '\0';
	if (pipe2(fd, O_CLOEXEC) != 0)
		return BT_EIO;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	if (err != 0) {
		close(fd[0]);
		errno = err;
		return BT_EIO;
	}
	for (;;) {
		if (n + 1 < size)
			k = read(fd[0], buf + n, size - 1 - n);
		else
			k = read(fd[0], sink, sizeof sink);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (n + 1 < size)
			n += (size_t)k;
	}
	buf[n] = '\0';
	close(fd[0]);
	while (waitpid(pid, wstatus, 0) < 0)
		if (errno != EINTR)
			return BT_EIO;
	return BT_OK;
}

enum bt_status
bt_batch_check_template(const char *template, const char *suffix, char *why,
			size_t size)
{
	char *argv[5], *script, *s, *nl;
	enum bt_status st;
	int ws;

	why[0] = '\0';
	if (strstr(template, "{in}") == NULL && strstr(template, "{name}") == NULL) {
		snprintf(why, size, "it names no input: use {in} or {name}");
		return BT_EINVAL;
	}
	if (ends_with(suffix ? suffix : BT_BATCH_SUFFIX, ".gz")
	    && strstr(template, "{out}") == NULL) {
		snprintf(why, size, "a .gz suffix needs {out} in it (a job's "
			 "standard output is kept as it is written)");
		return BT_EINVAL;
	}
	/* The template becomes the body of a function in the runner: check
	 * it alone first, for messages about its own text. */
	script = format("job() {\n%s\n}\n", template);
	if (script == NULL)
		return BT_ENOMEM;
	argv[0] = (char *)"bash";
	argv[1] = (char *)"-n";
	argv[2] = (char *)"-c";
	argv[3] = (char *)template;
	argv[4] = NULL;
	st = run_capture(argv, why, size, &ws);
	if (st == BT_OK && WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
		argv[3] = script;
		st = run_capture(argv, why, size, &ws);
	}
	free(script);
	if (st != BT_OK) {
		snprintf(why, size, "cannot run bash: %s", strerror(errno));
		return BT_EIO;
	}
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
		why[0] = '\0';
		return BT_OK;
	}
	/* "bash: -c: line 2: syntax error ...": keep what follows the line. */
	if ((nl = strchr(why, '\n')) != NULL)
		*nl = '\0';
	s = strstr(why, ": line ");
	if (s != NULL && (s = strchr(s + 7, ':')) != NULL) {
		s += strspn(s, ": ");
		memmove(why, s, strlen(s) + 1);
	}
	if (why[0] == '\0')
		snprintf(why, size, "bash -n rejects it");
	return BT_EINVAL;
}

enum bt_status
bt_batch_name(const char *input, char **name)
{
	const char *base = strrchr(input, '/');
	size_t len, k, i;

	*name = NULL;
	base = base ? base + 1 : input;
	if (strpbrk(input, "\n\r") != NULL)
		return BT_EINVAL;
	len = strlen(base);
	for (i = 0; i < sizeof compressed / sizeof compressed[0]; i++) {
		k = strlen(compressed[i]);
		if (len > k && memcmp(base + len - k, compressed[i], k) == 0) {
			len -= k;
			break;
		}
	}
	for (k = len; k-- > 1;)
		if (base[k] == '.') {
			len = k;
			break;
		}
	if (len == 0 || (len == 1 && base[0] == '.')
	    || (len == 2 && base[0] == '.' && base[1] == '.'))
		return BT_EINVAL;
	*name = strndup(base, len);
	return *name ? BT_OK : BT_ENOMEM;
}

static int
on_path(const char *prog)
{
	const char *path = getenv("PATH"), *p, *end;
	char *file;
	int found = 0;
	size_t len;

	if (path == NULL)
		return 0;
	for (p = path; !found; p = end + 1) {
		end = strchr(p, ':');
		len = end ? (size_t)(end - p) : strlen(p);
		file = len ? format("%.*s/%s", (int)len, p, prog) : format("./%s", prog);
		found = file != NULL && access(file, X_OK) == 0;
		free(file);
		if (end == NULL)
			break;
	}
	return found;
}

enum bt_batch_engine
bt_batch_default_engine(void)
{
	const char *conf = getenv("SLURM_CONF"), *job = getenv("SLURM_JOB_ID");

	if (job != NULL && *job != '\0')
		return BT_ENGINE_PARALLEL;
	if (!on_path("sbatch"))
		return BT_ENGINE_PARALLEL;
	if (conf != NULL && *conf != '\0')
		return access(conf, R_OK) == 0 ? BT_ENGINE_SLURM : BT_ENGINE_PARALLEL;
	return access(SLURM_CONF_DEFAULT, R_OK) == 0 ? BT_ENGINE_SLURM
						      : BT_ENGINE_PARALLEL;
}

enum bt_status
bt_batch_alloc(struct bt_batch **batch, const struct bt_batch_opts *o)
{
	struct bt_batch *b = calloc(1, sizeof *b);
	size_t n;

	*batch = b;
	if (b == NULL)
		return BT_ENOMEM;
	b->template = strdup(o->template);
	b->outdir = strdup(o->outdir);
	b->suffix = strdup(o->suffix ? o->suffix : BT_BATCH_SUFFIX);
	if (b->template == NULL || b->outdir == NULL || b->suffix == NULL)
		return BT_ENOMEM;
	for (n = strlen(b->outdir); n > 1 && b->outdir[n - 1] == '/'; n--)
		b->outdir[n - 1] = '\0';
	b->logdir = format("%s/%s", b->outdir, BT_BATCH_LOGDIR);
	if (b->logdir == NULL)
		return BT_ENOMEM;
	b->retry_failed = o->retry_failed;
	b->writes_out = strstr(b->template, "{out}") != NULL;
	return BT_OK;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
remove_run_files(struct bt_batch *b, int keep_runner)
{
	static const char *const ext[] = {".tasks", ".sbatch", ".jobid"};
	char *p;
	size_t i;

	if (b->runner == NULL)
		return;
	for (i = 0; i < sizeof ext / sizeof ext[0]; i++)
		if ((p = format("%s%s", b->runner, ext[i])) != NULL) {
			unlink(p);
			free(p);
		}
	if (!keep_runner) {
		unlink(b->runner);
		if (b->rundir != NULL)
			nftw(b->rundir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(b->runner);
	free(b->rundir);
	b->runner = NULL;
	b->rundir = NULL;
}

void
bt_batch_free(struct bt_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	remove_run_files(b, 0);
	for (i = 0; i < b->ntasks; i++) {
		free((char *)b->tasks[i].input);
		free((char *)b->tasks[i].name);
		free((char *)b->tasks[i].output);
	}
	free(b->tasks);
	free(b->template);
	free(b->outdir);
	free(b->suffix);
	free(b->logdir);
	free(b);
}

enum bt_status
bt_batch_add(struct bt_batch *b, const char *input)
{
	struct bt_task *t;
	enum bt_status st;
	char *name;

	if (b->ntasks == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;

		t = realloc(b->tasks, cap * sizeof *t);
		if (t == NULL)
			return BT_ENOMEM;
		b->tasks = t;
		b->cap = cap;
	}
	st = bt_batch_name(input, &name);
	if (st == BT_EINVAL)
		return fail(b, st, "input '%s' has no name to give its output",
			    input);
	if (st != BT_OK)
		return st;
	t = &b->tasks[b->ntasks];
	memset(t, 0, sizeof *t);
	t->name = name;
	t->input = strdup(input);
	t->output = format("%s/%s%s", b->outdir, name, b->suffix);
	b->ntasks++;
	return t->input && t->output ? BT_OK : BT_ENOMEM;
}

enum bt_status
bt_batch_add_list(struct bt_batch *b, const char *path)
{
	int std = strcmp(path, "-") == 0;
	FILE *f = std ? stdin : fopen(path, "r");
	enum bt_status st = BT_OK;
	unsigned long line = 0;
	char *s = NULL;
	size_t cap = 0;
	ssize_t n;

	if (f == NULL)
		return fail(b, BT_EIO, "%s: %s", path, strerror(errno));
	if (std)
		path = "(standard input)";
	while (st == BT_OK && (n = getline(&s, &cap, f)) >= 0) {
		line++;
		if (n > 0 && s[n - 1] == '\n')
			s[--n] = '\0';
		if (n > 0 && s[n - 1] == '\r')
			s[--n] = '\0';
		if (n == 0)
			continue;
		if (strlen(s) != (size_t)n)
			st = fail(b, BT_EINVAL, "%s:%lu: a NUL byte in a file name",
				  path, line);
		else if ((st = bt_batch_add(b, s)) == BT_EINVAL)
			st = fail(b, st, "%s:%lu: input '%s' has no name to give "
				  "its output", path, line, s);
	}
	if (st == BT_OK && ferror(f))
		st = fail(b, BT_EIO, "%s: %s", path, strerror(errno));
	free(s);
	if (!std)
		fclose(f);
	return st;
}

static int
by_name(const void *a, const void *b)
{
	const struct bt_task *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);

	return c ? c : (*x < *y ? -1 : *x > *y);
}

static enum bt_status
make_dir(struct bt_batch *b, const char *dir)
{
	struct stat sb;

	if (mkdir(dir, 0777) == 0)
		return BT_OK;
	if (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		return BT_OK;
	if (errno == EEXIST)
		errno = ENOTDIR;
	return fail(b, BT_EIO, "cannot create the directory '%s': %s", dir,
		    strerror(errno));
}

/* Read task T's state from its output and its exit-status file. */
static void
read_state(const struct bt_batch *b, struct bt_task *t)
{
	struct stat sb;
	char *p;
	FILE *f;
	int status;

	t->state = BT_TASK_PENDING;
	if (stat(t->output, &sb) == 0) {
		t->state = BT_TASK_DONE;
		return;
	}
	p = format("%s/%s.exit", b->logdir, t->name);
	f = p ? fopen(p, "r") : NULL;
	free(p);
	if (f == NULL)
		return;
	if (fscanf(f, "%d", &status) == 1 && status != 0) {
		t->state = BT_TASK_FAILED;
		t->exit_status = status;
	}
	fclose(f);
}

enum bt_status
bt_batch_scan(struct bt_batch *b, size_t *nrun)
{
	struct bt_task **order;
	enum bt_status st;
	size_t i, n = 0;

	*nrun = 0;
	if (b->ntasks == 0)
		return fail(b, BT_EINVAL, "no input");
	order = malloc(b->ntasks * sizeof *order);
	if (order == NULL)
		return BT_ENOMEM;
	for (i = 0; i < b->ntasks; i++)
		order[i] = &b->tasks[i];
	qsort(order, b->ntasks, sizeof *order, by_name);
	for (i = 1; i < b->ntasks; i++)
		if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
			st = fail(b, BT_EINVAL, "inputs '%s' and '%s' have the "
				  "same name '%s': their outputs would collide",
				  order[i - 1]->input, order[i]->input,
				  order[i]->name);
			free(order);
			return st;
		}
	free(order);
	if ((st = make_dir(b, b->outdir)) != BT_OK
	    || (st = make_dir(b, b->logdir)) != BT_OK)
		return st;
	for (i = 0; i < b->ntasks; i++) {
		struct bt_task *t = &b->tasks[i];

		read_state(b, t);
		t->run = t->state == BT_TASK_PENDING
			 || (t->state == BT_TASK_FAILED && b->retry_failed);
		n += t->run;
	}
	*nrun = n;
	return BT_OK;
}

size_t
bt_batch_ntasks(const struct bt_batch *b)
{
	return b->ntasks;
}

const struct bt_task *
bt_batch_task(const struct bt_batch *b, size_t i)
{
	return &b->tasks[i];
}

/* Write the template for task T, its placeholders replaced; {out} is the
 * task's file in the run's directory (the runner's $part). */
static void
expand(FILE *f, const struct bt_batch *b, const struct bt_task *t)
{
	const char *s = b->template;
	char *part;

	while (*s) {
		if (strncmp(s, "{in}", 4) == 0) {
			quote(f, t->input);
			s += 4;
		} else if (strncmp(s, "{name}", 6) == 0) {
			quote(f, t->name);
			s += 6;
		} else if (strncmp(s, "{out}", 5) == 0) {
			part = format("%s/%s%s", b->rundir, t->name, b->suffix);
			quote(f, part ? part : "");
			free(part);
			s += 5;
		} else {
			fputc(*s++, f);
		}
	}
}

/* The runner's function `one K` runs task K: its `case` arm sets name and
 * out and defines job; then the job writes $part in the run's directory (on
 * the file system of the outputs, so that mv renames), and an empty
 * exit-status file, until the job ends, reads as no status.  Programs run
 * per task besides the job: mv, and rm for empty logs. */
static const char runner_head[] =
	"one() {\n"
	"\tlocal st f\n"
	"\tcase $1 in\n";

static const char runner_tail[] =
	"\t*) echo \"bt-batch: $0: no task '$1'\" >&2; return 2 ;;\n"
	"\tesac\n"
	"\tpart=$run/${out##*/}\n"
	"\t: >\"$logs/$name.exit\" || return 1\n"
	"\t%s\n"
	"\tst=$?\n"
	"\tif [ \"$st\" -eq 0 ] && [ ! -f \"$part\" ]; then\n"
	"\t\techo \"bt-batch: the job succeeded but wrote nothing to {out}\" "
	">>\"$logs/$name.err\"\n"
	"\t\tst=1\n"
	"\tfi\n"
	"\tif [ \"$st\" -eq 0 ]; then\n"
	"\t\tmv -f -- \"$part\" \"$out\" 2>>\"$logs/$name.err\" || st=1\n"
	"\tfi\n"
	"\tset --\n"
	"\t[ -e \"$part\" ] && set -- \"$part\"\n"
	"\tfor f in \"$logs/$name.out\" \"$logs/$name.err\"; do\n"
	"\t\t[ -e \"$f\" ] && [ ! -s \"$f\" ] && set -- \"$@\" \"$f\"\n"
	"\tdone\n"
	"\t[ $# -eq 0 ] || rm -f -- \"$@\"\n"
	"\techo \"$st\" >\"$logs/$name.exit\"\n"
	"\treturn \"$st\"\n"
	"}\n"
	"trap 'rm -f -- \"$part\"; exit 129' HUP\n"
	"trap 'rm -f -- \"$part\"; exit 130' INT\n"
	"trap 'rm -f -- \"$part\"; exit 143' TERM\n"
	"part=\n"
	"if [ \"${1-}\" = --array ]; then\n"
	"\tfirst=$(( (SLURM_ARRAY_TASK_ID - 1) * per_job + 1 ))\n"
	"\tlast=$(( first + per_job - 1 ))\n"
	"\t[ \"$last\" -le \"$ntasks\" ] || last=$ntasks\n"
	"\tset --\n"
	"\tfor ((k = first; k <= last; k++)); do set -- \"$@\" \"$k\"; done\n"
	"fi\n"
	"status=0\n"
	"for k; do\n"
	"\tone \"$k\" || status=1\n"
	"done\n"
	"exit \"$status\"\n";

static void
write_runner(FILE *f, const struct bt_batch *b, const char *cwd, size_t nrun,
	     size_t per_job)
{
	size_t i, k = 0;

	fprintf(f, "#!/bin/bash\n"
		"# Written by bt-batch (%s %s): runs the tasks whose numbers (1 to "
		"%zu) are\n# its arguments, or with --array those of Slurm array "
		"task SLURM_ARRAY_TASK_ID.\n# See bt-batch(1).\n"
		"set -o pipefail\ncd -- ", PACKAGE_NAME, PACKAGE_VERSION, nrun);
	quote(f, cwd);
	fputs(" || exit 1\nlogs=", f);
	quote(f, b->logdir);
	fputs("\nrun=", f);
	quote(f, b->rundir);
	fprintf(f, "\nntasks=%zu\nper_job=%zu\n", nrun, per_job);
	fputs(runner_head, f);
	for (i = 0; i < b->ntasks; i++) {
		const struct bt_task *t = &b->tasks[i];

		if (!t->run)
			continue;
		fprintf(f, "\t%zu) name=", ++k);
		quote(f, t->name);
		fputs(" out=", f);
		quote(f, t->output);
		fputs("\njob() {\n", f);
		expand(f, b, t);
		fputs("\n}\n;;\n", f);
	}
	fprintf(f, runner_tail, b->writes_out
		? "(job) </dev/null >\"$logs/$name.out\" 2>\"$logs/$name.err\""
		: "(job) </dev/null >\"$part\" 2>\"$logs/$name.err\"");
}

/* Write the small files of a run: the task numbers for GNU parallel, the
 * batch script for sbatch. */
static enum bt_status
write_file(struct bt_batch *b, const char *path, const char *abs_runner,
	   size_t nrun)
{
	FILE *f = fopen(path, "w");
	size_t k;

	if (f == NULL)
		return fail(b, BT_EIO, "%s: %s", path, strerror(errno));
	if (abs_runner == NULL) {
		for (k = 1; k <= nrun; k++)
			fprintf(f, "%zu\n", k);
	} else {
		fputs("#!/bin/sh\nexec bash ", f);
		quote(f, abs_runner);
		fputs(" --array\n", f);
	}
	if (ferror(f) | fclose(f))
		return fail(b, BT_EIO, "%s: %s", path, strerror(errno));
	return BT_OK;
}

static enum bt_status
spawn(struct bt_batch *b, char *const argv[], const char *out, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out != NULL)
		posix_spawn_file_actions_addopen(&fa, 1, out,
						 O_WRONLY | O_CREAT | O_TRUNC, 0666);
	else
		posix_spawn_file_actions_adddup2(&fa, 2, 1);
	err = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err != 0)
		return fail(b, BT_EIO, "cannot run '%s': %s%s", argv[0],
			    strerror(err), err != ENOENT ? ""
			    : strcmp(argv[0], "parallel") == 0
			    ? " (Debian package: parallel)"
			    : " (is Slurm installed here?)");
	return BT_OK;
}

/* Most arguments of sbatch (--sbatch-arg options included). */
#define MAX_ARGV 64

enum bt_status
bt_batch_start(struct bt_batch *b, const struct bt_batch_engine_opts *o,
	       pid_t *pid)
{
	char *argv[MAX_ARGV + 1], *owned[MAX_ARGV], *cwd, *abs = NULL,
	     *tasks = NULL, *script = NULL, *jobid = NULL;
	size_t nrun = 0, i, n = 0, nowned = 0, per_job;
	enum bt_status st = BT_ENOMEM;
	FILE *f;
	int fd;

	for (i = 0; i < b->ntasks; i++)
		nrun += b->tasks[i].run;
	b->engine = o->engine;
	b->wait = o->wait;
	b->job_id[0] = '\0';
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return fail(b, BT_EIO, "cannot find the current directory: %s",
			    strerror(errno));
	remove_run_files(b, 0);
	b->runner = format("%s/run.XXXXXX", b->logdir);
	if (b->runner == NULL)
		goto out;
	fd = mkstemp(b->runner);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		st = fail(b, BT_EIO, "%s: %s", b->runner, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(b->runner);
		b->runner = NULL;
		goto out;
	}
	if ((b->rundir = format("%s.d", b->runner)) == NULL) {
		fclose(f);
		goto out;
	}
	if (mkdir(b->rundir, 0777) != 0) {
		st = fail(b, BT_EIO, "cannot create the directory '%s': %s",
			  b->rundir, strerror(errno));
		fclose(f);
		goto out;
	}
	per_job = o->per_job > 0 ? (size_t)o->per_job : 1;
	write_runner(f, b, cwd, nrun, per_job);
	if (ferror(f) | fclose(f)) {
		st = fail(b, BT_EIO, "%s: %s", b->runner, strerror(errno));
		goto out;
	}
	abs = b->runner[0] == '/' ? strdup(b->runner)
				  : format("%s/%s", cwd, b->runner);
	if (abs == NULL)
		goto out;
#define ARG(s) (argv[n++] = (char *)(s))
#define OWNED(s) (owned[nowned] = (s), owned[nowned] ? ARG(owned[nowned++]) : NULL)
	if (o->engine == BT_ENGINE_PARALLEL) {
		if ((tasks = format("%s.tasks", b->runner)) == NULL)
			goto out;
		if ((st = write_file(b, tasks, NULL, nrun)) != BT_OK)
			goto out;
		st = BT_ENOMEM;
		ARG("parallel");
		ARG("-a");
		ARG(tasks);
		if (o->jobs > 0) {
			ARG("-j");
			if (!OWNED(format("%ld", o->jobs)))
				goto out;
		}
		ARG("-n");
		if (!OWNED(format("%zu", per_job)))
			goto out;
		ARG("-q");
		ARG("bash");
		ARG(b->runner);
	} else {
		script = format("%s.sbatch", b->runner);
		jobid = format("%s.jobid", b->runner);
		if (script == NULL || jobid == NULL)
			goto out;
		if ((st = write_file(b, script, abs, nrun)) != BT_OK)
			goto out;
		st = BT_ENOMEM;
		ARG("sbatch");
		ARG("--parsable");
		ARG("--job-name=bt-batch");
		if (!OWNED(o->array_max > 0
			   ? format("--array=1-%zu%%%ld", (nrun + per_job - 1) / per_job,
				    o->array_max)
			   : format("--array=1-%zu", (nrun + per_job - 1) / per_job)))
			goto out;
		if (!OWNED(b->logdir[0] == '/'
			   ? format("--output=%s/slurm-%%A_%%a.out", b->logdir)
			   : format("--output=%s/%s/slurm-%%A_%%a.out", cwd, b->logdir)))
			goto out;
		if (o->partition && !OWNED(format("--partition=%s", o->partition)))
			goto out;
		if (o->time && !OWNED(format("--time=%s", o->time)))
			goto out;
		if (o->mem && !OWNED(format("--mem=%s", o->mem)))
			goto out;
		for (i = 0; i < o->nsbatch_args && n < MAX_ARGV - 2; i++)
			ARG(o->sbatch_args[i]);
		if (i < o->nsbatch_args) {
			st = fail(b, BT_EINVAL, "too many sbatch options");
			goto out;
		}
		if (o->wait)
			ARG("--wait");
		ARG(script);
	}
#undef ARG
#undef OWNED
	argv[n] = NULL;
	st = spawn(b, argv, jobid, pid);
out:
	for (i = 0; i < nowned; i++)
		free(owned[i]);
	free(tasks);
	free(script);
	free(jobid);
	free(abs);
	free(cwd);
	if (st != BT_OK)
		remove_run_files(b, 0);
	return st;
}

enum bt_status
bt_batch_finish(struct bt_batch *b, int wstatus)
{
	enum bt_status st = BT_OK;
	char *p;
	FILE *f;
	size_t i;

	if (b->runner == NULL)
		return BT_OK;
	if (b->engine == BT_ENGINE_SLURM) {
		p = format("%s.jobid", b->runner);
		f = p ? fopen(p, "r") : NULL;
		free(p);
		if (f != NULL) {
			if (fscanf(f, "%63[^;\n]", b->job_id) != 1)
				b->job_id[0] = '\0';
			fclose(f);
		}
		if (b->job_id[0] == '\0')
			st = WIFEXITED(wstatus)
			     ? fail(b, BT_EIO, "sbatch submitted no job (exit %d)",
				    WEXITSTATUS(wstatus))
			     : fail(b, BT_EIO, "sbatch submitted no job (signal %d)",
				    WTERMSIG(wstatus));
	}
	/* An array nobody waits for runs the runner later. */
	remove_run_files(b, b->engine == BT_ENGINE_SLURM && !b->wait
			    && b->job_id[0] != '\0');
	for (i = 0; i < b->ntasks; i++)
		if (b->tasks[i].run)
			read_state(b, &b->tasks[i]);
	return st;
}

const char *
bt_batch_job_id(const struct bt_batch *b)
{
	return b->job_id;
}

const char *
bt_batch_logdir(const struct bt_batch *b)
{
	return b->logdir;
}

int
bt_batch_first_error(const struct bt_batch *b, size_t i, char *buf,
		     size_t size)
{
	char *p = format("%s/%s.err", b->logdir, b->tasks[i].name);
	FILE *f = p ? fopen(p, "r") : NULL;
	int got = 0;

	free(p);
	buf[0] = '\0';
	if (f == NULL)
		return 0;
	if (fgets(buf, (int)size, f) != NULL) {
		buf[strcspn(buf, "\r\n")] = '\0';
		got = buf[0] != '\0';
	}
	fclose(f);
	return got;
}

const char *
bt_batch_errmsg(const struct bt_batch *b)
{
	return b->errmsg;
}
