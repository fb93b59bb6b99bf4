/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The node's WireGuard key pair (src/wgkey.c): X25519 against RFC 7748's
 * test vector (so the public key is the one every WireGuard computes),
 * and against wg(8) itself when it is installed (wireguard-tools, a
 * client nobody here wrote); the key file: made at first start with
 * mode 0600 and loaded unchanged after, a wrong mode or a file without a
 * key refused with the file named (never replaced by a new key), the
 * display forms (base64 as wg shows keys, hex as the UAPI takes them). */
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

#include "nsagent/wgkey.h"
#include "tmpdir.h"

static char dir[] = "/tmp/nsagent-wgkey-test.XXXXXX";

static void hex_key(const char *hex, uint8_t key[WGKEY_LEN])
{
	assert_int_equal(wgkey_from_hex(hex, strlen(hex), key), 0);
}

/* RFC 7748 6.1: Alice's private key and public key. */
static void test_rfc7748_vector(void **st)
{
	uint8_t priv[WGKEY_LEN], pub[WGKEY_LEN], want[WGKEY_LEN];
	char hex[WGKEY_HEX_LEN];

	(void)st;
	hex_key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", priv);
	hex_key("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want);
	assert_int_equal(wgkey_public(priv, pub), 0);
	assert_memory_equal(pub, want, WGKEY_LEN);
	wgkey_hex(pub, hex);
	assert_string_equal(hex,
			    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	/* hex: exactly 64 digits, any case */
	assert_int_equal(wgkey_from_hex(hex, 63, pub), -EINVAL);
	hex[7] = 'g';
	assert_int_equal(wgkey_from_hex(hex, 64, pub), -EINVAL);
	assert_int_equal(
	    wgkey_from_hex("8520F0098930A754748B7DDCB43EF75A0DBF3A0D26381AF4EBA4A98EAA9B4E6A", 64,
			   pub),
	    0);
	assert_memory_equal(pub, want, WGKEY_LEN);
}

static void test_generate(void **st)
{
	struct wgkey_pair a, b;
	uint8_t pub[WGKEY_LEN];
	char msg[256], text[WGKEY_B64_LEN];

	(void)st;
	assert_int_equal(wgkey_generate(&a, msg, sizeof(msg)), 0);
	assert_int_equal(wgkey_generate(&b, msg, sizeof(msg)), 0);
	assert_memory_not_equal(a.private_key, b.private_key, WGKEY_LEN);
	assert_int_equal(wgkey_public(a.private_key, pub), 0);
	assert_memory_equal(pub, a.public_key, WGKEY_LEN);
	assert_false(wgkey_is_zero(a.public_key));
	wgkey_base64(a.public_key, text);
	assert_int_equal(strlen(text), 44);
	assert_int_equal(text[43], '=');
	assert_int_equal(wgkey_from_base64(text, pub), 0);
	assert_memory_equal(pub, a.public_key, WGKEY_LEN);
	wgkey_wipe(&a);
	assert_true(wgkey_is_zero(a.private_key));
}

static void test_key_file(void **st)
{
	struct wgkey_pair first, again;
	char path[256], msg[512], text[128];
	struct stat sb;
	int created;
	FILE *f;

	(void)st;
	snprintf(path, sizeof(path), "%s/%s", dir, WGKEY_FILE_NAME);
	assert_int_equal(wgkey_load_or_create(dir, &first, &created, msg, sizeof(msg)), 0);
	assert_true(created);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* one line of base64 of the private key, as `wg genkey` prints */
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_int_equal(strlen(text), 45);
	assert_int_equal(wgkey_load_or_create(dir, &again, &created, msg, sizeof(msg)), 0);
	assert_false(created);
	assert_memory_equal(again.private_key, first.private_key, WGKEY_LEN);
	assert_memory_equal(again.public_key, first.public_key, WGKEY_LEN);

	/* readable by others: refused, naming the file; the key is kept */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(wgkey_load_or_create(dir, &again, &created, msg, sizeof(msg)), -EPERM);
	assert_non_null(strstr(msg, path));
	assert_non_null(strstr(msg, "0644"));
	assert_non_null(strstr(msg, "WireGuard"));
	assert_false(created);
	/* corrupt: refused, naming the file, never replaced */
	write_file(path, "not a key\n", 0600);
	assert_int_equal(wgkey_load_or_create(dir, &again, &created, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, path));
	assert_non_null(strstr(msg, "wg genkey"));
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "not a key\n");
	/* rotation's save replaces it whole */
	assert_int_equal(wgkey_save(dir, &first, msg, sizeof(msg)), 0);
	assert_int_equal(wgkey_load_or_create(dir, &again, &created, msg, sizeof(msg)), 0);
	assert_memory_equal(again.public_key, first.public_key, WGKEY_LEN);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
}

/* wg(8) computes the same public key from our key file. */
static void test_against_wg(void **st)
{
	struct wgkey_pair pair;
	char cmd[512], out[128], ours[WGKEY_B64_LEN];
	int created;
	FILE *p;

	(void)st;
	if (access("/usr/bin/wg", X_OK) != 0) {
		print_message("wg(8) not installed (wireguard-tools): skipped\n");
		skip();
	}
	assert_int_equal(wgkey_load_or_create(dir, &pair, &created, cmd, sizeof(cmd)), 0);
	snprintf(cmd, sizeof(cmd), "/usr/bin/wg pubkey < %s/%s", dir, WGKEY_FILE_NAME);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, sizeof(out), p));
	assert_int_equal(pclose(p), 0);
	out[strcspn(out, "\n")] = '\0';
	wgkey_base64(pair.public_key, ours);
	assert_string_equal(out, ours);
}

TMPDIR_GROUP_FIXTURES(dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7748_vector),
	    cmocka_unit_test(test_generate),
	    cmocka_unit_test(test_key_file),
	    cmocka_unit_test(test_against_wg),
	};

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
