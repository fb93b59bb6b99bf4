/* The cluster key: generation, parsing and the key file checks (owner,
 * mode, type, content), each refusal explained. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "nsagent/tls.h"

static char dir[] = "/tmp/nsagent-tls-test.XXXXXX";

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_generate_parse(void **st)
{
	char a[TLS_KEY_TEXT_LEN], b[TLS_KEY_TEXT_LEN], line[TLS_KEY_TEXT_LEN + 8];
	uint8_t key[TLS_KEY_LEN];
	struct tls_ctx *ctx;

	(void)st;
	assert_int_equal(tls_key_generate(a), 0);
	assert_int_equal(tls_key_generate(b), 0);
	assert_int_equal(strlen(a), TLS_KEY_TEXT_LEN - 1);
	assert_string_not_equal(a, b);
	assert_int_equal(tls_key_parse(a, key), 0);
	snprintf(line, sizeof(line), "  %s\n", a);
	assert_int_equal(tls_key_parse(line, key), 0);
	assert_int_equal(tls_ctx_new(key, &ctx), 0);
	tls_ctx_free(ctx);
	/* wrong length, junk, trailing garbage */
	assert_int_equal(tls_key_parse("c2hvcnQ=", key), -EINVAL);
	assert_int_equal(tls_key_parse("", key), -EINVAL);
	snprintf(line, sizeof(line), "%s x", a);
	assert_int_equal(tls_key_parse(line, key), -EINVAL);
	memcpy(line, a, sizeof(a));
	line[5] = '*';
	assert_int_equal(tls_key_parse(line, key), -EINVAL);
}

static void test_key_file(void **st)
{
	char path[256], msg[512], text[TLS_KEY_TEXT_LEN + 1];
	uint8_t key[TLS_KEY_LEN];

	(void)st;
	assert_int_equal(tls_key_generate(text), 0);
	strcat(text, "\n");
	snprintf(path, sizeof(path), "%s/key", dir);
	write_file(path, text, 0600);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), 0);
	write_file(path, text, 0400);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), 0);
	/* readable by others: refused, and the message says how to fix it */
	write_file(path, text, 0644);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EPERM);
	assert_non_null(strstr(msg, "mode 0644"));
	assert_non_null(strstr(msg, "0600"));
	write_file(path, text, 0640);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EPERM);
	/* owned by someone else (only root can make that happen) */
	if (geteuid() == 0) {
		write_file(path, text, 0600);
		assert_int_equal(chown(path, 1234, 0), 0);
		assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EPERM);
		assert_non_null(strstr(msg, "owned by uid 1234"));
		unlink(path);
	}
	/* not a key */
	write_file(path, "hunter2\n", 0600);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "nsagent genkey"));
	/* missing, a directory, a symlink */
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -ENOENT);
	assert_int_equal(tls_key_load(dir, key, msg, sizeof(msg)), -EINVAL);
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink("key", path), 0);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -ELOOP);
}

static int setup(void **st)
{
	(void)st;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
	char cmd[300];

	(void)st;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_parse),
	    cmocka_unit_test(test_key_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
