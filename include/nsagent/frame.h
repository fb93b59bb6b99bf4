/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Length-prefixed protobuf frames: a 4-byte big-endian payload length, then
 * one packed message. The control protocol (proto/ctl.proto) uses these
 * directly; they take a message descriptor so that the peer protocol's
 * wire_read/wire_write can become thin wrappers over the same pair. The
 * length is checked against FRAME_MAX before anything is allocated. */
#ifndef NSAGENT_FRAME_H
#define NSAGENT_FRAME_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct evbuffer;

#define FRAME_HEADER_LEN 4
/* Largest payload (the packed message, header excluded). */
#define FRAME_MAX (64 * 1024)

/* Takes one frame off the front of in and unpacks it as desc.
 *   1          *out holds the message (free with protobuf_c_message_free_unpacked);
 *   0          not a whole frame yet: nothing consumed;
 *   -EMSGSIZE  the announced length is over FRAME_MAX (*len_out says how long);
 *   -EBADMSG   zero length, or the payload is not a valid desc message.
 * After an error the stream cannot be resynchronised. len_out may be NULL. */
int frame_read(struct evbuffer *in, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
	       size_t *len_out);

/* Appends one framed message. -EMSGSIZE over FRAME_MAX (nothing appended),
 * -EINVAL when it packs to nothing, -ENOMEM when the buffer refuses it. */
int frame_write(struct evbuffer *out, const ProtobufCMessage *message);

#endif
