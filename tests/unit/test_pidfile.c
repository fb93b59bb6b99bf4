/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pid file: a pid is signalled only while the file naming it is
 * locked by its writer. A child process stands for "another process that
 * got the pid" (it would die of the signal if it were sent); flock(2)
 * locks of two open files conflict even within one process, so this
 * process can be both the agent and `nsagent down`. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "nsagent/pidfile.h"

struct fixture {
	char dir[256];
	char path[300];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/nsagent-test-pidfile.XXXXXX", tmp);
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/nsagent.pid", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char tmp[320];

	unlink(f->path);
	snprintf(tmp, sizeof(tmp), "%s.new", f->path);
	unlink(tmp);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* A child that sleeps until killed; its death by a signal shows in wait. */
static pid_t start_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void assert_child_alive(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
}

static void end_child(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void test_running_agent(void **state)
{
	struct fixture *f = *state;
	struct pidfile *pf = NULL;
	pid_t pid;
	int pidfd;
	char text[32];
	FILE *in;

	assert_int_equal(pidfile_write(f->dir, &pf), 0);
	in = fopen(f->path, "re");
	assert_non_null(in);
	assert_non_null(fgets(text, sizeof(text), in));
	fclose(in);
	assert_int_equal(atol(text), (long)getpid());
	/* Signal 0: checks without sending. */
	assert_int_equal(pidfile_signal(f->dir, 0, &pidfd, &pid), 0);
	assert_int_equal(pid, getpid());
	if (pidfd >= 0)
		close(pidfd);
	pidfile_remove(pf);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(pidfile_signal(f->dir, 0, &pidfd, &pid), -ESRCH);
	assert_int_equal(pid, 0);
	pidfile_remove(NULL);
}

/* A pid file left by an agent that died names a pid the kernel gave to
 * another process: that process is not signalled. */
static void test_stale_file_names_another_process(void **state)
{
	struct fixture *f = *state;
	pid_t other = start_child(), pid;
	char text[32];
	int pidfd = 7;

	snprintf(text, sizeof(text), "%ld\n", (long)other);
	write_text(f->path, text);
	assert_int_equal(pidfile_signal(f->dir, SIGTERM, &pidfd, &pid), -ESRCH);
	assert_int_equal(pid, other);
	assert_int_equal(pidfd, -1);
	assert_child_alive(other);
	end_child(other);
}

/* The same file while some process holds its lock: that one is the agent
 * (here the child, which the signal then ends). */
static void test_locked_file_is_signalled(void **state)
{
	struct fixture *f = *state;
	pid_t agent = start_child(), pid;
	char text[32];
	int fd, pidfd, status;

	snprintf(text, sizeof(text), "%ld\n", (long)agent);
	write_text(f->path, text);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(pidfile_signal(f->dir, SIGTERM, &pidfd, &pid), 0);
	assert_int_equal(pid, agent);
	assert_int_equal(waitpid(agent, &status, 0), agent);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	if (pidfd >= 0)
		close(pidfd);
	close(fd);
}

static void test_bad_contents(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int fd, pidfd;

	/* Unlocked garbage: no agent. */
	write_text(f->path, "not a pid\n");
	assert_int_equal(pidfile_signal(f->dir, 0, &pidfd, &pid), -ESRCH);
	assert_int_equal(pid, 0);
	/* Locked garbage: someone holds it, but it names nobody to signal. */
	write_text(f->path, "1\n");
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(pidfile_signal(f->dir, 0, &pidfd, &pid), -EINVAL);
	close(fd);
	/* No run dir at all. */
	assert_int_equal(pidfile_signal("/nonexistent/nsagent-run", 0, &pidfd, &pid), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_running_agent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_file_names_another_process, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locked_file_is_signalled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_contents, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
