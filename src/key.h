/*
 * key: the shared secret of --key FILE.  The file holds at least 32 bytes
 * (contmig keygen writes 32 random ones in hex); the channel key is their
 * BLAKE2b hash, so any such secret serves.  The command layer reports.
 */
#ifndef CONTMIG_KEY_H
#define CONTMIG_KEY_H

#include <stdint.h>

#include "channel.h"

#define KEY_MIN_BYTES	32

/* Load the key or say why not (one line) and return an exit status. */
int key_load(const char *cmd, const char *path, uint8_t key[CHANNEL_KEY_BYTES]);

#endif
