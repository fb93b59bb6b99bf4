/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A temporary directory for one unit test program: made by its group
 * setup (template ending in XXXXXX, filled in place), removed with all it
 * holds by its teardown; and files written into it with a given mode.
 * Include after cmocka.h. */
#ifndef NSAGENT_TEST_TMPDIR_H
#define NSAGENT_TEST_TMPDIR_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* path holds text, with mode (chmod: the umask does not apply). */
static inline void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static inline int tmpdir_make(char *template)
{
	return mkdtemp(template) ? 0 : -1;
}

static inline int tmpdir_remove(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The group setup and teardown (tmpdir_setup, tmpdir_teardown) of a
 * program whose directory is the template dir. */
#define TMPDIR_GROUP_FIXTURES(dir)                                                                 \
	static int tmpdir_setup(void **st)                                                         \
	{                                                                                          \
		(void)st;                                                                          \
		return tmpdir_make(dir);                                                           \
	}                                                                                          \
	static int tmpdir_teardown(void **st)                                                      \
	{                                                                                          \
		(void)st;                                                                          \
		return tmpdir_remove(dir);                                                         \
	}

#endif
