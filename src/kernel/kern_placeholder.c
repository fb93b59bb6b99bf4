/* TEMPORARY PLACEHOLDER, deleted before the config branch is handed over:
 * lets the nsagent binary link on this branch until the kernel helper's
 * src/kernel implementation is merged. It does nothing and says so. */
#include <errno.h>
#include <stdio.h>

#include "nsagent/kern.h"

int kern_down(const char *bridge, struct kern_error *err)
{
	snprintf(err->message, sizeof(err->message),
		 "kern_down(%s): kernel layer not built into this binary (placeholder)", bridge);
	return -ENOSYS;
}
