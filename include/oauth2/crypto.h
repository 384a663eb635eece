/*
 * crypto.h - key derivation and authenticated encryption for sessions and
 * cookies: HKDF-SHA256 and AES-256-GCM with associated data, behind a key
 * ring of the current and the previous passphrase (rotation without logging
 * everybody out).
 *
 * Sealed format: "v1." base64url(iv[12] | ciphertext | tag[16]), unpadded.
 * A seal always uses the current passphrase; an open tries the current, then
 * the previous one. Any tampering, truncation, wrong key or wrong associated
 * data is DENIED with a reason; nothing here tells which region was wrong.
 */
#ifndef OAUTH2_CRYPTO_H
#define OAUTH2_CRYPTO_H

#include <stddef.h>

#include "oauth2/oauth2.h"

#define OAUTH2_CRYPTO_KEY_LEN 32
#define OAUTH2_CRYPTO_IV_LEN 12
#define OAUTH2_CRYPTO_TAG_LEN 16
#define OAUTH2_CRYPTO_PREFIX "v1."
/* Sealed values longer than this are refused before decoding. */
#define OAUTH2_CRYPTO_MAX_SEALED (1024 * 1024)

/* Passphrases are NUL-terminated secrets; previous may be NULL. */
typedef struct oauth2_crypto_keyring_t {
    const char *current;
    const char *previous;
} oauth2_crypto_keyring_t;

/*
 * HKDF-SHA256 (RFC 5869) of `ikm` with `salt` (may be empty) and the
 * context string `info` into out[outlen]. ERROR if OpenSSL fails.
 */
oauth2_status_t oauth2_crypto_hkdf(oauth2_ctx_t *ctx, const void *ikm,
                                   size_t ikmlen, const void *salt,
                                   size_t saltlen, const char *info,
                                   unsigned char *out, size_t outlen);

/*
 * AES-256-GCM with a random 96-bit IV under a raw 32-byte key; `aad` binds
 * the value to its context (may be empty). *out ("v1.…") in ctx->pool.
 */
oauth2_status_t oauth2_crypto_aead_seal(oauth2_ctx_t *ctx,
                                        const unsigned char *key,
                                        const void *aad, size_t aadlen,
                                        const void *pt, size_t ptlen,
                                        char **out);

/*
 * Inverse of oauth2_crypto_aead_seal. On OK *pt (NUL-terminated, *ptlen
 * without it) is in ctx->pool. DENIED with ctx->err for anything that does
 * not authenticate or parse.
 */
oauth2_status_t oauth2_crypto_aead_open(oauth2_ctx_t *ctx,
                                        const unsigned char *key,
                                        const void *aad, size_t aadlen,
                                        const char *in, size_t inlen,
                                        unsigned char **pt, size_t *ptlen);

/*
 * Seal under key = HKDF(ring->current, salt, info). The derived key is
 * cleansed before return. ERROR when the ring has no current passphrase.
 */
oauth2_status_t oauth2_crypto_seal(oauth2_ctx_t *ctx,
                                   const oauth2_crypto_keyring_t *ring,
                                   const void *salt, size_t saltlen,
                                   const char *info, const void *aad,
                                   size_t aadlen, const void *pt, size_t ptlen,
                                   char **out);

/* Open with the current passphrase, then the previous one. */
oauth2_status_t oauth2_crypto_open(oauth2_ctx_t *ctx,
                                   const oauth2_crypto_keyring_t *ring,
                                   const void *salt, size_t saltlen,
                                   const char *info, const void *aad,
                                   size_t aadlen, const char *in, size_t inlen,
                                   unsigned char **pt, size_t *ptlen);

#endif /* OAUTH2_CRYPTO_H */
