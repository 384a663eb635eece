/*
 * introspect.c - RFC 7662 token introspection for verifiers configured with
 * introspect=: the POST to the endpoint with client authentication (HTTP
 * Basic or form), the verdict (`active` must be true, then the same claim
 * checks as a JWT), and the verdict cache: positive until the token's exp
 * (never beyond the configured cache time), negative briefly. Never logs
 * the token or the client secret; an unreachable endpoint is UNAVAILABLE,
 * never an allow or a plain deny.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "oauth2/crypto.h"
#include "oauth2/introspect.h"
#include "oauth2/log.h"
#include "oauth2/store.h"
#include "oauth2/util.h"
#include "verify_int.h"

#define INACTIVE "{\"active\":false}"

/* Build the POST: token + hint, and the client's credentials. */
static void build_request(oauth2_ctx_t *ctx, const oauth2_verifier_t *v,
                          const char *token, oauth2_http_request_t *req)
{
    const oauth2_verify_opts_t *o = &v->opts;
    const char *secret = o->client_secret ? o->client_secret : "";
    char *body, *cred;

    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->kind = "introspection";
    req->url = o->location;
    req->content_type = "application/x-www-form-urlencoded";
    req->timeout = OAUTH2_INTROSPECT_TIMEOUT;
    req->max_response = OAUTH2_INTROSPECT_MAX_RESPONSE;
    if (o->client_auth_post) {
        body = oauth2_http_form_encode(
            ctx->pool, "token", token, "token_type_hint", "access_token",
            "client_id", o->client_id, "client_secret", secret, NULL);
    }
    else {
        body = oauth2_http_form_encode(ctx->pool, "token", token,
                                       "token_type_hint", "access_token", NULL);
        /* RFC 6749 2.3.1: both parts form-encoded before base64. */
        cred = apr_pstrcat(
            ctx->pool,
            oauth2_http_form_encode(ctx->pool, "", o->client_id, NULL) + 1, ":",
            oauth2_http_form_encode(ctx->pool, "", secret, NULL) + 1, NULL);
        req->authorization = apr_pstrcat(
            ctx->pool, "Basic ",
            oauth2_b64_encode(ctx->pool, (const unsigned char *)cred,
                              strlen(cred)),
            NULL);
    }
    req->body = body;
    req->body_len = strlen(body);
}

/* Call the endpoint; OK with the response object owned by ctx->pool. */
static oauth2_status_t call(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                            const char *token, json_t **out)
{
    oauth2_http_request_t req;
    oauth2_http_response_t resp;

    build_request(ctx, v, token, &req);
    oauth2_verifier_count(v, &v->n_intro);
    if (oauth2_http_send(oauth2_verifier_http(v), ctx, &req, &resp) !=
        OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    if (resp.status != 200) {
        oauth2_err_set(ctx, "introspection answered HTTP %d", resp.status);
        return OAUTH2_UNAVAILABLE;
    }
    if (oauth2_json_parse_object(ctx, resp.body, resp.body_len, NULL, out) !=
        OAUTH2_OK) {
        oauth2_err_set(ctx, "introspection response is not a JSON object");
        return OAUTH2_UNAVAILABLE;
    }
    oauth2_json_pool_own(ctx->pool, *out);
    return OAUTH2_OK;
}

/* Positive verdicts live until exp, at most the configured cache time. */
static apr_time_t keep_until(oauth2_ctx_t *ctx, const oauth2_verifier_t *v,
                             const json_t *claims)
{
    apr_time_t until = ctx->now + v->opts.cache_ttl;
    const json_t *exp = json_object_get(claims, "exp");

    if (json_is_number(exp) && json_number_value(exp) > 0 &&
        json_number_value(exp) < 1e11) {
        apr_time_t e = apr_time_from_sec((apr_time_t)json_number_value(exp));

        if (e < until)
            until = e;
    }
    return until;
}

/* ==== the shared store ================================================= */

/* Salt and context of the key that seals shared verdicts. */
#define SEAL_SALT "mod_oauth2 shared verdict"
#define SEAL_INFO "oauth2 introspection verdict v1"

/*
 * Track the store's health per verifier so an outage is logged once, when
 * it starts, and once more when the store answers again.
 */
static void shared_health(oauth2_ctx_t *ctx, oauth2_verifier_t *v, int down,
                          const char *why)
{
    int was;

    apr_thread_mutex_lock(v->mu);
    was = v->shared_down;
    v->shared_down = down;
    apr_thread_mutex_unlock(v->mu);
    if (down && !was)
        oauth2_log_warn(ctx,
                        OAUTH2_LOGNO(00803) "shared verdict store "
                                            "unavailable (%s): opaque tokens "
                                            "are introspected directly until "
                                            "it answers again",
                        why);
    else if (!down && was)
        oauth2_log_notice(ctx, OAUTH2_LOGNO(00804) "shared verdict store "
                                                   "answers again");
}

/* The stored form of a verdict: sealed when a keyring is given. */
static const char *shared_encode(oauth2_ctx_t *ctx,
                                 const oauth2_verify_shared_t *sh,
                                 const char *skey, const char *text)
{
    char *sealed = NULL;

    if (sh == NULL || sh->ring == NULL)
        return apr_pstrdup(ctx->pool, text);
    if (oauth2_crypto_seal(ctx, sh->ring, SEAL_SALT, strlen(SEAL_SALT),
                           SEAL_INFO, skey, strlen(skey), text, strlen(text),
                           &sealed) != OAUTH2_OK)
        return NULL;
    return sealed;
}

/* Remember a verdict in the shared store (best effort: a miss later). */
static void shared_put(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                       oauth2_store_t *store, const oauth2_verify_shared_t *sh,
                       const char *skey, const json_t *resp, apr_time_t until)
{
    char *text;
    const char *val;
    oauth2_status_t st;

    if (store == NULL || until <= ctx->now)
        return;
    text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    val = shared_encode(ctx, sh, skey, text ? text : INACTIVE);
    free(text);
    if (val == NULL)
        return;
    st = oauth2_store_set(ctx, store, skey, val, strlen(val), until - ctx->now);
    if (st == OAUTH2_UNAVAILABLE)
        shared_health(ctx, v, 1, ctx->err.text);
    else if (st != OAUTH2_OK)
        oauth2_log_debug(ctx,
                         OAUTH2_LOGNO(00802) "introspection verdict "
                                             "not stored: %s",
                         ctx->err.text);
}

/* The verdict object a store value holds, or NULL (foreign, tampered). */
static json_t *shared_decode(oauth2_ctx_t *ctx,
                             const oauth2_verify_shared_t *sh, const char *skey,
                             const char *val, size_t len)
{
    unsigned char *pt = NULL;
    json_t *resp = NULL;

    if (sh != NULL && sh->ring != NULL) {
        if (oauth2_crypto_open(ctx, sh->ring, SEAL_SALT, strlen(SEAL_SALT),
                               SEAL_INFO, skey, strlen(skey), val, len, &pt,
                               &len) != OAUTH2_OK) {
            oauth2_log_debug(ctx,
                             OAUTH2_LOGNO(00805) "shared verdict does not "
                                                 "open (%s); ignored",
                             ctx->err.text);
            return NULL;
        }
        val = (const char *)pt;
    }
    if (oauth2_json_parse_object(ctx, val, len, NULL, &resp) != OAUTH2_OK)
        return NULL;
    oauth2_json_pool_own(ctx->pool, resp);
    return resp;
}

/*
 * A verdict another process (or node) stored: OK with the claims, DENIED
 * for a remembered inactive token, NOT_FOUND otherwise (store errors are
 * misses: the endpoint decides then).
 */
static oauth2_status_t shared_get(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                  oauth2_store_t *store,
                                  const oauth2_verify_shared_t *sh,
                                  const char *skey, const char *key,
                                  json_t **claims)
{
    char *val = NULL;
    size_t len = 0;
    json_t *resp;
    oauth2_status_t st;

    if (store == NULL)
        return OAUTH2_NOT_FOUND;
    st = oauth2_store_get(ctx, store, skey, &val, &len);
    shared_health(ctx, v, st == OAUTH2_UNAVAILABLE, ctx->err.text);
    if (st != OAUTH2_OK ||
        (resp = shared_decode(ctx, sh, skey, val, len)) == NULL)
        return OAUTH2_NOT_FOUND;
    oauth2_log_debug(ctx, OAUTH2_LOGNO(00806) "introspection verdict from "
                                              "the shared store");
    if (!json_is_true(json_object_get(resp, "active"))) {
        oauth2_err_set(ctx, "token inactive (shared cache)");
        return OAUTH2_DENIED;
    }
    /* Checked again: the clock moved since it was stored. */
    if (oauth2_verify_claims(ctx, v, resp, 1) != OAUTH2_OK)
        return OAUTH2_DENIED;
    oauth2_verdict_put(ctx, v, key, resp, keep_until(ctx, v, resp));
    *claims = resp;
    return OAUTH2_OK;
}

/* ==== entry point ======================================================= */

oauth2_status_t oauth2_introspect_token(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                        const char *token, const char *hash_hex,
                                        oauth2_store_t *store,
                                        const oauth2_verify_shared_t *sh,
                                        json_t **claims)
{
    const char *key = oauth2_verify_cache_key(ctx->pool, v, hash_hex);
    const char *skey = apr_pstrcat(ctx->pool, "oauth2:i:", key, NULL);
    json_t *resp = NULL;
    oauth2_status_t st;
    apr_time_t until;

    st = shared_get(ctx, v, store, sh, skey, key, claims);
    if (st != OAUTH2_NOT_FOUND)
        return st;
    st = call(ctx, v, token, &resp);
    if (st != OAUTH2_OK) {
        oauth2_log_warn(ctx,
                        OAUTH2_LOGNO(00801) "introspection at %s "
                                            "failed: %s",
                        v->opts.location, ctx->err.text);
        return st;
    }
    if (!json_is_true(json_object_get(resp, "active")) ||
        (st = oauth2_verify_claims(ctx, v, resp, 1)) != OAUTH2_OK) {
        until = ctx->now + v->opts.negative_ttl;
        oauth2_verdict_put(ctx, v, key, NULL, until);
        shared_put(ctx, v, store, sh, skey, NULL, until);
        if (st == OAUTH2_OK)
            oauth2_err_set(ctx, "token inactive");
        return OAUTH2_DENIED;
    }
    until = keep_until(ctx, v, resp);
    oauth2_verdict_put(ctx, v, key, resp, until);
    shared_put(ctx, v, store, sh, skey, resp, until);
    *claims = resp;
    return OAUTH2_OK;
}
