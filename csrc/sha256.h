/* sha256.h - SHA-256 (FIPS 180-4), used to verify model-file checksums.
 * Incremental interface plus one-shot helpers; no globals, thread-safe. */
#ifndef ACELIN_SHA256_H
#define ACELIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ACELIN_SHA256_DIGEST 32 /* bytes */
#define ACELIN_SHA256_HEX 65    /* 64 lowercase hex characters + NUL */

typedef struct {
    uint32_t h[8];          /* running hash value H(i) */
    uint64_t n_bytes;       /* message length so far */
    unsigned char block[64];/* pending partial block */
    size_t fill;            /* bytes used in block */
} acelin_sha256_ctx;

void acelin_sha256_init(acelin_sha256_ctx *ctx);
void acelin_sha256_update(acelin_sha256_ctx *ctx, const void *data, size_t n);
void acelin_sha256_final(acelin_sha256_ctx *ctx, unsigned char digest[ACELIN_SHA256_DIGEST]);

void acelin_sha256(const void *data, size_t n, unsigned char digest[ACELIN_SHA256_DIGEST]);
void acelin_sha256_hex(const void *data, size_t n, char hex[ACELIN_SHA256_HEX]);

#ifdef __cplusplus
}
#endif
#endif /* ACELIN_SHA256_H */
