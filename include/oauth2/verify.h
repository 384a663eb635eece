/*
 * verify.h - the resource-server verifier: from one OAuth2TokenVerify
 * option line to a verdict on a bearer token. A verifier knows where its
 * keys come from (JWKS URL, JWKS file, PEM file, or an RFC 7662
 * introspection endpoint), which issuer and audience it accepts, and keeps
 * per-process caches of its keys and of the tokens it already verified.
 * Plain C: no httpd header; network through oauth2_http_t.
 */
#ifndef OAUTH2_VERIFY_H
#define OAUTH2_VERIFY_H

#include <apr_tables.h>

#include "oauth2/oauth2.h"
#include "oauth2/http.h"
#include "oauth2/principal.h"

typedef enum {
    OAUTH2_VERIFY_JWKS_URI = 1,
    OAUTH2_VERIFY_JWKS_FILE,
    OAUTH2_VERIFY_PEM,
    OAUTH2_VERIFY_INTROSPECT
} oauth2_verify_source_t;

/* The parsed option line; read-only after oauth2_verifier_parse. */
typedef struct oauth2_verify_opts_t {
    oauth2_verify_source_t source;
    const char *location;  /* URL or file path */
    const char *issuer;    /* required: exact `iss` */
    const char *audience;  /* NULL: `aud` is not checked */
    const char *client_id; /* introspection client authentication */
    const char *client_secret;
    int client_auth_post;             /* 1: credentials in the form body */
    apr_interval_time_t leeway;       /* clock skew for exp/nbf/iat; 60 s */
    apr_array_header_t *algs;         /* of const char *: accepted JWS algs */
    const char *typ;                  /* NULL: the JWS `typ` is not checked */
    apr_interval_time_t cache_ttl;    /* JWKS without Cache-Control, and the
                                         longest an introspection verdict is
                                         kept; 300 s */
    apr_interval_time_t negative_ttl; /* inactive verdicts; 10 s */
    apr_interval_time_t refetch_interval; /* unknown-kid refetch; 30 s */
    size_t cache_entries;                 /* verified-token cache; 10000 */
} oauth2_verify_opts_t;

typedef struct oauth2_verifier_t oauth2_verifier_t;

/*
 * Build a verifier from "key=value" words (the OAuth2TokenVerify line) at
 * configuration time, in ctx->pool (pconf: it lives as long as the config).
 * Options: jwks_uri= | jwks_file= | pem= | introspect= (exactly one),
 * issuer= (required), audience=, client_id=, client_secret=,
 * client_auth=basic|post, leeway=, algs=A,B, type=, cache=, negative_cache=,
 * refetch=, cache_entries=. Durations in seconds. URLs must pass
 * oauth2_http_url_allowed; files are read and their keys parsed here, so
 * configtest fails on any problem. DENIED with ctx->err naming the option.
 * The per-process caches are created here too: after fork every child owns
 * its own copy.
 */
oauth2_status_t oauth2_verifier_parse(oauth2_ctx_t *ctx, int argc,
                                      const char *const *argv,
                                      oauth2_verifier_t **out);

const oauth2_verify_opts_t *oauth2_verifier_opts(const oauth2_verifier_t *v);

/*
 * The HTTP client used for JWKS and introspection; by default a libcurl
 * client created on first use. Tests install a fake. Not thread-safe: call
 * before serving.
 */
void oauth2_verifier_set_http(oauth2_verifier_t *v, oauth2_http_t *http);

/*
 * Namespace for cache keys (e.g. the virtual host), so equal option lines
 * in two vhosts never share verdicts. Config time only.
 */
void oauth2_verifier_set_namespace(oauth2_verifier_t *v, const char *ns);

/*
 * Verify a bearer token against one or more verifiers (several
 * OAuth2TokenVerify lines). A JWT goes to the JWKS/file/PEM verifiers whose
 * issuer equals its (unverified) `iss`, else to the introspection ones; an
 * opaque token to the introspection verifiers in order. OK with *out in
 * ctx->pool; DENIED (bad, expired, inactive, foreign token) with ctx->err
 * saying why; UNAVAILABLE when keys or the endpoint cannot be reached and
 * nothing usable is cached; ERROR on our own failure.
 */
oauth2_status_t oauth2_verify_token(oauth2_ctx_t *ctx,
                                    oauth2_verifier_t *const *verifiers, int n,
                                    const char *token,
                                    oauth2_principal_t **out);

/*
 * oauth2_verify_token with a shared store (the session store, e.g. Redis)
 * for introspection verdicts, so processes and nodes share them; NULL
 * keeps them per process only. Values are stored in clear: see
 * oauth2_verify_token_ex for sealed values. Store failures are misses.
 */
struct oauth2_store_t;
oauth2_status_t oauth2_verify_token_shared(oauth2_ctx_t *ctx,
                                           oauth2_verifier_t *const *verifiers,
                                           int n, const char *token,
                                           struct oauth2_store_t *shared,
                                           oauth2_principal_t **out);

/*
 * Where introspection verdicts are shared. `store` is called only when an
 * opaque token missed the per-process cache and is about to be
 * introspected, so JWTs and cache hits never touch the store (nor take
 * whatever lock finding it costs); it may return NULL (nothing shared).
 * With `ring` set, values are sealed (AES-256-GCM under a key derived from
 * the passphrase, the store key as AAD): whoever can write the store
 * cannot forge a verdict, and a dump shows no claims. NULL ring: clear.
 */
typedef struct oauth2_verify_shared_t {
    struct oauth2_store_t *(*store)(void *baton);
    void *baton;
    const struct oauth2_crypto_keyring_t *ring;
} oauth2_verify_shared_t;

/*
 * oauth2_verify_token with verdicts shared as `shared` says (NULL: per
 * process only). A store that is down is a miss: the endpoint decides,
 * and the verifier logs the outage once (until the store answers again).
 */
oauth2_status_t oauth2_verify_token_ex(oauth2_ctx_t *ctx,
                                       oauth2_verifier_t *const *verifiers,
                                       int n, const char *token,
                                       const oauth2_verify_shared_t *shared,
                                       oauth2_principal_t **out);

/* Counters for tests and metrics (per verifier, this process). */
typedef struct oauth2_verify_stats_t {
    unsigned long sig_checks;     /* JWS signature verifications */
    unsigned long jwks_fetches;   /* JWKS HTTP requests */
    unsigned long introspections; /* introspection HTTP requests */
    unsigned long cache_hits;     /* verdicts served from the cache */
} oauth2_verify_stats_t;

void oauth2_verifier_stats(const oauth2_verifier_t *v,
                           oauth2_verify_stats_t *out);

/*
 * Build a principal from verified claims (type, sub, client_id/azp, iss,
 * scopes from `scope` (space separated) or `scp` (array), exp). `claims`
 * is borrowed: the caller keeps it alive as long as the principal.
 */
oauth2_principal_t *oauth2_principal_from_claims(apr_pool_t *p,
                                                 oauth2_principal_type_t type,
                                                 json_t *claims);

#endif /* OAUTH2_VERIFY_H */
