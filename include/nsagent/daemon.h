/* The running agent: wires config, persisted state, the kernel layer and
 * peer sessions onto one libevent loop. */
#ifndef NSAGENT_DAEMON_H
#define NSAGENT_DAEMON_H

#include "nsagent/config.h"

/* Runs in the foreground until SIGTERM/SIGINT; returns the exit status. */
int daemon_run(const struct cfg *cfg);

#endif
