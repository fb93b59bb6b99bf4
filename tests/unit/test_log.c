/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Log lines as their two readers want them: with stderr the journal's
 * stream ($JOURNAL_STREAM names its device and inode) a line is "<N>" and
 * the message; anywhere else it is a time stamp, the level word and the
 * message. --log-level filters the same in both. stderr is pointed at a
 * temporary file for the test. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "nsagent/log.h"

struct capture {
	char path[64];
	int saved_stderr;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));
	int fd;

	if (!c)
		return -1;
	snprintf(c->path, sizeof(c->path), "/tmp/nsagent-test-log.XXXXXX");
	fd = mkstemp(c->path);
	if (fd < 0) {
		free(c);
		return -1;
	}
	fflush(stderr);
	c->saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	log_set_level(LOG_LEVEL_INFO);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;

	fflush(stderr);
	dup2(c->saved_stderr, STDERR_FILENO);
	close(c->saved_stderr);
	unlink(c->path);
	unsetenv("JOURNAL_STREAM");
	free(c);
	return 0;
}

/* What was written to stderr since the last call. */
static char *captured(struct capture *c)
{
	static char buf[4096];
	FILE *f;
	size_t n;

	fflush(stderr);
	f = fopen(c->path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_int_equal(ftruncate(STDERR_FILENO, 0), 0);
	lseek(STDERR_FILENO, 0, SEEK_SET);
	return buf;
}

static void point_journal_at(int fd)
{
	struct stat st;
	char value[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(value, sizeof(value), "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	setenv("JOURNAL_STREAM", value, 1);
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	int ret;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	ret = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (ret != 0)
		fail_msg("'%s' does not match %s", text, pattern);
}

static void test_journal_line(void **state)
{
	struct capture *c = *state;

	point_journal_at(STDERR_FILENO);
	assert_true(log_to_journal());
	log_info("node IP %s", "10.0.0.1");
	assert_string_equal(captured(c), "<6>node IP 10.0.0.1\n");
	log_warn("w");
	log_error("e");
	assert_string_equal(captured(c), "<4>w\n<3>e\n");
}

static void test_terminal_line(void **state)
{
	struct capture *c = *state;

	assert_false(log_to_journal());
	log_info("node IP %s", "10.0.0.1");
	assert_matches(captured(c),
		       "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
		       "info: node IP 10\\.0\\.0\\.1\n$");
	log_error("e");
	assert_matches(captured(c), "^[-0-9T:.]{23} error: e\n$");
}

/* A child of the service inherits $JOURNAL_STREAM with stderr redirected:
 * it writes plain lines. So do a malformed and an empty value. */
static void test_other_stream_is_not_the_journal(void **state)
{
	struct capture *c = *state;

	point_journal_at(STDIN_FILENO);
	assert_false(log_to_journal());
	setenv("JOURNAL_STREAM", "garbage", 1);
	assert_false(log_to_journal());
	setenv("JOURNAL_STREAM", "", 1);
	assert_false(log_to_journal());
	log_info("x");
	assert_matches(captured(c), "^[-0-9T:.]{23} info: x\n$");
}

static void test_level_filters_both(void **state)
{
	struct capture *c = *state;

	for (int journal = 0; journal < 2; journal++) {
		if (journal)
			point_journal_at(STDERR_FILENO);
		log_set_level(LOG_LEVEL_WARN);
		log_info("hidden");
		log_debug("hidden");
		assert_string_equal(captured(c), "");
		log_warn("shown");
		assert_non_null(strstr(captured(c), "shown"));
		log_set_level(LOG_LEVEL_DEBUG);
		log_debug("detail");
		assert_non_null(strstr(captured(c), journal ? "<7>detail\n" : " debug: detail\n"));
	}
}

static int evaluated;

static const char *evaluate(void)
{
	evaluated++;
	return "formatted";
}

/* A filtered line costs nothing: its arguments (peer names, addresses
 * formatted for it) are not even evaluated. */
static void test_filtered_arguments_not_evaluated(void **state)
{
	struct capture *c = *state;

	evaluated = 0;
	log_set_level(LOG_LEVEL_INFO);
	log_debug("peer %s", evaluate());
	assert_int_equal(evaluated, 0);
	assert_string_equal(captured(c), "");
	log_info("peer %s", evaluate());
	assert_int_equal(evaluated, 1);
	assert_matches(captured(c), "^[-0-9T:.]{23} info: peer formatted\n$");
}

/* A message is cut at 1023 bytes and its line still ends. */
static void test_long_message_cut(void **state)
{
	struct capture *c = *state;
	char msg[2000];
	const char *text;

	memset(msg, 'a', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	log_set_level(LOG_LEVEL_INFO);
	log_warn("%s", msg);
	text = captured(c);
	assert_int_equal(strlen(text), 23 + strlen(" warn: ") + 1023 + 1);
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_int_equal(text[strlen(text) - 2], 'a');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_journal_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_terminal_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_stream_is_not_the_journal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_level_filters_both, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filtered_arguments_not_evaluated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_message_cut, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
