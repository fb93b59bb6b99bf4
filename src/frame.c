/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: length-prefixed protobuf framing, shared by every stream protocol.
 *
 * Owns the byte layout of a frame: 4-byte big-endian payload length, then
 * one packed message. Invariants: a length is validated (non-zero, at most
 * FRAME_MAX) before any allocation or copy; a partial frame is left in the
 * buffer untouched, so the caller simply retries when more bytes arrive. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "nsagent/frame.h"

int frame_read(struct evbuffer *in, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
	       size_t *len_out)
{
	unsigned char header[FRAME_HEADER_LEN];
	size_t avail = evbuffer_get_length(in);
	unsigned char *payload;
	ProtobufCMessage *message;
	uint32_t len;

	*out = NULL;
	if (avail < FRAME_HEADER_LEN)
		return 0;
	if (evbuffer_copyout(in, header, sizeof(header)) != (ev_ssize_t)sizeof(header))
		return -EBADMSG;
	len = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 | (uint32_t)header[2] << 8 |
	      header[3];
	if (len_out)
		*len_out = len;
	if (len == 0)
		return -EBADMSG;
	if (len > FRAME_MAX)
		return -EMSGSIZE;
	if (avail < FRAME_HEADER_LEN + (size_t)len)
		return 0;
	evbuffer_drain(in, FRAME_HEADER_LEN);
	/* A contiguous view of the payload, bounded by the check above. */
	payload = evbuffer_pullup(in, len);
	if (!payload)
		return -ENOMEM;
	message = protobuf_c_message_unpack(desc, NULL, len, payload);
	evbuffer_drain(in, len);
	if (!message)
		return -EBADMSG;
	*out = message;
	return 1;
}

int frame_write(struct evbuffer *out, const ProtobufCMessage *message)
{
	size_t len = protobuf_c_message_get_packed_size(message);
	unsigned char header[FRAME_HEADER_LEN];
	unsigned char *buf;
	int ret = 0;

	if (len > FRAME_MAX)
		return -EMSGSIZE;
	/* The reader rejects a zero-length frame. */
	if (len == 0)
		return -EINVAL;
	header[0] = (unsigned char)(len >> 24);
	header[1] = (unsigned char)(len >> 16);
	header[2] = (unsigned char)(len >> 8);
	header[3] = (unsigned char)len;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(message, buf);
	if (evbuffer_add(out, header, sizeof(header)) < 0 || evbuffer_add(out, buf, len) < 0)
		ret = -ENOMEM;
	free(buf);
	return ret;
}
