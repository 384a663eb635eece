/*
 * verify.c - bearer JWT verification for the resource-server guard: the
 * verified-token cache (hot path), the JWKS source with its per-process
 * cache and refetch policy, the JWS signature check over the allow-listed
 * asymmetric algorithms, and the claim checks. Opaque tokens are handed to
 * introspect.c. Never logs a token (only its redacted hash), never turns an
 * unreachable key source into an allow.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "oauth2/metrics.h"
#include "oauth2/claims.h"
#include "oauth2/jose.h"
#include "oauth2/log.h"
#include "oauth2/util.h"
#include "verify_int.h"

#define MAX_TOKEN_LEN 16384
#define KEYS_KEY "jwks"
/* A failed JWKS fetch is retried at most this often. */
#define FAIL_BACKOFF apr_time_from_sec(5)
/* Cache-Control max-age is honoured within these bounds. */
#define MIN_KEYS_TTL apr_time_from_sec(30)
#define MAX_KEYS_TTL apr_time_from_sec(86400)
/* The last good set is kept this long for use when refetches fail. */
#define STALE_KEEP apr_time_from_sec(7 * 86400)

/* ==== helpers shared with introspect.c ================================= */

void oauth2_verifier_count(oauth2_verifier_t *v, volatile apr_uint32_t *counter)
{
    (void)v;
    apr_atomic_inc32(counter);
}

void oauth2_verifier_stats(const oauth2_verifier_t *v,
                           oauth2_verify_stats_t *out)
{
    oauth2_verifier_t *w = (oauth2_verifier_t *)v; /* reads only */

    out->sig_checks = apr_atomic_read32(&w->n_sig);
    out->jwks_fetches = apr_atomic_read32(&w->n_jwks);
    out->introspections = apr_atomic_read32(&w->n_intro);
    out->cache_hits = apr_atomic_read32(&w->n_hits);
}

oauth2_http_t *oauth2_verifier_http(oauth2_verifier_t *v)
{
    return v->http;
}

const char *oauth2_verify_cache_key(apr_pool_t *p, const oauth2_verifier_t *v,
                                    const char *hash_hex)
{
    size_t n = strlen(hash_hex);
    char *k = apr_palloc(p, v->key_prefix_len + n + 1);

    memcpy(k, v->key_prefix, v->key_prefix_len);
    memcpy(k + v->key_prefix_len, hash_hex, n + 1);
    return k;
}

/* ==== claims (checks by claims.c) ===================================== */

oauth2_status_t oauth2_verify_claims(oauth2_ctx_t *ctx,
                                     const oauth2_verifier_t *v,
                                     const json_t *claims, int introspected)
{
    oauth2_claims_rules_t rules;

    memset(&rules, 0, sizeof(rules));
    /* RFC 7662 makes iss and exp optional; when present they must fit. */
    rules.issuer = (introspected && json_object_get(claims, "iss") == NULL)
                       ? NULL
                       : v->opts.issuer;
    rules.audience = v->opts.audience;
    rules.leeway_sec = (int)apr_time_sec(v->opts.leeway);
    rules.exp_optional = introspected;
    return oauth2_claims_validate(ctx, claims, &rules);
}

/* ==== principal ========================================================= */

static void add_scopes(apr_pool_t *p, apr_array_header_t *out,
                       const json_t *claims)
{
    const char *s = oauth2_json_str(claims, "scope");
    const json_t *scp = json_object_get(claims, "scp");
    size_t i;

    if (s != NULL) {
        char *copy = apr_pstrdup(p, s), *last = NULL, *w;

        for (w = apr_strtok(copy, " ", &last); w;
             w = apr_strtok(NULL, " ", &last))
            APR_ARRAY_PUSH(out, const char *) = w;
    }
    else if (json_is_array(scp)) {
        for (i = 0; i < json_array_size(scp); i++) {
            const json_t *e = json_array_get(scp, i);

            if (json_is_string(e))
                APR_ARRAY_PUSH(out, const char *) = json_string_value(e);
        }
    }
}

oauth2_principal_t *oauth2_principal_from_claims(apr_pool_t *p,
                                                 oauth2_principal_type_t type,
                                                 json_t *claims)
{
    oauth2_principal_t *pr = apr_pcalloc(p, sizeof(*pr));
    const json_t *exp = json_object_get(claims, "exp");

    pr->type = type;
    pr->claims = claims;
    pr->sub = oauth2_json_str(claims, "sub");
    pr->client_id = oauth2_json_str(claims, "client_id");
    if (pr->client_id == NULL)
        pr->client_id = oauth2_json_str(claims, "azp");
    pr->issuer = oauth2_json_str(claims, "iss");
    pr->scopes = apr_array_make(p, 4, sizeof(const char *));
    add_scopes(p, pr->scopes, claims);
    if (json_is_number(exp) && json_number_value(exp) > 0 &&
        json_number_value(exp) < 1e11)
        pr->expires = apr_time_from_sec((apr_time_t)json_number_value(exp));
    return pr;
}

/* ==== JWS (parse and signature by jose.c) ============================= */

/* "at+jwt" equals "application/at+jwt" (RFC 7515 4.1.9), any case. */
static int typ_matches(const char *have, const char *want)
{
    if (have == NULL)
        return 0;
    if (strncasecmp(have, "application/", 12) == 0)
        have += 12;
    if (strncasecmp(want, "application/", 12) == 0)
        want += 12;
    return strcasecmp(have, want) == 0;
}

/* Signature with jose.c, counted: NOT_FOUND means no key fits. */
static oauth2_status_t sig_check(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                 const oauth2_jwks_t *keys,
                                 const oauth2_jws_t *j)
{
    oauth2_verifier_count(v, &v->n_sig);
    return oauth2_jws_verify(ctx, j, keys, v->alg_mask);
}

/* ==== JWKS source ======================================================= */

/* A fetched key set: its own unmanaged pool, destroyed with the entry. */
typedef struct keyset_t {
    apr_pool_t *pool;
    oauth2_jwks_t *jwks;
} keyset_t;

static void keyset_free(void *obj)
{
    keyset_t *ks = obj;

    apr_pool_destroy(ks->pool);
}

/* max-age from Cache-Control within bounds; `dflt` when absent. */
static apr_interval_time_t keys_ttl(const char *cc, apr_interval_time_t dflt)
{
    apr_interval_time_t ttl = dflt;
    const char *m = cc ? strstr(cc, "max-age=") : NULL;
    long long n;
    char num[16];
    size_t len;

    if (cc != NULL && (strstr(cc, "no-store") || strstr(cc, "no-cache")))
        ttl = 0;
    else if (m != NULL) {
        len = strspn(m + 8, "0123456789");
        if (len > 0 && len < sizeof(num)) {
            memcpy(num, m + 8, len);
            num[len] = '\0';
            if (oauth2_parse_int64(num, 0, 1LL << 40, &n) == 0)
                ttl = apr_time_from_sec(n);
        }
    }
    if (ttl < MIN_KEYS_TTL)
        ttl = MIN_KEYS_TTL;
    return ttl > MAX_KEYS_TTL ? MAX_KEYS_TTL : ttl;
}

/* Fetch and parse the JWKS; on OK the set is cached and borrowed. */
static oauth2_status_t keys_fetch(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                  keyset_t **out)
{
    oauth2_http_request_t req;
    oauth2_http_response_t resp;
    keyset_t *ks;
    apr_pool_t *kp;
    oauth2_status_t st;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.kind = "jwks";
    req.url = v->opts.location;
    req.max_response = OAUTH2_JWKS_MAX_BYTES;
    oauth2_verifier_count(v, &v->n_jwks);
    st = oauth2_http_send(oauth2_verifier_http(v), ctx, &req, &resp);
    if (st != OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    if (resp.status != 200) {
        oauth2_err_set(ctx, "JWKS answered HTTP %d", resp.status);
        return OAUTH2_UNAVAILABLE;
    }
    if (apr_pool_create_unmanaged_ex(&kp, NULL, NULL) != APR_SUCCESS)
        return OAUTH2_ERROR;
    ks = apr_pcalloc(kp, sizeof(*ks));
    ks->pool = kp;
    if (oauth2_jwks_parse(ctx, kp, resp.body, resp.body_len, &ks->jwks) !=
        OAUTH2_OK) {
        apr_pool_destroy(kp);
        return OAUTH2_UNAVAILABLE; /* a broken set is an outage, not a deny */
    }
    v->fresh_until = ctx->now + keys_ttl(resp.cache_control, v->opts.cache_ttl);
    st = oauth2_cache_set_object(ctx, v->keys, KEYS_KEY, ks, keyset_free,
                                 ctx->now + STALE_KEEP);
    if (st != OAUTH2_OK)
        return st;
    return oauth2_cache_get_object(ctx, v->keys, KEYS_KEY, (void **)out);
}

/*
 * The verifier's current key set, borrowed until ctx->pool is cleared.
 * Fetches when there is none or it is stale; `kid_miss` asks for a refetch
 * because a token named an unknown kid, granted once per refetch interval.
 * A failed fetch keeps the last good set (and backs off); UNAVAILABLE only
 * when there is no set at all.
 */
static oauth2_status_t keys_get(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                int kid_miss, const oauth2_jwks_t **out)
{
    keyset_t *ks = NULL, *fresh = NULL;
    int need;
    oauth2_status_t st = OAUTH2_OK;

    apr_thread_mutex_lock(v->mu);
    if (oauth2_cache_get_object(ctx, v->keys, KEYS_KEY, (void **)&ks) !=
        OAUTH2_OK)
        ks = NULL;
    need = ks == NULL || ctx->now >= v->fresh_until;
    if (kid_miss && ctx->now >= v->last_kid_fetch + v->opts.refetch_interval) {
        need = 1;
        v->last_kid_fetch = ctx->now;
    }
    if (need && ctx->now >= v->next_try) {
        st = keys_fetch(ctx, v, &fresh);
        if (st == OAUTH2_OK)
            ks = fresh;
        else {
            v->next_try = ctx->now + FAIL_BACKOFF;
            oauth2_log_warn(ctx,
                            OAUTH2_LOGNO(00800) "JWKS fetch from %s "
                                                "failed (%s); %s",
                            v->opts.location, ctx->err.text,
                            ks ? "keeping the last good set" : "no keys");
        }
    }
    apr_thread_mutex_unlock(v->mu);
    if (ks == NULL) {
        oauth2_err_set(ctx, "no signing keys available");
        return st == OAUTH2_ERROR ? OAUTH2_ERROR : OAUTH2_UNAVAILABLE;
    }
    *out = ks->jwks;
    return OAUTH2_OK;
}

/* ==== verified-token cache ============================================== */

static void verdict_free(void *obj)
{
    oauth2_verdict_t *vd = obj;

    json_decref(vd->claims);
    free(vd->scopes);
    free(vd->exports);
    free(vd);
}

/* The scopes' pointers and bytes in one malloc block. */
static const char **scopes_flatten(const apr_array_header_t *a)
{
    size_t size = (size_t)a->nelts * sizeof(char *), i, n;
    const char **out;
    char *at;

    for (i = 0; i < (size_t)a->nelts; i++)
        size += strlen(APR_ARRAY_IDX(a, i, const char *)) + 1;
    if ((out = malloc(size > 0 ? size : 1)) == NULL)
        return NULL;
    at = (char *)(out + a->nelts);
    for (i = 0; i < (size_t)a->nelts; i++) {
        n = strlen(APR_ARRAY_IDX(a, i, const char *)) + 1;
        memcpy(at, APR_ARRAY_IDX(a, i, const char *), n);
        out[i] = at;
        at += n;
    }
    return out;
}

/* Derive once what each hit on an active verdict needs (verify_int.h). */
static int verdict_prepare(oauth2_ctx_t *ctx, oauth2_verdict_t *vd)
{
    oauth2_principal_t *p = oauth2_principal_from_claims(
        ctx->pool, OAUTH2_PRINCIPAL_BEARER, vd->claims);
    oauth2_claim_exports_t *x =
        oauth2_claim_exports_make(ctx->pool, vd->claims, 1);

    vd->tmpl = *p;
    vd->tmpl.scopes = NULL;
    vd->nscopes = p->scopes->nelts;
    vd->scopes = scopes_flatten(p->scopes);
    vd->exports = x ? oauth2_claim_exports_flatten(x) : NULL;
    vd->tmpl.exports = vd->exports;
    return vd->scopes != NULL && (x == NULL || vd->exports != NULL);
}

/*
 * A verdict around `claims` (taken over), active or not; NULL on failure,
 * also for an active one without claims (a failed copy).
 */
static oauth2_verdict_t *verdict_new(oauth2_ctx_t *ctx, json_t *claims,
                                     int active)
{
    oauth2_verdict_t *vd = calloc(1, sizeof(*vd));

    if (vd == NULL) {
        json_decref(claims);
        return NULL;
    }
    vd->active = active;
    vd->claims = claims;
    if (active && (claims == NULL || !verdict_prepare(ctx, vd))) {
        verdict_free(vd);
        return NULL;
    }
    return vd;
}

/* Callers have passed token_syntax_ok(): hits skip it (see the entry). */
oauth2_status_t oauth2_verdict_put(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                   const char *key, const json_t *claims,
                                   apr_time_t expires)
{
    oauth2_verdict_t *vd;

    if (expires <= ctx->now)
        return OAUTH2_OK; /* nothing worth keeping */
    /* A private copy: the request's object may be changed by its owner. */
    vd = verdict_new(ctx, claims ? json_deep_copy(claims) : NULL,
                     claims != NULL);
    if (vd == NULL)
        return OAUTH2_ERROR;
    return oauth2_cache_set_object(ctx, v->tokens, key, vd, verdict_free,
                                   expires);
}

oauth2_status_t oauth2_verdict_get(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                   const char *key, oauth2_verdict_t **out)
{
    oauth2_status_t st =
        oauth2_cache_get_object(ctx, v->tokens, key, (void **)out);

    /* a miss is counted by the caller, once the token is known to be
     * well formed: garbage is no cache miss */
    if (st != OAUTH2_OK)
        return OAUTH2_NOT_FOUND;
    oauth2_metric(ctx, OAUTH2_METRIC_TOKEN_CACHE, "verified", OAUTH2_OK, 0);
    oauth2_verifier_count(v, &v->n_hits);
    return OAUTH2_OK;
}

/* ==== JWT verification ================================================== */

/*
 * Header rules jose.c leaves to us: the configured typ. (Algorithm,
 * crit, jku/x5u and friends are refused by oauth2_jws_parse/verify.)
 */
static oauth2_status_t jwt_header_check(oauth2_ctx_t *ctx,
                                        const oauth2_verifier_t *v,
                                        const oauth2_jws_t *j)
{
    if (v->opts.typ != NULL && !typ_matches(j->typ, v->opts.typ)) {
        oauth2_err_set(ctx, "typ mismatch");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* Signature and claims of a parsed JWS under one verifier. */
static oauth2_status_t jwt_verify(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                  const oauth2_jws_t *j)
{
    const oauth2_jwks_t *keys = v->static_keys, *again = NULL;
    oauth2_status_t st;

    if ((st = jwt_header_check(ctx, v, j)) != OAUTH2_OK)
        return st;
    if (keys == NULL && (st = keys_get(ctx, v, 0, &keys)) != OAUTH2_OK)
        return st;
    st = sig_check(ctx, v, keys, j);
    if (st == OAUTH2_NOT_FOUND && v->static_keys == NULL &&
        keys_get(ctx, v, 1, &again) == OAUTH2_OK && again != keys)
        st = sig_check(ctx, v, again, j);
    if (st == OAUTH2_NOT_FOUND)
        st = OAUTH2_DENIED;
    if (st != OAUTH2_OK)
        return st;
    return oauth2_verify_claims(ctx, v, j->payload, 0);
}

/* Worse outcome wins, so nothing uncertain ever becomes a plain deny. */
static oauth2_status_t worse(oauth2_status_t a, oauth2_status_t b)
{
    static const int rank[] = {0, 1, 1, 2, 3}; /* OK DEN NF UNAV ERR */

    return rank[b] > rank[a] ? b : a;
}

/* RFC 6750 b64token, bounded. */
static int token_syntax_ok(const char *t)
{
    size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-._~+/");

    n += strspn(t + n, "=");
    return n > 0 && t[n] == '\0' && n <= MAX_TOKEN_LEN;
}

static int dots(const char *t)
{
    int n = 0;

    for (; *t; t++)
        n += *t == '.';
    return n;
}

/* ==== entry point ======================================================= */

static oauth2_principal_t *principal(oauth2_ctx_t *ctx, json_t *claims,
                                     const char *token)
{
    oauth2_principal_t *p = oauth2_principal_from_claims(
        ctx->pool, OAUTH2_PRINCIPAL_BEARER, claims);

    p->access_token = token;
    return p;
}

/* A hit: the verdict's prepared principal, copied into the request. */
static oauth2_principal_t *principal_cached(oauth2_ctx_t *ctx,
                                            const oauth2_verdict_t *vd,
                                            const char *token)
{
    oauth2_principal_t *p = apr_palloc(ctx->pool, sizeof(*p));

    *p = vd->tmpl;
    p->scopes = apr_array_make(ctx->pool, vd->nscopes > 0 ? vd->nscopes : 1,
                               sizeof(const char *));
    if (vd->nscopes > 0)
        memcpy(p->scopes->elts, vd->scopes,
               (size_t)vd->nscopes * sizeof(const char *));
    p->scopes->nelts = vd->nscopes;
    p->access_token = token;
    return p;
}

/* The hot path: one hash, one lookup per verifier, no signature. */
static oauth2_status_t from_cache(oauth2_ctx_t *ctx,
                                  oauth2_verifier_t *const *vs, int n,
                                  const char *token, const char *hash,
                                  oauth2_principal_t **out)
{
    oauth2_verdict_t *vd;
    int i;

    for (i = 0; i < n; i++) {
        if (oauth2_verdict_get(ctx, vs[i],
                               oauth2_verify_cache_key(ctx->pool, vs[i], hash),
                               &vd) != OAUTH2_OK)
            continue;
        while (i-- > 0) /* the verifiers before this one missed */
            oauth2_metric(ctx, OAUTH2_METRIC_TOKEN_CACHE, "verified",
                          OAUTH2_NOT_FOUND, 0);
        if (!vd->active) {
            oauth2_err_set(ctx, "token inactive (cached)");
            return OAUTH2_DENIED;
        }
        *out = principal_cached(ctx, vd, token);
        return OAUTH2_OK;
    }
    return OAUTH2_NOT_FOUND;
}

/*
 * How long a verified JWT's verdict is kept: as long as verifying it again
 * would accept it, that is until exp plus the leeway (claims.c refuses from
 * exp + leeway on). Kept only until exp, every request in the leeway's last
 * minute verified the signature again. A huge exp is clamped.
 */
static apr_time_t until_exp(const oauth2_verifier_t *v, const json_t *claims)
{
    double exp = json_number_value(json_object_get(claims, "exp"));

    if (exp > 4e10)
        exp = 4e10;
    return exp > 0 ? apr_time_from_sec((apr_time_t)exp) + v->opts.leeway : 0;
}

/*
 * A verified JWT: cache its verdict and answer this request from it, so a
 * miss derives principal, scopes and exports once, like the hits after it.
 * The verdict shares the parsed claims instead of copying them: nobody
 * changes them after verification (a hit hands the cached object to every
 * request, read-only). jansson's refcount is atomic since 2.11; an older
 * one gets the copy.
 */
#ifdef JANSSON_THREAD_SAFE_REFCOUNT
#define shared_claims(c) json_incref(c)
#else
#define shared_claims(c) json_deep_copy(c)
#endif

static oauth2_principal_t *jwt_verdict(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                       const char *key, json_t *claims,
                                       const char *token)
{
    apr_time_t until = until_exp(v, claims);
    oauth2_verdict_t *vd;

    if (until > ctx->now &&
        (vd = verdict_new(ctx, shared_claims(claims), 1)) != NULL &&
        oauth2_cache_set_object_borrow(ctx, v->tokens, key, vd, verdict_free,
                                       until) == OAUTH2_OK) {
#ifdef JANSSON_THREAD_SAFE_REFCOUNT
        /* One owner, the verdict (kept alive by our borrow): the pool's
         * decref could otherwise race an eviction's in another thread,
         * and jansson's decref reads the count once without atomics. */
        oauth2_json_pool_disown(ctx->pool, claims);
        json_decref(claims);
#endif
        return principal_cached(ctx, vd, token);
    }
    return principal(ctx, claims, token);
}

/* A JWT to the verifiers of its issuer; NOT_FOUND if none is configured. */
static oauth2_status_t by_jwt(oauth2_ctx_t *ctx, oauth2_verifier_t *const *vs,
                              int n, const char *token, const char *hash,
                              oauth2_principal_t **out)
{
    oauth2_jws_t *j = NULL;
    const char *iss;
    oauth2_status_t st, res = OAUTH2_NOT_FOUND;
    int i;

    if (oauth2_jws_parse(ctx, token, strlen(token), &j) != OAUTH2_OK) {
        /* Not a JWS we accept: introspection may still know it. */
        for (i = 0; i < n; i++) {
            if (vs[i]->opts.source == OAUTH2_VERIFY_INTROSPECT)
                return OAUTH2_NOT_FOUND;
        }
        return OAUTH2_DENIED;
    }
    iss = oauth2_json_str(j->payload, "iss");
    for (i = 0; iss != NULL && i < n; i++) {
        if (vs[i]->opts.source == OAUTH2_VERIFY_INTROSPECT ||
            strcmp(vs[i]->opts.issuer, iss) != 0)
            continue;
        st = jwt_verify(ctx, vs[i], j);
        if (st == OAUTH2_OK) {
            *out = jwt_verdict(ctx, vs[i],
                               oauth2_verify_cache_key(ctx->pool, vs[i], hash),
                               j->payload, token);
            return OAUTH2_OK;
        }
        res = res == OAUTH2_NOT_FOUND ? st : worse(res, st);
    }
    return res;
}

oauth2_status_t oauth2_verify_token(oauth2_ctx_t *ctx,
                                    oauth2_verifier_t *const *vs, int n,
                                    const char *token, oauth2_principal_t **out)
{
    return oauth2_verify_token_ex(ctx, vs, n, token, NULL, out);
}

static struct oauth2_store_t *given_store(void *baton)
{
    return baton;
}

oauth2_status_t oauth2_verify_token_shared(oauth2_ctx_t *ctx,
                                           oauth2_verifier_t *const *vs, int n,
                                           const char *token,
                                           struct oauth2_store_t *shared,
                                           oauth2_principal_t **out)
{
    oauth2_verify_shared_t sh = {given_store, shared, NULL};

    return oauth2_verify_token_ex(ctx, vs, n, token, shared ? &sh : NULL, out);
}

/*
 * Opaque tokens (and JWTs no JWKS verifier claims) through the
 * introspection verifiers in order. The shared store is looked up here,
 * once, and only if some verifier introspects.
 */
static oauth2_status_t by_introspection(oauth2_ctx_t *ctx,
                                        oauth2_verifier_t *const *vs, int n,
                                        const char *token, const char *hash,
                                        const oauth2_verify_shared_t *sh,
                                        oauth2_principal_t **out)
{
    struct oauth2_store_t *store = NULL;
    oauth2_status_t st, res = OAUTH2_NOT_FOUND;
    int i, looked = 0;
    json_t *claims;

    for (i = 0; i < n; i++) {
        if (vs[i]->opts.source != OAUTH2_VERIFY_INTROSPECT)
            continue;
        if (!looked && sh != NULL && sh->store != NULL)
            store = sh->store(sh->baton);
        looked = 1;
        st = oauth2_introspect_token(ctx, vs[i], token, hash, store, sh,
                                     &claims);
        if (st == OAUTH2_OK) {
            *out = principal(ctx, claims, token);
            return OAUTH2_OK;
        }
        res = res == OAUTH2_NOT_FOUND ? st : worse(res, st);
    }
    return res;
}

oauth2_status_t oauth2_verify_token_ex(oauth2_ctx_t *ctx,
                                       oauth2_verifier_t *const *vs, int n,
                                       const char *token,
                                       const oauth2_verify_shared_t *shared,
                                       oauth2_principal_t **out)
{
    const char *hash;
    oauth2_status_t st, res;
    size_t len = token ? strlen(token) : 0;
    int i;

    /* Only the length before the lookup: a hit is a token that passed the
     * syntax check when it was verified, and the byte scan costs as much
     * as the rest of a hit. */
    if (len == 0 || len > MAX_TOKEN_LEN) {
        oauth2_err_set(ctx, "malformed token");
        return OAUTH2_DENIED;
    }
    if ((hash = oauth2_sha256_hex(ctx->pool, token, len)) == NULL) {
        oauth2_err_set(ctx, "SHA-256 failed");
        return OAUTH2_ERROR;
    }
    if ((st = from_cache(ctx, vs, n, token, hash, out)) != OAUTH2_NOT_FOUND)
        return st;
    if (!token_syntax_ok(token)) {
        oauth2_err_set(ctx, "malformed token");
        return OAUTH2_DENIED;
    }
    for (i = 0; i < n; i++) /* every verifier's lookup missed */
        oauth2_metric(ctx, OAUTH2_METRIC_TOKEN_CACHE, "verified",
                      OAUTH2_NOT_FOUND, 0);
    if (dots(token) == 2 &&
        (res = by_jwt(ctx, vs, n, token, hash, out)) != OAUTH2_NOT_FOUND)
        return res;
    res = by_introspection(ctx, vs, n, token, hash, shared, out);
    if (res == OAUTH2_NOT_FOUND) {
        oauth2_err_set(ctx, "no verifier accepts this token (issuer unknown)");
        res = OAUTH2_DENIED;
    }
    return res;
}
