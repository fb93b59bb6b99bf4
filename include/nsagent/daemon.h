/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The running agent: wires config, persisted state, the kernel layer and
 * peer sessions onto one libevent loop. */
#ifndef NSAGENT_DAEMON_H
#define NSAGENT_DAEMON_H

#include <sys/types.h>

#include "nsagent/config.h"

/* The command line the config came from (argv[0] the command name, as for
 * cfg_load); SIGHUP and `nsagent reload` re-read the config from it. The
 * vector must outlive daemon_run. */
void daemon_set_argv(int argc, char **argv);

/* Blocks the signals the agent handles (SIGTERM, SIGINT, SIGUSR1, SIGHUP)
 * until daemon_run has installed their handlers, which unblocks them.
 * Called first thing by `nsagent run`, before the config is read. */
void daemon_block_signals(void);

/* Runs in the foreground until SIGTERM/SIGINT; returns the exit status. */
int daemon_run(const struct cfg *cfg);

/* For `nsagent down`: when an agent runs with this run dir, ask it to leave
 * the cluster (goodbye(leave) to every peer, SIGUSR1) and wait up to
 * timeout_ms for it to exit, so that it does not repair what down removes.
 * Returns 0 when it left; -ESRCH when no agent runs there (*pid is then 0,
 * or the pid a pid file left by a dead agent names, which was not
 * signalled); -ETIMEDOUT or another negative errno. */
int daemon_stop_running(const struct cfg *cfg, unsigned timeout_ms, pid_t *pid);

#endif
