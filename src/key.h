/*
 * key: the shared secret of --key FILE.  The file holds 32 to 4096 bytes:
 * contmig keygen's 32 random bytes in hex are the key itself; any other
 * secret is stretched with Argon2id.  The command layer reports.
 */
#ifndef CONTMIG_KEY_H
#define CONTMIG_KEY_H

#include <stdint.h>

#include "channel.h"

#define KEY_MIN_BYTES	32

/* Load the key or say why not (one line) and return an exit status. */
int key_load(const char *cmd, const char *path, uint8_t key[CHANNEL_KEY_BYTES]);

#endif
