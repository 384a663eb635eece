/*
 * discovery.h - OpenID Connect provider metadata: fetched from a discovery
 * document (OIDC Discovery 1.0 section 4) or given endpoint by endpoint,
 * validated (issuer match, https-or-loopback endpoints, bounded JSON), and
 * cached per process with a TTL. Also the built-in presets (google, github).
 * Never decides what a login does with the endpoints: that is rp.h.
 */
#ifndef OAUTH2_DISCOVERY_H
#define OAUTH2_DISCOVERY_H

#include "oauth2/oauth2.h"
#include "oauth2/http.h"

/* The endpoints and facts a relying party needs. Strings may be NULL. */
typedef struct oauth2_provider_meta_t {
    const char *issuer;
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *userinfo_endpoint;
    const char *jwks_uri;
    const char *end_session_endpoint;
    /* RFC 9207 authorization_response_iss_parameter_supported */
    int iss_parameter_supported;
} oauth2_provider_meta_t;

/* A built-in provider description (preset=NAME). */
typedef struct oauth2_discovery_preset_t {
    const char *name;
    const char *discovery_url;   /* NULL: endpoints below are complete */
    const char *alt_issuer;      /* a second accepted `iss` spelling */
    const char *scope;           /* default scope */
    const char *user_claim;      /* default identity claim */
    oauth2_provider_meta_t meta; /* when discovery_url is NULL */
} oauth2_discovery_preset_t;

/* The preset called `name`, or NULL. */
const oauth2_discovery_preset_t *oauth2_discovery_preset(const char *name);

/*
 * Validate a metadata document. `expected_issuer` is the issuer it must
 * announce (exact string compare, OIDC Discovery 4.3); NULL derives it from
 * `discovery_url` by removing "/.well-known/openid-configuration".
 * Endpoints must be https or loopback http. DENIED with ctx->err naming the
 * member otherwise. *out in ctx->pool.
 */
oauth2_status_t oauth2_discovery_parse(oauth2_ctx_t *ctx, const char *json,
                                       size_t len, const char *discovery_url,
                                       const char *expected_issuer,
                                       oauth2_provider_meta_t **out);

/*
 * Check endpoints given one by one (or merged onto discovered ones): each
 * present URL must be allowed by oauth2_http_url_allowed; the authorization
 * and token endpoints are required. DENIED with ctx->err otherwise.
 */
oauth2_status_t oauth2_discovery_check(oauth2_ctx_t *ctx,
                                       const oauth2_provider_meta_t *m);

/* Per-process cache of validated documents; thread-safe. */
typedef struct oauth2_discovery_cache_t oauth2_discovery_cache_t;

/* A cache living as long as `p` (a process pool). NULL on failure. */
oauth2_discovery_cache_t *oauth2_discovery_cache_create(apr_pool_t *p,
                                                        int max_entries);

/*
 * The metadata at `discovery_url`: from the cache while younger than `ttl`,
 * else fetched with `http` (GET, size-capped) and validated as in
 * oauth2_discovery_parse. When a refetch fails, a stale entry is served for
 * up to another `ttl` (a provider blip should not stop logins). *out is a
 * copy in ctx->pool. UNAVAILABLE when the provider cannot be reached and
 * nothing is cached; DENIED when the document is invalid.
 */
oauth2_status_t
oauth2_discovery_get(oauth2_ctx_t *ctx, oauth2_discovery_cache_t *cache,
                     oauth2_http_t *http, const char *discovery_url,
                     const char *expected_issuer, apr_interval_time_t ttl,
                     oauth2_provider_meta_t **out);

#endif /* OAUTH2_DISCOVERY_H */
