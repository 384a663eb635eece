/*
 * verify_int.h - what verify.c and introspect.c share: the verifier
 * struct, its per-process state, and the claim checks both apply. Private
 * to the core; the public contract is include/oauth2/verify.h.
 */
#ifndef OAUTH2_VERIFY_INT_H
#define OAUTH2_VERIFY_INT_H

#include <apr_atomic.h>
#include <apr_thread_mutex.h>
#include <jansson.h>

#include "oauth2/cache.h"
#include "oauth2/claim_export.h"
#include "oauth2/jwks.h"
#include "oauth2/verify.h"

struct oauth2_verifier_t {
    oauth2_verify_opts_t opts;
    unsigned alg_mask;      /* opts.algs as jose.h bits */
    const char *ns;         /* cache key namespace */
    const char *key_prefix; /* "ns|issuer|audience|source|": set with ns */
    size_t key_prefix_len;
    oauth2_http_t *http;        /* NULL until first use (libcurl) */
    apr_pool_t *pool;           /* config pool */
    oauth2_cache_t *tokens;     /* verified tokens / introspection verdicts */
    oauth2_jwks_t *static_keys; /* jwks_file / pem: parsed at config time */
    apr_thread_mutex_t *mu;     /* guards the fields below */
    oauth2_cache_t *keys;       /* jwks_uri: the current set, as an object */
    apr_time_t fresh_until;     /* the cached set needs no refetch before */
    apr_time_t next_try;        /* no fetch before (failure / kid backoff) */
    apr_time_t last_kid_fetch;  /* unknown-kid refetches: one per interval */
    int shared_down;            /* the shared store failed; logged once */
    /* Counters, atomic so the hot path (a cache hit) takes no lock of its
       own besides the cache's. */
    volatile apr_uint32_t n_sig, n_jwks, n_intro, n_hits;
};

/* A cached verdict: the verified claims, or an inactive token. */
typedef struct oauth2_verdict_t {
    int active;
    json_t *claims; /* the verdict's (a JWT's: the parsed object, handed
                       over); NULL when inactive */
    /*
     * What every hit would otherwise derive from the claims again: the
     * principal (its strings point into `claims`), its scopes (one malloc
     * block) and the backend exports (one malloc block). Active only.
     */
    oauth2_principal_t tmpl;
    const char **scopes;
    int nscopes;
    oauth2_claim_exports_t *exports;
} oauth2_verdict_t;

/* Cache a verdict (claims copied; NULL = inactive) until `expires`. */
oauth2_status_t oauth2_verdict_put(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                   const char *key, const json_t *claims,
                                   apr_time_t expires);

/* Borrow a cached verdict until ctx->pool is cleared; NOT_FOUND on miss. */
oauth2_status_t oauth2_verdict_get(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                   const char *key, oauth2_verdict_t **out);

/*
 * exp/nbf/iat with leeway, iss exact, aud contains: DENIED + ctx->err.
 * `introspected`: iss and exp may be absent (RFC 7662 2.2), but when
 * present they are checked like a JWT's.
 */
oauth2_status_t oauth2_verify_claims(oauth2_ctx_t *ctx,
                                     const oauth2_verifier_t *v,
                                     const json_t *claims, int introspected);

/* Cache key for `token` under verifier `v` (namespace + SHA-256 hex). */
const char *oauth2_verify_cache_key(apr_pool_t *p, const oauth2_verifier_t *v,
                                    const char *hash_hex);

/* The HTTP client, created on first use. */
oauth2_http_t *oauth2_verifier_http(oauth2_verifier_t *v);

/* Count an event (atomic; takes no lock). */
void oauth2_verifier_count(oauth2_verifier_t *v,
                           volatile apr_uint32_t *counter);

/*
 * RFC 7662 introspection of `token` with verifier `v` (source INTROSPECT),
 * after the per-process cache missed: the shared store's verdict (if
 * `store` is not NULL), then the endpoint; verdicts go to both caches. OK
 * with the response claims (owned by ctx->pool via a cleanup).
 */
oauth2_status_t oauth2_introspect_token(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                        const char *token, const char *hash_hex,
                                        struct oauth2_store_t *store,
                                        const oauth2_verify_shared_t *shared,
                                        json_t **claims);

#endif /* OAUTH2_VERIFY_INT_H */
