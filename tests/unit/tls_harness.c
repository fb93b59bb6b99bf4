/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: cluster keys for the TLS tests (see tls_harness.h). A key of one
 * repeated byte is enough to tell "same key" from "another key", which is
 * all these tests ask of it; key generation and parsing are tested in
 * test_tls itself. */
#include "tls_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

struct tls_ctx *th_ctx_with_key(uint8_t fill)
{
	uint8_t key[TLS_KEY_LEN];
	struct tls_ctx *ctx;

	memset(key, fill, sizeof(key));
	assert_int_equal(tls_ctx_new(key, &ctx), 0);
	return ctx;
}
