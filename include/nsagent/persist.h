/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Files in the state dir (state.json, namespaces.json): written whole and
 * atomically, moved aside (never overwritten) when they cannot be read, and
 * every failed write counted, so that an operator sees a disk problem in
 * status and metrics instead of only in the log. */
#ifndef NSAGENT_PERSIST_H
#define NSAGENT_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Corrupt copies kept per file (PATH.corrupt.N); older ones are removed. */
#define PERSIST_CORRUPT_KEEP 5

/* Replaces path (in dir) with text and a newline: PATH.tmp (mode 0600),
 * fsync, rename over path, fsync of dir. Every failure is logged with the
 * file, the step and the system's words, counted, and returned as a
 * negative errno; the temp file is removed. A failed directory sync is
 * returned too: path then holds the new text but may lose it to a crash. */
int persist_write(const char *dir, const char *path, const char *text);

/* persist_write, with sync false: no fsync of the file nor of dir. The
 * file is still replaced whole (rename), but a power cut may leave the old
 * text, or an empty file, in its place: for a copy whose loss costs
 * nothing the main file does not hold. */
int persist_write_sync(const char *dir, const char *path, const char *text, bool sync);

/* Renames path to PATH.corrupt.N, N one past the highest copy there is, so
 * no earlier copy is overwritten, then removes the oldest copies beyond
 * PERSIST_CORRUPT_KEEP. aside gets the new name. Returns 0 or a negative
 * errno (logged; path is then left where it is). */
int persist_move_aside(const char *path, char *aside, size_t size);

/* Failed persist_write calls since the process started (one agent per
 * process, like the metrics registry). */
uint64_t persist_save_errors(void);

#endif
