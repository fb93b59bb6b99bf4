/* DOC: logging. One line per message on stderr, prefixed with the syslog
 * priority in journald's "<N>" form so that journald keeps the level, and a
 * level word for people reading a terminal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if (level > current_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One fprintf per line keeps lines whole when several agents share a terminal. */
	fprintf(stderr, "<%d>nsagent[%s]: %s\n", levels[level].syslog_priority, levels[level].name,
		line);
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
