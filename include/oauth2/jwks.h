/*
 * jwks.h - public signing keys: a JWK Set (RFC 7517) or a PEM public key
 * turned into OpenSSL EVP_PKEYs, and the lookup the JWS verifier uses.
 * Only public keys: a JWK carrying private or symmetric members is refused.
 */
#ifndef OAUTH2_JWKS_H
#define OAUTH2_JWKS_H

#include <jansson.h>
#include <openssl/evp.h>

#include "oauth2/oauth2.h"

/* Hard caps on a JWKS document from outside. */
#define OAUTH2_JWKS_MAX_BYTES (256 * 1024)
#define OAUTH2_JWKS_MAX_KEYS 64

typedef enum {
    OAUTH2_KTY_NONE = 0,
    OAUTH2_KTY_RSA,
    OAUTH2_KTY_EC,
    OAUTH2_KTY_OKP
} oauth2_kty_t;

/*
 * One usable public key. Strings and the EVP_PKEY belong to the pool the
 * key was parsed into (the EVP_PKEY is freed by a cleanup on that pool).
 */
typedef struct oauth2_jwk_t {
    oauth2_kty_t kty;
    const char *kid; /* or NULL */
    const char *alg; /* or NULL: any alg matching kty/crv */
    const char *use; /* or NULL; only "sig" keys are used for JWS */
    const char *crv; /* "P-256", "P-384", "P-521", "Ed25519"; NULL for RSA */
    int bits;        /* RSA modulus / EC field size in bits */
    EVP_PKEY *pkey;
    /* Verification contexts set up once per alg when the key is parsed
     * (oauth2_jws_prepare_key), read-only afterwards; NULL entries (or a
     * NULL array) mean: set one up per verification. */
    EVP_MD_CTX **prepared;
} oauth2_jwk_t;

typedef struct oauth2_jwks_t {
    oauth2_jwk_t *keys;
    int nkeys;
    /* Set for a configured key (PEM): it answers any kid the token names. */
    int any_kid;
} oauth2_jwks_t;

/*
 * Parse one JWK object into `out`, allocating in `owner` (which also owns
 * the EVP_PKEY). OK; NOT_FOUND for a kty/crv we do not support (skip it);
 * DENIED for a key we must not use: private or symmetric members, RSA below
 * 2048 bits, an EC point off its curve, bad base64url.
 */
oauth2_status_t oauth2_jwk_parse(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                 const json_t *jwk, oauth2_jwk_t *out);

/*
 * Parse a JWK Set document. The result and every EVP_PKEY live in `owner`,
 * which may be a long-lived cache pool distinct from ctx->pool (scratch
 * work uses ctx->pool). Unsupported keys are skipped with a debug line; a
 * key with private members refuses the whole set (the provider is leaking
 * secrets). DENIED on size/format errors or when no usable key remains.
 */
oauth2_status_t oauth2_jwks_parse(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                  const char *json, size_t len,
                                  oauth2_jwks_t **out);

/*
 * A one-key set from a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) in memory or
 * in a file; the key answers any kid (any_kid). Same key rules as JWKs.
 * DENIED on a bad or weak key, ERROR when the file cannot be read.
 */
oauth2_status_t oauth2_jwks_from_pem(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                     const char *pem, size_t len,
                                     oauth2_jwks_t **out);
oauth2_status_t oauth2_jwks_from_pem_file(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                          const char *path,
                                          oauth2_jwks_t **out);

/*
 * Iterate the keys of `jwks` that match: `kid` (NULL = any; a key without a
 * kid never matches a kid unless any_kid), `kty` (NONE = any) and `crv`
 * (NULL = any). Start with *pos = 0; returns NULL when exhausted.
 */
const oauth2_jwk_t *oauth2_jwks_next(const oauth2_jwks_t *jwks, const char *kid,
                                     oauth2_kty_t kty, const char *crv,
                                     int *pos);

/* "RSA", "EC", "OKP" or "none". */
const char *oauth2_kty_name(oauth2_kty_t kty);

#endif /* OAUTH2_JWKS_H */
