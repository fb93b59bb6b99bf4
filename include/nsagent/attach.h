/* Bounds of a CNI attachment's identity, shared by the control protocol,
 * the address allocator, the kernel layer and the status model. The CNI
 * specification sets none; runtimes use 64 hex digits for a container id
 * and short netns paths (/run/netns/cni-UUID, /proc/PID/ns/net). */
#ifndef NSAGENT_ATTACH_H
#define NSAGENT_ATTACH_H

#define ATTACH_ID_MAX 128    /* CNI_CONTAINERID, characters */
#define ATTACH_NETNS_MAX 255 /* CNI_NETNS, characters */

#endif
