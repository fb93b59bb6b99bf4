/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: writing the state dir's files.
 *
 * Owns the one way a persisted file is replaced (temp file, fsync, rename,
 * fsync of the directory) and the one way an unreadable file is put aside.
 * Invariants: a file is always either its previous or its new complete
 * version; a corrupt file is renamed, never overwritten nor deleted, except
 * that only the newest PERSIST_CORRUPT_KEEP copies of one file are kept so
 * that a file corrupted on every start cannot fill the disk; every failed
 * write is logged where it happened and counted, since callers deep in the
 * session code can do no more than log it again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsagent/log.h"
#include "nsagent/persist.h"
#include "nsagent/xalloc.h"

static uint64_t save_errors;

uint64_t persist_save_errors(void)
{
	return save_errors;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int persist_write(const char *dir, const char *path, const char *text)
{
	return persist_write_sync(dir, path, text, true);
}

int persist_write_sync(const char *dir, const char *path, const char *text, bool sync)
{
	char *tmp = NULL;
	bool renamed = false;
	int fd = -1, dirfd = -1, ret;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		fatal("out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		log_error("cannot create %s: %s", tmp, strerror(-ret));
		goto out;
	}
	ret = write_all(fd, text, strlen(text));
	if (ret == 0)
		ret = write_all(fd, "\n", 1);
	/* A full disk may show only at fsync or close (delayed allocation). */
	if (ret == 0 && sync && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	fd = -1;
	if (ret < 0) {
		log_error("cannot write %s: %s", tmp, strerror(-ret));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		ret = -errno;
		log_error("cannot rename %s to %s: %s", tmp, path, strerror(-ret));
		goto out;
	}
	renamed = true;
	if (!sync)
		goto out;
	/* The rename itself must reach the disk for the new file to survive a
	 * power cut. */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fsync(dirfd) < 0) {
		ret = -errno;
		log_error("cannot sync directory %s after replacing %s (the new file may not "
			  "survive a crash): %s",
			  dir, path, strerror(-ret));
		goto out;
	}
out:
	if (ret < 0) {
		save_errors++;
		if (!renamed)
			unlink(tmp);
	}
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	free(tmp);
	return ret;
}

static int compare_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return (x > y) - (x < y);
}

/* The N of every "BASE.corrupt.N" in dir, ascending. */
static int list_copies(const char *dir, const char *base, unsigned long **out, size_t *n_out)
{
	size_t base_len = strlen(base), n = 0;
	unsigned long *numbers = NULL;
	struct dirent *entry;
	DIR *d = opendir(dir);

	*out = NULL;
	*n_out = 0;
	if (!d)
		return -errno;
	while ((entry = readdir(d))) {
		const char *suffix = entry->d_name + base_len;
		char *end;
		unsigned long number;

		if (strncmp(entry->d_name, base, base_len) != 0 ||
		    strncmp(suffix, ".corrupt.", 9) != 0 || suffix[9] < '0' || suffix[9] > '9')
			continue;
		errno = 0;
		number = strtoul(suffix + 9, &end, 10);
		if (*end || errno)
			continue;
		numbers = xreallocarray(numbers, n + 1, sizeof(*numbers));
		numbers[n++] = number;
	}
	closedir(d);
	if (n)
		qsort(numbers, n, sizeof(*numbers), compare_ulong);
	*out = numbers;
	*n_out = n;
	return 0;
}

int persist_move_aside(const char *path, char *aside, size_t size)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash	    ? xstrdup(".")
		    : slash == path ? xstrdup("/")
				    : strndup(path, (size_t)(slash - path));
	const char *base = slash ? slash + 1 : path;
	unsigned long *numbers = NULL;
	size_t n = 0, removed = 0;
	int ret;

	if (!dir)
		fatal("out of memory");
	aside[0] = '\0';
	ret = list_copies(dir, base, &numbers, &n);
	if (ret < 0) {
		log_error("cannot list %s to name a copy of corrupt %s: %s", dir, path,
			  strerror(-ret));
		goto out;
	}
	snprintf(aside, size, "%s.corrupt.%lu", path, n ? numbers[n - 1] + 1 : 1);
	/* NOREPLACE: a copy made meanwhile by another process is not lost. */
	if (renameat2(AT_FDCWD, path, AT_FDCWD, aside, RENAME_NOREPLACE) < 0 &&
	    (errno != EINVAL || rename(path, aside) < 0)) {
		ret = -errno;
		log_error("cannot move corrupt %s to %s: %s", path, aside, strerror(-ret));
		aside[0] = '\0';
		goto out;
	}
	/* With the new copy there are n + 1; the oldest go first. */
	while (n + 1 - removed > PERSIST_CORRUPT_KEEP) {
		char *old = NULL;

		if (asprintf(&old, "%s.corrupt.%lu", path, numbers[removed]) < 0)
			fatal("out of memory");
		if (unlink(old) < 0)
			log_warn("cannot remove old corrupt copy %s: %s", old, strerror(errno));
		else
			log_info("removed %s (only the newest %d corrupt copies are kept)", old,
				 PERSIST_CORRUPT_KEEP);
		free(old);
		removed++;
	}
out:
	free(numbers);
	free(dir);
	return ret;
}
