/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: a job on a second thread, for kernel work that can overlap the
 * caller's (see kern_priv.h). When no thread can be started the job runs in
 * line, so callers need no second path. */
#include <pthread.h>
#include <stddef.h>

#include "kern_priv.h"
#include "nsagent/log.h"

static void *run(void *arg)
{
	struct kjob *job = arg;

	job->fn(job->arg);
	return NULL;
}

void kjob_start(struct kjob *job, void (*fn)(void *arg), void *arg)
{
	job->fn = fn;
	job->arg = arg;
	job->threaded = pthread_create(&job->thread, NULL, run, job) == 0;
	if (!job->threaded) {
		log_debug("kernel: cannot start a thread: doing the work in line");
		fn(arg);
	}
}

void kjob_wait(struct kjob *job)
{
	if (job->threaded)
		pthread_join(job->thread, NULL);
	job->threaded = false;
}
