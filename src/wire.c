/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: peer protocol framing: the peer protocol's face of the shared frame
 * codec (src/frame.c), typed to NsaPeer__Envelope. The byte layout and its
 * invariants (length checked before any allocation, nothing consumed on a
 * partial frame) live in frame.c, once for every stream protocol.
 *
 * It also holds the strict decoding of the wire's IPv6 fields (bytes, so
 * any length can arrive): the one place that says what a well-formed one
 * is, for the session and the fuzz target alike. */
#include <errno.h>
#include <string.h>

#include "nsagent/frame.h"
#include "nsagent/wire.h"

int wire_read(struct evbuffer *in, NsaPeer__Envelope **out)
{
	ProtobufCMessage *message;
	int ret = frame_read(in, &nsa_peer__envelope__descriptor, &message, NULL);

	*out = ret == 1 ? (NsaPeer__Envelope *)message : NULL;
	return ret;
}

int wire_write(struct evbuffer *out, const NsaPeer__Envelope *message)
{
	return frame_write(out, &message->base);
}

void wire_free(NsaPeer__Envelope *message)
{
	if (message)
		nsa_peer__envelope__free_unpacked(message, NULL);
}

int wire_get_addr6(const ProtobufCBinaryData *in, struct in6_addr *out)
{
	if (in->len == 0)
		return -ENOENT;
	if (in->len != sizeof(out->s6_addr) || !in->data)
		return -EBADMSG;
	memcpy(out->s6_addr, in->data, sizeof(out->s6_addr));
	return 0;
}

int wire_get_nodeaddr(uint32_t v4, const ProtobufCBinaryData *v6, struct nodeaddr *out)
{
	struct in6_addr addr6;
	int rc = wire_get_addr6(v6, &addr6);

	if (rc == -EBADMSG || (rc == 0 && v4))
		return -EBADMSG;
	if (rc == 0)
		*out = nodeaddr_v6(&addr6);
	else if (v4)
		*out = nodeaddr_v4(v4);
	else
		memset(out, 0, sizeof(*out));
	return 0;
}

void wire_put_nodeaddr(const struct nodeaddr *addr, uint32_t *v4, ProtobufCBinaryData *v6)
{
	*v4 = addr->family == AF_INET ? addr->v4 : 0;
	v6->data = addr->family == AF_INET6 ? (uint8_t *)addr->v6.s6_addr : NULL;
	v6->len = addr->family == AF_INET6 ? sizeof(addr->v6.s6_addr) : 0;
}

int wire_get_prefix6(const NsaPeer__Prefix6 *in, struct prefix6 *out)
{
	if (!in || in->len > 128 || wire_get_addr6(&in->addr, &out->addr) < 0)
		return -EBADMSG;
	out->len = (uint8_t)in->len;
	return 0;
}

void wire_put_prefix6(NsaPeer__Prefix6 *out, const struct prefix6 *p)
{
	nsa_peer__prefix6__init(out);
	out->addr.data = (uint8_t *)p->addr.s6_addr;
	out->addr.len = sizeof(p->addr.s6_addr);
	out->len = p->len;
}
