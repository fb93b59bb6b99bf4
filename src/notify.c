/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: systemd's service notification protocol, written here rather than
 * linked from libsystemd: the protocol is one datagram of "KEY=VALUE"
 * lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an
 * abstract name after '@'), which systemd documents as a stable interface,
 * and libsystemd would bring its own dependencies (compression and crypto
 * libraries) into a process that holds the cluster key, for a dozen lines.
 * The agent sends READY=1 once it serves, RELOADING=1 then READY=1 around
 * a reload, STATUS= with each, STOPPING=1 when it leaves, and WATCHDOG=1
 * from its event loop (so a loop that stalls is restarted). Without
 * $NOTIFY_SOCKET every call is a no-op. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nsagent/log.h"
#include "nsagent/notify.h"

int notify_send(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char message[1024];
	va_list ap;
	size_t len;
	int fd, ret = 0;

	if (!path || !path[0])
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun.sun_path)) {
		log_warn("cannot notify systemd: NOTIFY_SOCKET=%s is neither a socket path nor an "
			 "abstract name that fits a socket address",
			 path);
		return -EINVAL;
	}
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		ret = -errno;
	close(fd);
out:
	if (ret < 0)
		log_warn("cannot notify systemd at %s: %s", path, strerror(-ret));
	return ret;
}

uint64_t notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long value;
	char *end;

	if (!usec || !usec[0])
		return 0;
	/* The variables pass to children; the watchdog is for the main pid. */
	if (pid && pid[0] && strtoll(pid, NULL, 10) != (long long)getpid())
		return 0;
	errno = 0;
	value = strtoull(usec, &end, 10);
	if (errno || *end || usec[0] == '-') {
		log_warn("ignoring WATCHDOG_USEC=%s: not a count of microseconds", usec);
		return 0;
	}
	return value;
}

uint64_t notify_monotonic_usec(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}
