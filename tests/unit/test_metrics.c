/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/metrics.c: a scrape is the Prometheus printer's text
 * of a model filled afresh by the source for every render (a change in the
 * source shows at the next scrape, nothing is cached or counted here),
 * with every family written once. The exposition's validity against
 * Prometheus's own parser is test_status's (promtool). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "nsagent/metrics.h"

struct source {
	unsigned fills;
	uint64_t reloads_ok;
};

static void fill(void *arg, struct status *st)
{
	struct source *src = arg;
	struct status_peer *p;

	src->fills++;
	snprintf(st->version, sizeof(st->version), "0.1.0");
	snprintf(st->session_states[st->n_session_states++], STATUS_STATE_MAX, "idle");
	snprintf(st->session_states[st->n_session_states++], STATUS_STATE_MAX, "established");
	p = status_add_peer(st);
	snprintf(p->state, sizeof(p->state), "established");
	p->route = STATUS_ROUTE_STALE;
	st->counters[STATUS_RELOADS_OK] = src->reloads_ok;
	st->counters[STATUS_ADVERTS_REJECTED_BY(RIB_REJECT_DEFAULT)] = 4;
}

static char *render(struct source *src)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;
	char *text;

	assert_int_equal(metrics_render(fill, src, out), 0);
	len = evbuffer_get_length(out);
	text = calloc(1, len + 1);
	evbuffer_remove(out, text, len);
	evbuffer_free(out);
	return text;
}

static unsigned count(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_render(void **state)
{
	struct source src = {0};
	char *text;

	(void)state;
	text = render(&src);
	assert_int_equal(src.fills, 1);
	assert_non_null(strstr(text, "nsagent_build_info{version=\"0.1.0\"} 1\n"));
	assert_non_null(strstr(text, "nsagent_sessions{state=\"established\"} 1\n"));
	assert_non_null(strstr(text, "nsagent_sessions{state=\"idle\"} 0\n"));
	assert_non_null(strstr(text, "nsagent_routes{state=\"stale\"} 1\n"));
	assert_non_null(strstr(text, "nsagent_reloads_total{result=\"ok\"} 0\n"));
	assert_non_null(
	    strstr(text, "nsagent_adverts_rejected_total{reason=\"default_route\"} 4\n"));
	/* HELP and TYPE once per family, TYPE right after HELP. */
	assert_int_equal(count(text, "# HELP nsagent_adverts_rejected_total "), 1);
	assert_int_equal(count(text, "# TYPE nsagent_sessions gauge\n"), 1);
	assert_int_equal(count(text, "# HELP "), count(text, "# TYPE "));
	/* Every line is a comment or "name[{labels}] value". */
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		assert_true(line[0] == '#' || strncmp(line, "nsagent_", 8) == 0);
	free(text);

	/* The next scrape fills a new model. */
	src.reloads_ok = 2;
	text = render(&src);
	assert_int_equal(src.fills, 2);
	assert_non_null(strstr(text, "nsagent_reloads_total{result=\"ok\"} 2\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
