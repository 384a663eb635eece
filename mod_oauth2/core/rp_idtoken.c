/*
 * rp_idtoken.c - ID token validation for the relying party (OIDC Core
 * 3.1.3.7): the signature with the provider's JWKS (fetched through
 * oauth2_http_t, kept in a per-process cache and refetched once when a kid
 * is unknown, so key rotation needs no restart), then the claim checks of
 * rp_tokens.c and at_hash when present. Never accepts a token without a
 * verified signature.
 */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "oauth2/jose.h"
#include "oauth2/jwks.h"
#include "oauth2/log.h"
#include "oauth2/rp.h"

#define JWKS_TTL apr_time_from_sec(3600)
#define JWKS_MIN_REFETCH apr_time_from_sec(10)

typedef struct jwks_entry_t {
    apr_pool_t *pool; /* owns keys; replaced under the mutex */
    oauth2_jwks_t *keys;
    apr_time_t fetched;
} jwks_entry_t;

struct oauth2_rp_jwks_cache_t {
    apr_pool_t *pool;
    apr_thread_mutex_t *mutex;
    apr_hash_t *entries; /* jwks_uri -> jwks_entry_t */
};

oauth2_rp_jwks_cache_t *oauth2_rp_jwks_cache_create(apr_pool_t *p)
{
    oauth2_rp_jwks_cache_t *c = apr_pcalloc(p, sizeof(*c));

    if (apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT, p) !=
        APR_SUCCESS)
        return NULL;
    c->pool = p;
    c->entries = apr_hash_make(p);
    return c;
}

/* Fetch and parse the JWKS into a fresh entry. Called with the mutex. */
static oauth2_status_t fetch(oauth2_ctx_t *ctx, oauth2_rp_jwks_cache_t *c,
                             oauth2_http_t *http, const char *uri,
                             apr_interval_time_t timeout, jwks_entry_t **out)
{
    oauth2_http_request_t req = {0};
    oauth2_http_response_t resp = {0};
    jwks_entry_t *e = apr_hash_get(c->entries, uri, APR_HASH_KEY_STRING);
    apr_pool_t *sub;
    oauth2_jwks_t *keys = NULL;
    oauth2_status_t rc;

    req.method = "GET";
    req.kind = "jwks";
    req.url = uri;
    req.timeout = timeout;
    req.max_response = OAUTH2_JWKS_MAX_BYTES;
    rc = oauth2_http_send(http, ctx, &req, &resp);
    if (rc != OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    if (resp.status != 200) {
        oauth2_err_set(ctx, "jwks_uri answered HTTP %d", resp.status);
        return OAUTH2_UNAVAILABLE;
    }
    if (apr_pool_create(&sub, c->pool) != APR_SUCCESS)
        return OAUTH2_ERROR;
    rc = oauth2_jwks_parse(ctx, sub, resp.body, resp.body_len, &keys);
    if (rc != OAUTH2_OK) {
        apr_pool_destroy(sub);
        return OAUTH2_DENIED;
    }
    if (e != NULL) {
        apr_pool_destroy(e->pool);
    }
    e = apr_pcalloc(sub, sizeof(*e));
    e->pool = sub;
    e->keys = keys;
    e->fetched = ctx->now;
    apr_hash_set(c->entries, apr_pstrdup(sub, uri), APR_HASH_KEY_STRING, e);
    *out = e;
    return OAUTH2_OK;
}

/*
 * Verify with the cached keys; on an unknown kid refetch once (not more
 * often than JWKS_MIN_REFETCH). The mutex is held throughout so a
 * concurrent refetch cannot free keys in use; ID tokens are verified once
 * per login, so the serialization costs nothing that matters.
 */
static oauth2_status_t verify(oauth2_ctx_t *ctx, oauth2_rp_jwks_cache_t *c,
                              oauth2_http_t *http, const char *uri,
                              apr_interval_time_t timeout,
                              const oauth2_jws_t *jws)
{
    jwks_entry_t *e;
    oauth2_status_t rc;

    apr_thread_mutex_lock(c->mutex);
    e = apr_hash_get(c->entries, uri, APR_HASH_KEY_STRING);
    if (e == NULL || ctx->now - e->fetched >= JWKS_TTL) {
        rc = fetch(ctx, c, http, uri, timeout, &e);
        if (rc != OAUTH2_OK)
            goto end;
    }
    rc = oauth2_jws_verify(ctx, jws, e->keys, OAUTH2_ALG_ALL);
    if (rc == OAUTH2_NOT_FOUND && ctx->now - e->fetched >= JWKS_MIN_REFETCH) {
        oauth2_log_info(ctx, OAUTH2_LOGNO(00320) "kid unknown, refetching %s",
                        uri);
        rc = fetch(ctx, c, http, uri, timeout, &e);
        if (rc == OAUTH2_OK)
            rc = oauth2_jws_verify(ctx, jws, e->keys, OAUTH2_ALG_ALL);
    }
    if (rc == OAUTH2_NOT_FOUND)
        rc = OAUTH2_DENIED;
end:
    apr_thread_mutex_unlock(c->mutex);
    return rc;
}

oauth2_status_t oauth2_rp_id_token_validate(
    oauth2_ctx_t *ctx, oauth2_http_t *http, oauth2_rp_jwks_cache_t *cache,
    const oauth2_rp_provider_t *prov, const oauth2_provider_meta_t *meta,
    const char *id_token, const char *nonce, const char *access_token,
    json_t **claims)
{
    oauth2_jws_t *jws = NULL;
    const char *at_hash;
    oauth2_status_t rc;

    if (id_token == NULL) {
        oauth2_err_set(ctx, "token response without id_token");
        return OAUTH2_DENIED;
    }
    if (meta->jwks_uri == NULL) {
        oauth2_err_set(ctx, "provider %s has no jwks_uri", prov->name);
        return OAUTH2_ERROR;
    }
    rc = oauth2_jws_parse(ctx, id_token, strlen(id_token), &jws);
    if (rc != OAUTH2_OK)
        return OAUTH2_DENIED;
    rc = verify(ctx, cache, http, meta->jwks_uri, prov->timeout, jws);
    if (rc != OAUTH2_OK)
        return rc;
    rc = oauth2_rp_id_token_claims_check(ctx, prov, meta, jws->payload, nonce);
    if (rc != OAUTH2_OK)
        return rc;
    at_hash = oauth2_json_str(jws->payload, "at_hash");
    if (at_hash != NULL &&
        !oauth2_rp_at_hash_ok(ctx, jws->alg, access_token, at_hash)) {
        oauth2_err_set(ctx, "id_token at_hash does not match");
        return OAUTH2_DENIED;
    }
    *claims = jws->payload;
    return OAUTH2_OK;
}

/* ---- sessions branch: the same verification for logout tokens ---------- */

oauth2_status_t oauth2_rp_jws_verify(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                     oauth2_rp_jwks_cache_t *cache,
                                     const oauth2_rp_provider_t *prov,
                                     const oauth2_provider_meta_t *meta,
                                     const oauth2_jws_t *jws)
{
    if (meta->jwks_uri == NULL) {
        oauth2_err_set(ctx, "provider %s has no jwks_uri", prov->name);
        return OAUTH2_ERROR;
    }
    return verify(ctx, cache, http, meta->jwks_uri, prov->timeout, jws);
}
