/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Backoff schedule: bounds, growth, saturation, reset, reproducibility. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nsagent/backoff.h"

static void test_bounds_and_growth(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct backoff b;
		uint32_t base = 1000;

		backoff_init(&b, 1000, 30000, seed);
		for (int i = 0; i < 20; i++) {
			uint32_t d = backoff_next(&b);
			uint32_t low = base / 2 > 1000 ? base / 2 : 1000;

			assert_in_range(d, low, base);
			assert_in_range(d, 1000, 30000);
			base = base * 2 > 30000 ? 30000 : base * 2;
		}
		/* saturated: always within [15 s, 30 s] */
		uint32_t d = backoff_next(&b);
		assert_in_range(d, 15000, 30000);
	}
}

static void test_first_is_min(void **state)
{
	(void)state;
	struct backoff b;

	backoff_init(&b, 1000, 30000, 7);
	assert_int_equal(backoff_next(&b), 1000);
	assert_in_range(backoff_next(&b), 1000, 2000);
	assert_in_range(backoff_next(&b), 2000, 4000);
	backoff_reset(&b);
	assert_int_equal(backoff_next(&b), 1000);
}

static void test_jitter_varies_and_reproducible(void **state)
{
	(void)state;
	struct backoff a, b, c;
	int differ = 0;

	backoff_init(&a, 1000, 30000, 42);
	backoff_init(&b, 1000, 30000, 42);
	backoff_init(&c, 1000, 30000, 43);
	for (int i = 0; i < 10; i++) {
		uint32_t da = backoff_next(&a), db = backoff_next(&b), dc = backoff_next(&c);

		assert_int_equal(da, db);
		differ += da != dc;
	}
	assert_true(differ > 0);
}

static void test_degenerate(void **state)
{
	(void)state;
	struct backoff b;

	backoff_init(&b, 0, 0, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(backoff_next(&b), 1);
	backoff_init(&b, 500, 100, 3); /* max below min: min wins */
	for (int i = 0; i < 5; i++)
		assert_int_equal(backoff_next(&b), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounds_and_growth),
	    cmocka_unit_test(test_first_is_min),
	    cmocka_unit_test(test_jitter_varies_and_reproducible),
	    cmocka_unit_test(test_degenerate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
