/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The node's WireGuard key pair (issue 19): X25519, made with OpenSSL at
 * first start and kept in the state dir as WGKEY_FILE_NAME, mode 0600,
 * one line of base64 of the private key (what `wg genkey` prints, so
 * `wg pubkey < wireguard.key` shows the public key). The private key never
 * leaves this module and the WireGuard device's UAPI socket: it is never
 * logged, never in status. A file with a wrong mode or that holds no key
 * is an error naming the file, not a reason to make a new key: peers know
 * the old public key, and silently replacing it would hide a broken disk
 * or a careless chmod. */
#ifndef NSAGENT_WGKEY_H
#define NSAGENT_WGKEY_H

#include <stddef.h>
#include <stdint.h>

#define WGKEY_LEN 32
/* base64 of WGKEY_LEN bytes with '=' padding, plus NUL: as `wg` shows keys */
#define WGKEY_B64_LEN 45
/* lower-case hex of WGKEY_LEN bytes, plus NUL: as the UAPI takes keys */
#define WGKEY_HEX_LEN 65
#define WGKEY_FILE_NAME "wireguard.key"

struct wgkey_pair {
	uint8_t private_key[WGKEY_LEN];
	uint8_t public_key[WGKEY_LEN];
};

/* A fresh pair (EVP_PKEY_X25519). 0 or -EIO, with msg saying why. */
int wgkey_generate(struct wgkey_pair *pair, char *msg, size_t size);
/* The public key of private_key. 0 or -EINVAL. */
int wgkey_public(const uint8_t private_key[WGKEY_LEN], uint8_t public_key[WGKEY_LEN]);
/* Loads dir/WGKEY_FILE_NAME; when there is none (and only then), makes a
 * pair and saves it (*created set). A wrong mode or owner, or a file that
 * holds no key: a negative errno and msg naming the file. */
int wgkey_load_or_create(const char *dir, struct wgkey_pair *pair, int *created, char *msg,
			 size_t size);
/* Replaces dir/WGKEY_FILE_NAME with pair's private key, atomically
 * (persist_write: temp file 0600, fsync, rename). */
int wgkey_save(const char *dir, const struct wgkey_pair *pair, char *msg, size_t size);
void wgkey_wipe(struct wgkey_pair *pair);

void wgkey_base64(const uint8_t key[WGKEY_LEN], char out[WGKEY_B64_LEN]);
int wgkey_from_base64(const char *text, uint8_t key[WGKEY_LEN]);
void wgkey_hex(const uint8_t key[WGKEY_LEN], char out[WGKEY_HEX_LEN]);
/* Exactly 64 hex digits. 0 or -EINVAL. */
int wgkey_from_hex(const char *text, size_t len, uint8_t key[WGKEY_LEN]);
/* An all-zero key is no key (what wireguard-go reports for none). */
int wgkey_is_zero(const uint8_t key[WGKEY_LEN]);

#endif
