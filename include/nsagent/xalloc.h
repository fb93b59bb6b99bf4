/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Allocation that cannot fail: out of memory is fatal for a daemon this size. */
#ifndef NSAGENT_XALLOC_H
#define NSAGENT_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);

#endif
