/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: logging. One line per message on stderr, in the form its reader
 * wants. When stderr is the journal's stream (systemd sets $JOURNAL_STREAM
 * to the "device:inode" of the stream it connected, sd-daemon(3)), a line
 * is the syslog priority in journald's "<N>" form and the message only:
 * journald adds the time and the name itself. Anywhere else (a terminal, a
 * file, a pipe) a line is plain text: a local time stamp, the level word,
 * the message. The check is made per line, so output that is redirected
 * later follows. --log-level filters the same in both. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nsagent/log.h"

static enum log_level current_level = LOG_LEVEL_INFO;

static const struct {
	const char *name;
	int syslog_priority;
} levels[] = {
    [LOG_LEVEL_ERROR] = {"error", 3},
    [LOG_LEVEL_WARN] = {"warn", 4},
    [LOG_LEVEL_INFO] = {"info", 6},
    [LOG_LEVEL_DEBUG] = {"debug", 7},
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

const char *log_level_name(enum log_level level)
{
	return levels[level].name;
}

int log_parse_level(const char *text, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(text, levels[i].name) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool log_to_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	int end = 0;

	if (!stream || sscanf(stream, "%ju:%ju%n", &dev, &ino, &end) != 2 || stream[end] != '\0')
		return false;
	/* A child of the service inherits $JOURNAL_STREAM with stderr
	 * redirected elsewhere: only the very stream counts. */
	if (fstat(fileno(stderr), &st) < 0)
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024], stamp[40] = "";
	struct timespec now;
	size_t len = 0;
	struct tm tm;

	if (level > current_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One fprintf per line keeps lines whole when several agents share a terminal. */
	if (log_to_journal()) {
		fprintf(stderr, "<%d>%s\n", levels[level].syslog_priority, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (localtime_r(&now.tv_sec, &tm))
		len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (len)
		snprintf(stamp + len, sizeof(stamp) - len, ".%03ld", now.tv_nsec / 1000000);
	fprintf(stderr, "%s %s: %s\n", stamp, levels[level].name, line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	abort();
}
