/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/frame.c with control protocol messages: round trip,
 * partial frames, the 64 KiB limit checked before allocation, garbage. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "ctl.pb-c.h"
#include "nsagent/frame.h"

static void test_round_trip_and_partial(void **state)
{
	NsaCtl__Request req = NSA_CTL__REQUEST__INIT;
	NsaCtl__NamespaceRequest ns = NSA_CTL__NAMESPACE_REQUEST__INIT;
	struct evbuffer *buf = evbuffer_new(), *partial = evbuffer_new();
	ProtobufCMessage *msg;
	NsaCtl__Request *got;
	unsigned char byte;

	(void)state;
	ns.name = "web";
	req.request_case = NSA_CTL__REQUEST__REQUEST_NS_ADD;
	req.ns_add = &ns;
	assert_int_equal(frame_write(buf, &req.base), 0);
	assert_int_equal(frame_write(buf, &req.base), 0);
	/* Byte by byte: "need more" until the last byte, nothing consumed. */
	while (evbuffer_get_length(buf) > 0) {
		evbuffer_remove(buf, &byte, 1);
		evbuffer_add(partial, &byte, 1);
		if (frame_read(partial, &nsa_ctl__request__descriptor, &msg, NULL) == 1)
			break;
	}
	got = (NsaCtl__Request *)msg;
	assert_int_equal(got->request_case, NSA_CTL__REQUEST__REQUEST_NS_ADD);
	assert_string_equal(got->ns_add->name, "web");
	protobuf_c_message_free_unpacked(msg, NULL);
	assert_int_equal(evbuffer_get_length(partial), 0);
	/* The second frame is whole in buf. */
	assert_int_equal(frame_read(buf, &nsa_ctl__request__descriptor, &msg, NULL), 1);
	protobuf_c_message_free_unpacked(msg, NULL);
	evbuffer_free(buf);
	evbuffer_free(partial);
}

static void test_limits(void **state)
{
	struct evbuffer *buf = evbuffer_new();
	unsigned char huge[4] = {0x7f, 0xff, 0xff, 0xff}, zero[4] = {0};
	unsigned char garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
	NsaCtl__Response resp = NSA_CTL__RESPONSE__INIT;
	char *message = malloc(FRAME_MAX + 1);
	ProtobufCMessage *msg;
	size_t len = 0;

	(void)state;
	evbuffer_add(buf, huge, sizeof(huge));
	assert_int_equal(frame_read(buf, &nsa_ctl__request__descriptor, &msg, &len), -EMSGSIZE);
	assert_int_equal(len, 0x7fffffff);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	evbuffer_add(buf, zero, sizeof(zero));
	assert_int_equal(frame_read(buf, &nsa_ctl__request__descriptor, &msg, NULL), -EBADMSG);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	evbuffer_add(buf, garbage, sizeof(garbage));
	assert_int_equal(frame_read(buf, &nsa_ctl__request__descriptor, &msg, NULL), -EBADMSG);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	/* A message over the limit is refused and nothing is queued. */
	memset(message, 'x', FRAME_MAX);
	message[FRAME_MAX] = '\0';
	resp.result = NSA_CTL__RESULT__RESULT_OK;
	resp.message = message;
	assert_int_equal(frame_write(buf, &resp.base), -EMSGSIZE);
	assert_int_equal(evbuffer_get_length(buf), 0);
	free(message);
	evbuffer_free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_and_partial),
	    cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
