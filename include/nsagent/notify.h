/* SPDX-License-Identifier: GPL-2.0-or-later */
/* systemd's service notifications (sd_notify(3)): readiness, reload,
 * status text and watchdog keep-alives, sent to $NOTIFY_SOCKET. */
#ifndef NSAGENT_NOTIFY_H
#define NSAGENT_NOTIFY_H

#include <stdint.h>

/* Sends one notification ("READY=1\nSTATUS=..."), formatted as printf.
 * Returns 0 (also when there is no $NOTIFY_SOCKET: nobody to tell) or a
 * negative errno, which is logged with the socket's name. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd expects keep-alives within
 * ($WATCHDOG_USEC, when $WATCHDOG_PID is unset or this process), in
 * microseconds; 0 when no watchdog watches this process. */
uint64_t notify_watchdog_usec(void);

/* CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= wants it. */
uint64_t notify_monotonic_usec(void);

#endif
