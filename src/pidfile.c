/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the pid file, <run-dir>/nsagent.pid. The running agent writes its
 * pid there once it is ready and holds an exclusive flock(2) on the file
 * for as long as it runs; `nsagent down` reads it to ask the agent to
 * leave.
 *
 * Invariant: a pid is signalled only while the file naming it is locked.
 * A pid file outlives an agent that crashed (nothing removes it), and the
 * kernel hands its pid to the next process it starts, so the pid alone
 * would lead `down` to signal an unrelated process. The kernel drops a
 * lock when its holder dies, whatever the cause: an unlocked file names
 * no agent. The process is pinned (pidfd) before the lock is checked a
 * second time, so the pinned process is the agent and not a successor
 * that took its pid in between.
 *
 * The file is written under a temporary name, locked, then renamed into
 * place: a reader finds the old file or a complete and locked new one,
 * never an empty file that nobody holds yet. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nsagent/log.h"
#include "nsagent/pidfile.h"
#include "nsagent/xalloc.h"

struct pidfile {
	char *path;
	int fd; /* holds the lock */
};

int pidfile_write(const char *run_dir, struct pidfile **out)
{
	struct pidfile *pf = xcalloc(1, sizeof(*pf));
	char *tmp = NULL, buf[32];
	const char *step = NULL, *file = NULL;
	int fd = -1, len, ret = 0;
	ssize_t n;

	*out = NULL;
	if (asprintf(&pf->path, "%s/nsagent.pid", run_dir) < 0 ||
	    asprintf(&tmp, "%s/nsagent.pid.new", run_dir) < 0)
		fatal("out of memory");
	if (mkdir(run_dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		step = "create directory";
		file = run_dir;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		step = "create";
		goto out;
	}
	/* Not blocking: only another agent writing its pid file in this run
	 * dir at this moment could hold it, and the control socket already
	 * keeps a second agent from getting this far. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		step = "lock (another agent writing its pid file?)";
		goto out;
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	n = write(fd, buf, (size_t)len);
	if (n != len) {
		ret = n < 0 ? -errno : -EIO;
		step = "write";
		goto out;
	}
	if (rename(tmp, pf->path) < 0) {
		ret = -errno;
		step = "rename into place";
		goto out;
	}
	pf->fd = fd;
	fd = -1;
	*out = pf;
	pf = NULL;
out:
	if (step)
		log_warn("pid file: cannot %s %s: %s", step, file ? file : tmp, strerror(-ret));
	if (fd >= 0) {
		unlink(tmp);
		close(fd);
	}
	free(tmp);
	if (pf) {
		free(pf->path);
		free(pf);
	}
	return ret;
}

void pidfile_remove(struct pidfile *pf)
{
	if (!pf)
		return;
	/* Unlinked while still locked: a reader that opened it before sees an
	 * agent that is still there, and one that opens it after finds none. */
	unlink(pf->path);
	close(pf->fd);
	free(pf->path);
	free(pf);
}

/* 1 when a process holds fd's file locked, 0 when none does: a shared
 * lock is refused only while the agent's exclusive one is held. */
static int lock_held(int fd)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		return 0;
	}
	return errno == EWOULDBLOCK ? 1 : -errno;
}

int pidfile_signal(const char *run_dir, int sig, int *pidfd, pid_t *pid)
{
	char *path = NULL, buf[32];
	bool parsed = false;
	long value = 0;
	int fd, pinned = -1, ret;
	ssize_t n;

	*pidfd = -1;
	*pid = 0;
	if (asprintf(&path, "%s/nsagent.pid", run_dir) < 0)
		fatal("out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	buf[n] = '\0';
	parsed = sscanf(buf, "%ld", &value) == 1 && value > 1 && value <= INT_MAX;
	if (parsed)
		*pid = (pid_t)value;
	ret = lock_held(fd);
	if (ret <= 0) {
		ret = ret < 0 ? ret : -ESRCH;
		goto out;
	}
	if (!parsed) {
		ret = -EINVAL;
		goto out;
	}
	/* Kernels before 5.3 have no pidfds: there the pid is signalled
	 * after the second lock check, which leaves a window of a few
	 * instructions instead of none. */
	pinned = (int)syscall(SYS_pidfd_open, (pid_t)value, 0);
	if (pinned < 0 && errno != ENOSYS) {
		ret = -errno;
		goto out;
	}
	ret = lock_held(fd);
	if (ret <= 0) {
		ret = ret < 0 ? ret : -ESRCH; /* the agent died since the first check */
		goto out;
	}
	if ((pinned >= 0 ? syscall(SYS_pidfd_send_signal, pinned, sig, NULL, 0)
			 : kill((pid_t)value, sig)) < 0) {
		ret = -errno;
		goto out;
	}
	*pidfd = pinned;
	pinned = -1;
	ret = 0;
out:
	if (pinned >= 0)
		close(pinned);
	close(fd);
	return ret;
}
