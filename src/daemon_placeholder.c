/* TEMPORARY PLACEHOLDER, deleted before the config branch is handed over:
 * lets the nsagent binary link until the integrator's src/daemon.c lands. */
#include "nsagent/daemon.h"
#include "nsagent/log.h"

int daemon_run(const struct cfg *cfg)
{
	(void)cfg;
	log_error("daemon_run: not built into this binary (placeholder)");
	return 1;
}
