/*
 * jose.h - compact JWS (RFC 7515) parsing and signature verification with
 * an explicit per-use algorithm allow-list. Only asymmetric algorithms
 * exist here: "none" and every HMAC algorithm are refused by construction,
 * so a public key can never be abused as an HMAC secret.
 */
#ifndef OAUTH2_JOSE_H
#define OAUTH2_JOSE_H

#include <jansson.h>

#include "oauth2/jwks.h"
#include "oauth2/oauth2.h"
#include "oauth2/util.h"

/* One bit per algorithm; an allow-list is an OR of these. */
#define OAUTH2_ALG_RS256 (1u << 0)
#define OAUTH2_ALG_RS384 (1u << 1)
#define OAUTH2_ALG_RS512 (1u << 2)
#define OAUTH2_ALG_PS256 (1u << 3)
#define OAUTH2_ALG_PS384 (1u << 4)
#define OAUTH2_ALG_PS512 (1u << 5)
#define OAUTH2_ALG_ES256 (1u << 6)
#define OAUTH2_ALG_ES384 (1u << 7)
#define OAUTH2_ALG_ES512 (1u << 8)
#define OAUTH2_ALG_EDDSA (1u << 9)
#define OAUTH2_ALG_ALL 0x3ffu

/* Default compact-token cap. */
#define OAUTH2_JWS_MAX_TOKEN (16 * 1024)

/* The bit of a JOSE alg name ("RS256"), or 0 if we never verify it. */
unsigned oauth2_jose_alg_bit(const char *name);

/* The JOSE name of one bit, or NULL. */
const char *oauth2_jose_alg_name(unsigned bit);

/*
 * Parse an allow-list such as "RS256,ES256" (commas and/or spaces). DENIED
 * with the offending name in ctx->err for an unknown name, "none", any
 * HS* or an empty list.
 */
oauth2_status_t oauth2_jose_algs_parse(oauth2_ctx_t *ctx, const char *list,
                                       unsigned *out);

typedef struct oauth2_jws_limits_t {
    size_t max_token;             /* whole compact serialization */
    oauth2_json_limits_t header;  /* protected header JSON */
    oauth2_json_limits_t payload; /* claims JSON */
} oauth2_jws_limits_t;

/* 16 KiB token; header depth 2 / 32 members; payload the JSON defaults. */
extern const oauth2_jws_limits_t oauth2_jws_default_limits;

/*
 * A parsed, NOT yet verified JWS. Everything lives in ctx->pool of the
 * parse call (the payload json_t is released by a cleanup on it).
 */
typedef struct oauth2_jws_t {
    const char *alg; /* always set and supported (alg_bit != 0) */
    unsigned alg_bit;
    const char *kid;           /* or NULL */
    const char *typ;           /* or NULL */
    json_t *payload;           /* the claims: an object */
    const char *signing_input; /* "<header>.<payload>" as received */
    size_t signing_input_len;
    unsigned char *sig;
    size_t sig_len;
} oauth2_jws_t;

/*
 * Parse a compact JWS with the default limits. DENIED with a precise
 * ctx->err on anything malformed or refused: not exactly 3 parts, bad
 * base64url, oversized, bad or too deep/large JSON, duplicate members, alg
 * missing/unsupported ("none", HS*), a jwk/jku/x5u/x5c header, any crit,
 * b64:false, a payload that is not a JSON object.
 */
oauth2_status_t oauth2_jws_parse(oauth2_ctx_t *ctx, const char *compact,
                                 size_t len, oauth2_jws_t **out);
oauth2_status_t oauth2_jws_parse_ex(oauth2_ctx_t *ctx, const char *compact,
                                    size_t len, const oauth2_jws_limits_t *lim,
                                    oauth2_jws_t **out);

/*
 * Verify the signature of `jws` with `keys`, accepting only `allowed_algs`.
 * Key choice: with a kid, the keys carrying that kid (their alg, if set,
 * must equal the token's; kty and curve must fit the alg); without a kid,
 * every key whose kty/curve fits the alg, at most 8 tried.
 * OK: valid. DENIED: alg not allowed, key/alg mismatch, bad signature.
 * NOT_FOUND: no key with that kid (or none fitting the alg): the caller
 * may refetch the JWKS once. ERROR: OpenSSL failed internally.
 */
/*
 * Set up, once, a verification context per alg that fits `k` (RSA: RS*,
 * PS*; EC: ES*), kept in k->prepared and freed with `owner`. A verification
 * then copies it instead of initialising OpenSSL's key and digest lookups
 * again (they take global locks: costly under many threads). Call before
 * the key is shared between threads; failures only leave entries NULL.
 */
void oauth2_jws_prepare_key(apr_pool_t *owner, oauth2_jwk_t *k);

oauth2_status_t oauth2_jws_verify(oauth2_ctx_t *ctx, const oauth2_jws_t *jws,
                                  const oauth2_jwks_t *keys,
                                  unsigned allowed_algs);

#endif /* OAUTH2_JOSE_H */
