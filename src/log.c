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

/* Read by the log_* macros (log.h) before they evaluate any argument. */
enum log_level log_current_level = LOG_LEVEL_INFO;

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
	log_current_level = level;
}

enum log_level log_get_level(void)
{
	return log_current_level;
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

/* "YYYY-MM-DDTHH:MM:SS" of the second now is in: localtime_r and
 * strftime cost more than the rest of a line, and a converging agent
 * logs many lines a second. */
static size_t stamp_seconds(time_t sec, char *buf, size_t size)
{
	static time_t cached_sec = -1;
	static char cached[32];
	static size_t cached_len;
	struct tm tm;

	if (sec != cached_sec) {
		cached_len = 0;
		if (localtime_r(&sec, &tm))
			cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = sec;
	}
	if (cached_len >= size)
		return 0;
	memcpy(buf, cached, cached_len);
	return cached_len;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[1100];
	struct timespec now;
	size_t len = 0, prefix;
	int n;

	if (level > log_current_level)
		return;
	/* The prefix, then the message after it in the same buffer, written
	 * with one fwrite: one write(2) per line keeps lines whole when
	 * several agents share a terminal. */
	if (log_to_journal()) {
		len = (size_t)snprintf(line, sizeof(line), "<%d>", levels[level].syslog_priority);
	} else {
		long ms;

		clock_gettime(CLOCK_REALTIME, &now);
		len = stamp_seconds(now.tv_sec, line, sizeof(line));
		if (len) {
			ms = now.tv_nsec / 1000000;
			line[len++] = '.';
			line[len++] = (char)('0' + ms / 100);
			line[len++] = (char)('0' + ms / 10 % 10);
			line[len++] = (char)('0' + ms % 10);
		}
		line[len++] = ' ';
		prefix = strlen(levels[level].name);
		memcpy(line + len, levels[level].name, prefix);
		len += prefix;
		line[len++] = ':';
		line[len++] = ' ';
	}
	/* The message is cut at 1023 bytes, as before. */
	n = vsnprintf(line + len, 1024, fmt, ap);
	if (n < 0)
		n = 0;
	len += (size_t)n < 1024 ? (size_t)n : 1023;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
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
