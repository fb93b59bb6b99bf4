/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control protocol's client transport, shared by ctl.c (`nsagent
 * status`, `ns`, `reload`, `leave`) and the nsagent-cni plugin, which links
 * this file and framing alone. */
#ifndef NSAGENT_CTL_CLIENT_H
#define NSAGENT_CTL_CLIENT_H

#include <stddef.h>

#include "ctl.pb-c.h"

/* Connects to the agent on socket_path, sends req and reads one Response
 * within timeout_ms (*resp: free with nsa_ctl__response__free_unpacked).
 * Returns 0, -ENOENT / -ECONNREFUSED when no agent listens there,
 * -ETIMEDOUT, or another negative errno; err names the socket and says
 * what failed. */
int ctl_client_exchange(const char *socket_path, const NsaCtl__Request *req, int timeout_ms,
			NsaCtl__Response **resp, char *err, size_t err_size);

#endif
