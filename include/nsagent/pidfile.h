/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's pid file, <run-dir>/nsagent.pid: written (and locked) by the
 * running agent, read by `nsagent down` to signal it. */
#ifndef NSAGENT_PIDFILE_H
#define NSAGENT_PIDFILE_H

#include <sys/types.h>

struct pidfile;

/* Writes this process's pid to <run_dir>/nsagent.pid (creating run_dir,
 * 0700, when missing) and holds the file's lock until pidfile_remove. */
int pidfile_write(const char *run_dir, struct pidfile **out);
/* Removes the file, then releases its lock. NULL-safe. */
void pidfile_remove(struct pidfile *pidfile);

/* Sends sig to the agent that holds <run_dir>/nsagent.pid. Returns 0 with
 * *pidfd a pidfd of it (-1 on kernels without pidfds) and *pid its pid;
 * -ESRCH when no agent runs there: no pid file (*pid 0), or a file no
 * process holds (left by an agent that died; *pid is the pid it names,
 * not signalled: that pid may be another process by now); -EINVAL when
 * the file does not hold a pid; another negative errno otherwise. */
int pidfile_signal(const char *run_dir, int sig, int *pidfd, pid_t *pid);

#endif
