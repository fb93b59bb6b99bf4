/* Unit tests for src/metrics.c: the exposition text (HELP/TYPE once per
 * family, labelled samples, collector output appended) and the updaters. */
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

static char *render(void)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;
	char *text;

	metrics_render(out);
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

static void collect(void *arg, struct evbuffer *extra)
{
	(void)arg;
	metrics_set(METRICS_RECONCILE_REPAIRS, 7);
	metrics_write_family(extra, "nsagent_probe_rtt_seconds", "gauge", "Last probe RTT.");
	metrics_write_sample(extra, "nsagent_probe_rtt_seconds", "peer=\"192.168.1.6\"", 0.000412);
}

static void test_render(void **state)
{
	char *text;

	(void)state;
	metrics_reset();
	metrics_inc(METRICS_FRAMES_IN);
	metrics_inc(METRICS_FRAMES_IN);
	metrics_add(METRICS_FRAMES_OUT, 5);
	metrics_inc(METRICS_ADVERTS_REJECTED_DEFAULT_ROUTE);
	metrics_set(METRICS_SESSIONS_ESTABLISHED, 3);
	metrics_set(METRICS_SESSIONS_ESTABLISHED, 2);
	metrics_set_collector(collect, NULL);
	text = render();
	assert_non_null(strstr(text, "nsagent_frames_total{direction=\"in\"} 2\n"));
	assert_non_null(strstr(text, "nsagent_frames_total{direction=\"out\"} 5\n"));
	assert_non_null(strstr(text, "nsagent_sessions{state=\"established\"} 2\n"));
	assert_non_null(strstr(text, "nsagent_sessions{state=\"idle\"} 0\n"));
	assert_non_null(
	    strstr(text, "nsagent_adverts_rejected_total{reason=\"default_route\"} 1\n"));
	assert_non_null(strstr(text, "nsagent_routes{state=\"stale\"} 0\n"));
	/* The collector refreshed the value before it was rendered. */
	assert_non_null(strstr(text, "nsagent_reconcile_repairs_total 7\n"));
	assert_non_null(strstr(text, "nsagent_probe_rtt_seconds{peer=\"192.168.1.6\"} 0.000412"));
	/* HELP and TYPE once per family, TYPE right after HELP. */
	assert_int_equal(count(text, "# TYPE nsagent_sessions gauge\n"), 1);
	assert_int_equal(count(text, "# TYPE nsagent_frames_total counter\n"), 1);
	assert_int_equal(count(text, "# HELP nsagent_adverts_rejected_total "), 1);
	assert_int_equal(count(text, "# HELP "), count(text, "# TYPE "));
	/* Every line is a comment or "name[{labels}] value". */
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		assert_true(line[0] == '#' || strncmp(line, "nsagent_", 8) == 0);
	free(text);
	metrics_set_collector(NULL, NULL);
	assert_int_equal(metrics_get(METRICS_FRAMES_IN), 2);
	metrics_reset();
	assert_int_equal(metrics_get(METRICS_FRAMES_IN), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
