/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the config file reader. The input is the text of a
 * config file (read through libinih exactly as from disk, via a memfd);
 * loading must fail cleanly or produce a config that validates or is
 * refused with a message, and whose printed form loads back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nsagent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *cfg;
	struct cfg_error err;
	char path[64];
	int fd;

	if (size > 64 * 1024)
		return 0;
	fd = memfd_create("fuzz.conf", 0);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cfg = cfg_new();
	if (cfg_load_file(cfg, path, &err) == 0 && cfg_validate(cfg, &err) == 0) {
		/* a valid config prints to text that loads back the same */
		char *text = NULL, *again = NULL;
		size_t len = 0, len2 = 0;
		FILE *out = open_memstream(&text, &len);
		struct cfg *copy = cfg_new();
		int fd2 = memfd_create("fuzz2.conf", 0);

		cfg_print(cfg, out);
		fclose(out);
		if (write(fd2, text, len) != (ssize_t)len)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd2);
		if (cfg_load_file(copy, path, &err) != 0)
			abort();
		out = open_memstream(&again, &len2);
		cfg_print(copy, out);
		fclose(out);
		if (len != len2 || memcmp(text, again, len) != 0)
			abort();
		free(text);
		free(again);
		cfg_free(copy);
		close(fd2);
	}
	cfg_free(cfg);
	close(fd);
	return 0;
}
