/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peer protocol framing: a 4-byte big-endian length, then one packed
 * NsaPeer__Envelope (proto/peer.proto). The length is checked against
 * WIRE_MAX_FRAME before anything is allocated. */
#ifndef NSAGENT_WIRE_H
#define NSAGENT_WIRE_H

#include <stddef.h>

#include "nsagent/addr6.h"
#include "nsagent/frame.h"
#include "peer.pb-c.h"

struct evbuffer;

/* The shared framing's (frame.h). */
#define WIRE_HEADER_LEN FRAME_HEADER_LEN
/* Largest payload (the packed Envelope, header excluded). */
#define WIRE_MAX_FRAME FRAME_MAX

/* Takes one frame off the front of in.
 *   1        a message was decoded into *out (free it with wire_free);
 *   0        not a whole frame yet: nothing consumed, call again on more data;
 *   -EMSGSIZE the announced length is over WIRE_MAX_FRAME;
 *   -EBADMSG  zero length, or the payload is not a valid Envelope.
 * On an error the stream cannot be resynchronised: close the session. */
int wire_read(struct evbuffer *in, NsaPeer__Envelope **out);

/* Appends one framed message to out. -EMSGSIZE when it would be over
 * WIRE_MAX_FRAME (nothing appended), -ENOMEM when the buffer refuses it. */
int wire_write(struct evbuffer *out, const NsaPeer__Envelope *message);

void wire_free(NsaPeer__Envelope *message);

/* An advert's IPv6 entry, decoded strictly: 0 with *out set, or -EBADMSG
 * when addr is not exactly 16 bytes or len is over 128 (the entry is then
 * counted malformed and dropped; the session stays up). Whether it is an
 * acceptable node /64 is the rde's business. */
int wire_get_prefix6(const NsaPeer__Prefix6 *in, struct prefix6 *out);
/* Fills out to carry p; out->addr points into p, which must outlive it. */
void wire_put_prefix6(NsaPeer__Prefix6 *out, const struct prefix6 *p);
/* The advert's link-local next hop: 0 with *out set, -ENOENT when absent
 * (empty), -EBADMSG when it is not exactly 16 bytes. */
int wire_get_addr6(const ProtobufCBinaryData *in, struct in6_addr *out);
/* A node address as the wire carries it, a fixed32 for IPv4 and 16 bytes
 * for IPv6 (Hello node_ip/node_ip6, PeerInfo addr/addr6, and the control
 * protocol's the same way): 0 with *out set (zero-filled when both are
 * absent), -EBADMSG when v6 is neither empty nor 16 bytes, or both are
 * set. */
int wire_get_nodeaddr(uint32_t v4, const ProtobufCBinaryData *v6, struct nodeaddr *out);
/* The pair of fields carrying addr (the other left empty); v6 points into
 * addr, which must outlive it. */
void wire_put_nodeaddr(const struct nodeaddr *addr, uint32_t *v4, ProtobufCBinaryData *v6);

#endif
