/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Cluster keys for the tests that run TLS ends (test_tls, test_peer_sec):
 * a TLS context from a key of one repeated byte, so that two contexts made
 * from the same byte share a key and two from different bytes do not.
 * Asserts through cmocka. */
#ifndef NSAGENT_TESTS_TLS_HARNESS_H
#define NSAGENT_TESTS_TLS_HARNESS_H

#include <stdint.h>

#include "nsagent/tls.h"

/* A context keyed by TLS_KEY_LEN bytes of fill; free with tls_ctx_free. */
struct tls_ctx *th_ctx_with_key(uint8_t fill);

#endif
