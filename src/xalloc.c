/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: allocation wrappers; the only place that turns ENOMEM into fatal(). */
#include <stdlib.h>
#include <string.h>

#include "nsagent/log.h"
#include "nsagent/xalloc.h"

static void *check(void *ptr, size_t size)
{
	if (!ptr && size)
		fatal("out of memory allocating %zu bytes", size);
	return ptr;
}

void *xmalloc(size_t size)
{
	return check(malloc(size), size);
}

void *xcalloc(size_t n, size_t size)
{
	return check(calloc(n, size), n * size);
}

void *xrealloc(void *ptr, size_t size)
{
	return check(realloc(ptr, size), size);
}

void *xreallocarray(void *ptr, size_t n, size_t size)
{
	return check(reallocarray(ptr, n, size), n * size);
}

char *xstrdup(const char *s)
{
	return check(strdup(s), strlen(s) + 1);
}
