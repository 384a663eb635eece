/*
 * discovery.c - provider metadata: parse and validate discovery documents,
 * check endpoints given by configuration, keep a per-process TTL cache, and
 * hold the built-in presets. Never starts a login or trusts a document whose
 * issuer or endpoints do not pass validation.
 */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "oauth2/discovery.h"
#include "oauth2/log.h"
#include "oauth2/util.h"

#define WELL_KNOWN "/.well-known/openid-configuration"
#define DISCOVERY_MAX_BYTES (64 * 1024)

static const oauth2_discovery_preset_t presets[] = {
    {"google",
     "https://accounts.google.com" WELL_KNOWN,
     "accounts.google.com",
     "openid email profile",
     "sub",
     {0}},
    {"github",
     NULL,
     NULL,
     "read:user user:email",
     "login",
     {NULL, "https://github.com/login/oauth/authorize",
      "https://github.com/login/oauth/access_token",
      "https://api.github.com/user", NULL, NULL, 0}},
};

const oauth2_discovery_preset_t *oauth2_discovery_preset(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    }
    return NULL;
}

static int url_ok(oauth2_ctx_t *ctx, const char *what, const char *url)
{
    if (url == NULL)
        return 1;
    if (!oauth2_http_url_allowed(ctx, url)) {
        char why[OAUTH2_ERR_MAX];
        apr_cpystrn(why, ctx->err.text, sizeof(why));
        oauth2_err_set(ctx, "%s: %s", what, why);
        return 0;
    }
    return 1;
}

oauth2_status_t oauth2_discovery_check(oauth2_ctx_t *ctx,
                                       const oauth2_provider_meta_t *m)
{
    if (m->authorization_endpoint == NULL) {
        oauth2_err_set(ctx, "authorization_endpoint missing");
        return OAUTH2_DENIED;
    }
    if (m->token_endpoint == NULL) {
        oauth2_err_set(ctx, "token_endpoint missing");
        return OAUTH2_DENIED;
    }
    if (!url_ok(ctx, "authorization_endpoint", m->authorization_endpoint) ||
        !url_ok(ctx, "token_endpoint", m->token_endpoint) ||
        !url_ok(ctx, "userinfo_endpoint", m->userinfo_endpoint) ||
        !url_ok(ctx, "jwks_uri", m->jwks_uri) ||
        !url_ok(ctx, "end_session_endpoint", m->end_session_endpoint))
        return OAUTH2_DENIED;
    return OAUTH2_OK;
}

/* Optional string member: absent is fine, any other type is not. */
static int opt_str(oauth2_ctx_t *ctx, json_t *doc, const char *key,
                   const char **out)
{
    json_t *v = json_object_get(doc, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 1;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        oauth2_err_set(ctx, "metadata member %s is not a string", key);
        return 0;
    }
    *out = apr_pstrdup(ctx->pool, json_string_value(v));
    return 1;
}

static const char *issuer_from_url(apr_pool_t *p, const char *url)
{
    size_t n = strlen(url), w = strlen(WELL_KNOWN);

    if (n <= w || strcmp(url + n - w, WELL_KNOWN) != 0)
        return NULL;
    return apr_pstrndup(p, url, n - w);
}

static oauth2_status_t fill_meta(oauth2_ctx_t *ctx, json_t *doc,
                                 oauth2_provider_meta_t *m)
{
    if (!opt_str(ctx, doc, "issuer", &m->issuer) ||
        !opt_str(ctx, doc, "authorization_endpoint",
                 &m->authorization_endpoint) ||
        !opt_str(ctx, doc, "token_endpoint", &m->token_endpoint) ||
        !opt_str(ctx, doc, "userinfo_endpoint", &m->userinfo_endpoint) ||
        !opt_str(ctx, doc, "jwks_uri", &m->jwks_uri) ||
        !opt_str(ctx, doc, "end_session_endpoint", &m->end_session_endpoint))
        return OAUTH2_DENIED;
    m->iss_parameter_supported = json_is_true(
        json_object_get(doc, "authorization_response_iss_parameter_supported"));
    return OAUTH2_OK;
}

oauth2_status_t oauth2_discovery_parse(oauth2_ctx_t *ctx, const char *json,
                                       size_t len, const char *discovery_url,
                                       const char *expected_issuer,
                                       oauth2_provider_meta_t **out)
{
    oauth2_json_limits_t lim = oauth2_json_default_limits;
    oauth2_provider_meta_t *m;
    oauth2_status_t rc;
    json_t *doc = NULL;

    lim.max_bytes = DISCOVERY_MAX_BYTES;
    rc = oauth2_json_parse_object(ctx, json, len, &lim, &doc);
    if (rc != OAUTH2_OK)
        goto end;
    m = apr_pcalloc(ctx->pool, sizeof(*m));
    rc = fill_meta(ctx, doc, m);
    if (rc != OAUTH2_OK)
        goto end;
    if (expected_issuer == NULL && discovery_url != NULL)
        expected_issuer = issuer_from_url(ctx->pool, discovery_url);
    if (m->issuer == NULL || m->jwks_uri == NULL) {
        oauth2_err_set(ctx, "metadata lacks %s",
                       m->issuer == NULL ? "issuer" : "jwks_uri");
        rc = OAUTH2_DENIED;
        goto end;
    }
    if (expected_issuer != NULL && strcmp(m->issuer, expected_issuer) != 0) {
        oauth2_err_set(
            ctx, "metadata issuer %s is not %s",
            oauth2_log_escape(ctx->pool, m->issuer, strlen(m->issuer)),
            expected_issuer);
        rc = OAUTH2_DENIED;
        goto end;
    }
    rc = oauth2_discovery_check(ctx, m);
    if (rc == OAUTH2_OK)
        *out = m;
end:
    if (doc != NULL)
        json_decref(doc);
    return rc;
}

/* ---- per-process cache ------------------------------------------------ */

typedef struct entry_t {
    apr_pool_t *pool; /* owns the copy; destroyed when replaced */
    oauth2_provider_meta_t meta;
    apr_time_t fetched;
} entry_t;

struct oauth2_discovery_cache_t {
    apr_pool_t *pool;
    apr_thread_mutex_t *mutex;
    apr_hash_t *entries; /* url -> entry_t* */
    int max_entries;
};

oauth2_discovery_cache_t *oauth2_discovery_cache_create(apr_pool_t *p,
                                                        int max_entries)
{
    oauth2_discovery_cache_t *c = apr_pcalloc(p, sizeof(*c));

    if (apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT, p) !=
        APR_SUCCESS)
        return NULL;
    c->pool = p;
    c->entries = apr_hash_make(p);
    c->max_entries = max_entries > 0 ? max_entries : 64;
    return c;
}

static const char *dup0(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

static void meta_copy(apr_pool_t *p, oauth2_provider_meta_t *dst,
                      const oauth2_provider_meta_t *src)
{
    dst->issuer = dup0(p, src->issuer);
    dst->authorization_endpoint = dup0(p, src->authorization_endpoint);
    dst->token_endpoint = dup0(p, src->token_endpoint);
    dst->userinfo_endpoint = dup0(p, src->userinfo_endpoint);
    dst->jwks_uri = dup0(p, src->jwks_uri);
    dst->end_session_endpoint = dup0(p, src->end_session_endpoint);
    dst->iss_parameter_supported = src->iss_parameter_supported;
}

/* Copy of a cached entry younger than `max_age`, or NULL. Locked. */
static oauth2_provider_meta_t *lookup(oauth2_ctx_t *ctx,
                                      oauth2_discovery_cache_t *c,
                                      const char *url, apr_interval_time_t age)
{
    oauth2_provider_meta_t *m = NULL;
    entry_t *e;

    apr_thread_mutex_lock(c->mutex);
    e = apr_hash_get(c->entries, url, APR_HASH_KEY_STRING);
    if (e != NULL && ctx->now - e->fetched < age) {
        m = apr_pcalloc(ctx->pool, sizeof(*m));
        meta_copy(ctx->pool, m, &e->meta);
    }
    apr_thread_mutex_unlock(c->mutex);
    return m;
}

static void store(oauth2_ctx_t *ctx, oauth2_discovery_cache_t *c,
                  const char *url, const oauth2_provider_meta_t *m)
{
    entry_t *old, *e;
    apr_pool_t *sub;

    apr_thread_mutex_lock(c->mutex);
    old = apr_hash_get(c->entries, url, APR_HASH_KEY_STRING);
    if (old == NULL && (int)apr_hash_count(c->entries) >= c->max_entries)
        goto end; /* full: serve uncached rather than grow */
    if (apr_pool_create(&sub, c->pool) != APR_SUCCESS)
        goto end;
    e = apr_pcalloc(sub, sizeof(*e));
    e->pool = sub;
    e->fetched = ctx->now;
    meta_copy(sub, &e->meta, m);
    apr_hash_set(c->entries, apr_pstrdup(sub, url), APR_HASH_KEY_STRING, e);
    if (old != NULL)
        apr_pool_destroy(old->pool);
end:
    apr_thread_mutex_unlock(c->mutex);
}

static oauth2_status_t fetch(oauth2_ctx_t *ctx, oauth2_http_t *http,
                             const char *url, const char *expected_issuer,
                             oauth2_provider_meta_t **out)
{
    oauth2_http_request_t req = {0};
    oauth2_http_response_t resp = {0};
    oauth2_status_t rc;

    if (!url_ok(ctx, "discovery", url))
        return OAUTH2_DENIED;
    req.method = "GET";
    req.kind = "discovery";
    req.url = url;
    req.max_response = DISCOVERY_MAX_BYTES;
    rc = oauth2_http_send(http, ctx, &req, &resp);
    if (rc != OAUTH2_OK)
        return rc == OAUTH2_DENIED ? OAUTH2_DENIED : OAUTH2_UNAVAILABLE;
    if (resp.status != 200) {
        oauth2_err_set(ctx, "discovery returned HTTP %d", resp.status);
        return OAUTH2_UNAVAILABLE;
    }
    return oauth2_discovery_parse(ctx, resp.body, resp.body_len, url,
                                  expected_issuer, out);
}

oauth2_status_t
oauth2_discovery_get(oauth2_ctx_t *ctx, oauth2_discovery_cache_t *cache,
                     oauth2_http_t *http, const char *discovery_url,
                     const char *expected_issuer, apr_interval_time_t ttl,
                     oauth2_provider_meta_t **out)
{
    oauth2_provider_meta_t *m;
    oauth2_status_t rc;

    if (cache != NULL && (m = lookup(ctx, cache, discovery_url, ttl)) != NULL) {
        *out = m;
        return OAUTH2_OK;
    }
    rc = fetch(ctx, http, discovery_url, expected_issuer, &m);
    if (rc == OAUTH2_OK) {
        if (cache != NULL)
            store(ctx, cache, discovery_url, m);
        *out = m;
        return OAUTH2_OK;
    }
    oauth2_log_warn(ctx, OAUTH2_LOGNO(00300) "discovery of %s failed (%s): %s",
                    discovery_url, oauth2_status_str(rc), ctx->err.text);
    if (rc == OAUTH2_UNAVAILABLE && cache != NULL &&
        (m = lookup(ctx, cache, discovery_url, 2 * ttl)) != NULL) {
        oauth2_log_info(ctx,
                        OAUTH2_LOGNO(00301) "serving stale metadata "
                                            "for %s",
                        discovery_url);
        *out = m;
        return OAUTH2_OK;
    }
    return rc;
}
