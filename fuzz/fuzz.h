/* Shared by the fuzz harnesses and their replay driver. */
#ifndef CONTMIG_FUZZ_H
#define CONTMIG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A readable fd holding exactly data (a memfd, at offset 0), or -1. */
int fuzz_fd(const uint8_t *data, size_t size);

/* How many program headers the image at data says it has (e_phnum, or with
 * PN_XNUM section header 0's sh_info), and where they start; 0 if it cannot
 * say. */
size_t fuzz_phnum(const uint8_t *data, size_t size, size_t *phoff);

/* Make the image's head sum match its head, when the note can be found, so
 * that a mutated image gets past that check to the ones behind it. */
void fuzz_repair_head_sum(uint8_t *data, size_t size);

#endif
