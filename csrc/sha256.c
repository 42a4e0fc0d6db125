/* sha256.c - SHA-256 written from the FIPS 180-4 description (sections 4.1.2, 4.2.2,
 * 5.1.1, 5.3.3, 6.2). Byte order is handled explicitly, so the result does not depend
 * on the host's endianness. */
#include <string.h>

#include "sha256.h"

/* 4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes */
static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

/* 5.3.3: first 32 bits of the fractional parts of the square roots of the first 8 primes */
static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                               0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

/* 4.1.2 */
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (rotr((x), 2) ^ rotr((x), 13) ^ rotr((x), 22))
#define BSIG1(x) (rotr((x), 6) ^ rotr((x), 11) ^ rotr((x), 25))
#define SSIG0(x) (rotr((x), 7) ^ rotr((x), 18) ^ ((x) >> 3))
#define SSIG1(x) (rotr((x), 17) ^ rotr((x), 19) ^ ((x) >> 10))

/* 6.2.2: one 512-bit block */
static void compress(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; ++t)  /* message words are big-endian */
        w[t] = ((uint32_t)p[4 * t] << 24) | ((uint32_t)p[4 * t + 1] << 16) |
               ((uint32_t)p[4 * t + 2] << 8) | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; ++t)
        w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; ++t) {
        uint32_t t1 = k + BSIG1(e) + CH(e, f, g) + K[t] + w[t];
        uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
        k = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void acelin_sha256_init(acelin_sha256_ctx *ctx)
{
    memcpy(ctx->h, H0, sizeof(H0));
    ctx->n_bytes = 0;
    ctx->fill = 0;
}

void acelin_sha256_update(acelin_sha256_ctx *ctx, const void *data, size_t n)
{
    const unsigned char *p = data;
    if (n == 0) return; /* data may be NULL then */
    ctx->n_bytes += n;
    if (ctx->fill) { /* top up the pending block first */
        size_t take = 64 - ctx->fill < n ? 64 - ctx->fill : n;
        memcpy(ctx->block + ctx->fill, p, take);
        ctx->fill += take;
        p += take;
        n -= take;
        if (ctx->fill < 64) return;
        compress(ctx->h, ctx->block);
        ctx->fill = 0;
    }
    for (; n >= 64; p += 64, n -= 64) compress(ctx->h, p);
    memcpy(ctx->block, p, n);
    ctx->fill = n;
}

void acelin_sha256_final(acelin_sha256_ctx *ctx, unsigned char digest[ACELIN_SHA256_DIGEST])
{
    /* 5.1.1: append bit '1', zeros up to 56 mod 64 bytes, then the length in bits (64-bit BE) */
    const uint64_t bits = ctx->n_bytes * 8u;
    ctx->block[ctx->fill++] = 0x80;
    if (ctx->fill > 56) {
        memset(ctx->block + ctx->fill, 0, 64 - ctx->fill);
        compress(ctx->h, ctx->block);
        ctx->fill = 0;
    }
    memset(ctx->block + ctx->fill, 0, 56 - ctx->fill);
    for (int i = 0; i < 8; ++i) ctx->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    compress(ctx->h, ctx->block);
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 4; ++j) digest[4 * i + j] = (unsigned char)(ctx->h[i] >> (24 - 8 * j));
    memset(ctx, 0, sizeof(*ctx)); /* a finalised context must be re-initialised before reuse */
}

void acelin_sha256(const void *data, size_t n, unsigned char digest[ACELIN_SHA256_DIGEST])
{
    acelin_sha256_ctx ctx;
    acelin_sha256_init(&ctx);
    acelin_sha256_update(&ctx, data, n);
    acelin_sha256_final(&ctx, digest);
}

void acelin_sha256_hex(const void *data, size_t n, char hex[ACELIN_SHA256_HEX])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[ACELIN_SHA256_DIGEST];
    acelin_sha256(data, n, d);
    for (int i = 0; i < ACELIN_SHA256_DIGEST; ++i) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}
