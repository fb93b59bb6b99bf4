/* DOC: peer protocol framing.
 *
 * Owns the byte layout of a frame: 4-byte big-endian payload length, then
 * one packed Envelope. Invariants: a length is validated (non-zero, at most
 * WIRE_MAX_FRAME) before any allocation or copy; a partial frame is left
 * in the buffer untouched so the caller can simply retry when more bytes
 * arrive; nothing is consumed on "need more". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "nsagent/wire.h"

int wire_read(struct evbuffer *in, NsaPeer__Envelope **out)
{
	unsigned char header[WIRE_HEADER_LEN];
	size_t avail = evbuffer_get_length(in);
	uint32_t len;
	unsigned char *payload;
	NsaPeer__Envelope *message;

	*out = NULL;
	if (avail < WIRE_HEADER_LEN)
		return 0;
	if (evbuffer_copyout(in, header, sizeof(header)) != (ev_ssize_t)sizeof(header))
		return -EBADMSG;
	len = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 | (uint32_t)header[2] << 8 |
	      header[3];
	if (len == 0)
		return -EBADMSG;
	if (len > WIRE_MAX_FRAME)
		return -EMSGSIZE;
	if (avail < WIRE_HEADER_LEN + (size_t)len)
		return 0;

	evbuffer_drain(in, WIRE_HEADER_LEN);
	/* Contiguous view of the payload; bounded by the check above. */
	payload = evbuffer_pullup(in, len);
	if (!payload)
		return -ENOMEM;
	message = nsa_peer__envelope__unpack(NULL, len, payload);
	evbuffer_drain(in, len);
	if (!message)
		return -EBADMSG;
	*out = message;
	return 1;
}

int wire_write(struct evbuffer *out, const NsaPeer__Envelope *message)
{
	size_t len = nsa_peer__envelope__get_packed_size(message);
	unsigned char header[WIRE_HEADER_LEN];
	unsigned char *buf;
	int ret = 0;

	if (len > WIRE_MAX_FRAME)
		return -EMSGSIZE;
	/* An empty Envelope packs to zero bytes, which the reader rejects as
	 * a zero-length frame: every message we send sets a case. */
	if (len == 0)
		return -EINVAL;
	header[0] = len >> 24;
	header[1] = len >> 16;
	header[2] = len >> 8;
	header[3] = len;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	nsa_peer__envelope__pack(message, buf);
	if (evbuffer_add(out, header, sizeof(header)) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	if (evbuffer_add(out, buf, len) < 0) {
		ret = -ENOMEM;
		goto out;
	}
out:
	free(buf);
	return ret;
}

void wire_free(NsaPeer__Envelope *message)
{
	if (message)
		nsa_peer__envelope__free_unpacked(message, NULL);
}
