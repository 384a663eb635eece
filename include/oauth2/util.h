/*
 * util.h - small primitives every core module needs: strict base64url,
 * constant-time comparison, OpenSSL randomness, SHA-256, and bounded JSON
 * parsing. Nothing here allocates outside the pool it is given.
 */
#ifndef OAUTH2_UTIL_H
#define OAUTH2_UTIL_H

#include <stddef.h>
#include <jansson.h>

#include "oauth2/oauth2.h"

#define OAUTH2_SHA256_LEN 32

/* Unpadded base64url of `len` bytes, NUL-terminated, in `p`. */
char *oauth2_b64url_encode(apr_pool_t *p, const unsigned char *in, size_t len);

/*
 * Strict base64url decode (RFC 7515 section 2): no padding, no whitespace,
 * no characters outside [A-Za-z0-9_-], no length of 1 mod 4, and non-zero
 * unused trailing bits are refused (one encoding per value). The output is
 * NUL-terminated for convenience (not counted in *outlen). DENIED with
 * ctx->err set on bad input.
 */
oauth2_status_t oauth2_b64url_decode(oauth2_ctx_t *ctx, const char *in,
                                     size_t inlen, unsigned char **out,
                                     size_t *outlen);

/*
 * The same strict decode into a caller-owned buffer of `cap` bytes (no NUL
 * added), for secrets that must stay off the pool so the caller can
 * OPENSSL_cleanse them. DENIED when the value would not fit in `cap`; on
 * DENIED `out` may hold partial output (cleanse it anyway).
 */
oauth2_status_t oauth2_b64url_decode_into(oauth2_ctx_t *ctx, const char *in,
                                          size_t inlen, unsigned char *out,
                                          size_t cap, size_t *outlen);

/* Standard padded base64 (for HTTP Basic credentials). */
char *oauth2_b64_encode(apr_pool_t *p, const unsigned char *in, size_t len);

/*
 * Constant-time equality for secrets (state, nonce, MACs, verifiers).
 * Returns 1 only when both are non-NULL, the lengths are equal and the bytes
 * are; NULL never matches, not even NULL.
 */
int oauth2_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Cleanse n bytes of p, then free() it: for malloc()/strdup() memory and
 * jansson's dumps that held secrets (OpenSSL's own allocations go to
 * OPENSSL_clear_free). NULL is fine. */
void oauth2_cleanse_free(void *p, size_t n);

/* Fill `buf` from OpenSSL's CSPRNG; UNAVAILABLE if it cannot. */
oauth2_status_t oauth2_random_bytes(oauth2_ctx_t *ctx, unsigned char *buf,
                                    size_t len);

/* `nbytes` random bytes as base64url in ctx->pool; NULL on RNG failure. */
char *oauth2_random_b64url(oauth2_ctx_t *ctx, size_t nbytes);

/* SHA-256 of data into out: 1, or 0 (out zeroed) when OpenSSL could not
 * allocate; a caller keying anything on the digest must fail closed then. */
int oauth2_sha256(const void *data, size_t len,
                  unsigned char out[OAUTH2_SHA256_LEN]);

/* 1 when oauth2_sha256 allocates nothing (OpenSSL's low-level SHA-256,
 * used when the "default" provider would serve it anyway); 0 under FIPS or
 * another provider, where EVP allocates its state per hash. */
int oauth2_sha256_on_stack(void);

/* Lower-case hex of SHA-256(data), in `p`; NULL when hashing failed. */
char *oauth2_sha256_hex(apr_pool_t *p, const void *data, size_t len);

/* Limits for JSON that came from outside. */
typedef struct oauth2_json_limits_t {
    size_t max_bytes;   /* input longer than this is refused unparsed */
    int max_depth;      /* nesting of objects/arrays; 1 = flat object */
    size_t max_members; /* total members + array elements over the tree */
} oauth2_json_limits_t;

/* 64 KiB, depth 8, 512 members: enough for any token or metadata. */
extern const oauth2_json_limits_t oauth2_json_default_limits;

/*
 * Parse untrusted JSON text that must be an object, within `lim` (NULL for
 * the defaults), rejecting duplicate member names. On OK, *out is owned by
 * the caller (json_decref); a cleanup on ctx->pool is NOT registered.
 */
oauth2_status_t oauth2_json_parse_object(oauth2_ctx_t *ctx, const char *buf,
                                         size_t len,
                                         const oauth2_json_limits_t *lim,
                                         json_t **out);

/* Register json_decref(json) on pool `p`; returns json. */
json_t *oauth2_json_pool_own(apr_pool_t *p, json_t *json);

/* Undo oauth2_json_pool_own (of an object registered once on `p`): the
 * caller takes that reference over. */
void oauth2_json_pool_disown(apr_pool_t *p, json_t *json);

/* A string member or NULL (wrong type counts as absent). */
const char *oauth2_json_str(const json_t *obj, const char *key);

/*
 * Bounded decimal parse of [min, max]; the whole string must be digits
 * (optional leading '-'). Returns 0 on success, -1 otherwise.
 */
int oauth2_parse_int64(const char *s, long long min, long long max,
                       long long *out);

#endif /* OAUTH2_UTIL_H */
