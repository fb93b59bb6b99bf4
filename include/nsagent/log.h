/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr with levels: "<N>message" for the journal, a time
 * stamped line for everyone else (src/log.c). */
#ifndef NSAGENT_LOG_H
#define NSAGENT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *text, enum log_level *level);
const char *log_level_name(enum log_level level);
/* Whether stderr is the journal's stream ($JOURNAL_STREAM names it). */
bool log_to_journal(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

/* The level is checked before the arguments are evaluated: a debug line
 * whose arguments format peer names and addresses costs nothing when
 * --log-level filters it out. */
extern enum log_level log_current_level;
#define log_at(level, ...)                                                                         \
	do {                                                                                       \
		if ((level) <= log_current_level)                                                  \
			log_msg((level), __VA_ARGS__);                                             \
	} while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* For impossible states and out-of-memory only. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
