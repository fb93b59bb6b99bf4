/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: peer protocol framing: the peer protocol's face of the shared frame
 * codec (src/frame.c), typed to NsaPeer__Envelope. The byte layout and its
 * invariants (length checked before any allocation, nothing consumed on a
 * partial frame) live in frame.c, once for every stream protocol. */
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
