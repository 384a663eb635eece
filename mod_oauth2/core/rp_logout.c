/*
 * rp_logout.c - OpenID Connect Back-Channel Logout 1.0 for the relying
 * party: peek at a logout token's issuer (to pick the provider), then
 * validate it fully (signature via rp_idtoken.c's JWKS cache, then one
 * small check per claim). Never ends a session itself, never touches the
 * store (jti single use and the revocation are session.c's, driven by the
 * adapter) and never logs the token.
 */
#include <string.h>

#include <apr_strings.h>

#include "oauth2/jose.h"
#include "oauth2/log.h"
#include "oauth2/rp.h"

#define SKEW_SEC 60

const char *oauth2_rp_logout_token_iss(oauth2_ctx_t *ctx, const char *token)
{
    oauth2_jws_t *jws = NULL;
    const char *iss;

    if (token == NULL ||
        oauth2_jws_parse(ctx, token, strlen(token), &jws) != OAUTH2_OK)
        return NULL;
    if ((iss = oauth2_json_str(jws->payload, "iss")) == NULL)
        oauth2_err_set(ctx, "logout token without iss");
    return iss;
}

static int check_typ(oauth2_ctx_t *ctx, const char *typ)
{
    if (typ == NULL || strcasecmp(typ, "logout+jwt") == 0 ||
        strcasecmp(typ, "application/logout+jwt") == 0 ||
        strcasecmp(typ, "JWT") == 0)
        return 1;
    oauth2_err_set(ctx, "logout token typ %s refused",
                   oauth2_log_escape(ctx->pool, typ, strlen(typ)));
    return 0;
}

static int check_iss(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                     const oauth2_provider_meta_t *meta, json_t *c)
{
    const char *iss = oauth2_json_str(c, "iss");

    if (iss != NULL &&
        ((meta->issuer != NULL && strcmp(iss, meta->issuer) == 0) ||
         (prov->alt_issuer != NULL && strcmp(iss, prov->alt_issuer) == 0)))
        return 1;
    oauth2_err_set(ctx, "logout token iss is not %s's", prov->name);
    return 0;
}

static int check_aud(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                     json_t *c)
{
    json_t *aud = json_object_get(c, "aud"), *v;
    size_t i;

    if (json_is_string(aud) &&
        strcmp(json_string_value(aud), prov->client_id) == 0)
        return 1;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) &&
            strcmp(json_string_value(v), prov->client_id) == 0)
            return 1;
    }
    oauth2_err_set(ctx, "logout token aud does not contain our client_id");
    return 0;
}

/* iat required and recent; exp, when present, not passed. Doubles. */
static int check_times(oauth2_ctx_t *ctx, json_t *c)
{
    json_t *iat = json_object_get(c, "iat"), *exp = json_object_get(c, "exp");
    double now = (double)apr_time_sec(ctx->now);
    double oldest = now - (double)apr_time_sec(OAUTH2_RP_BCL_MAX_AGE);

    if (!json_is_number(iat)) {
        oauth2_err_set(ctx, "logout token lacks a numeric iat");
        return 0;
    }
    if (json_number_value(iat) > now + SKEW_SEC ||
        json_number_value(iat) + SKEW_SEC < oldest) {
        oauth2_err_set(ctx, "logout token iat outside the accepted window");
        return 0;
    }
    if (exp != NULL &&
        (!json_is_number(exp) || json_number_value(exp) + SKEW_SEC <= now)) {
        oauth2_err_set(ctx, "logout token expired");
        return 0;
    }
    return 1;
}

static int check_events(oauth2_ctx_t *ctx, json_t *c)
{
    json_t *ev = json_object_get(c, "events");

    if (!json_is_object(ev) ||
        !json_is_object(json_object_get(ev, OAUTH2_RP_BCL_EVENT))) {
        oauth2_err_set(ctx, "logout token events lack the back-channel "
                            "logout event");
        return 0;
    }
    return 1;
}

/* sub or sid (non-empty strings, bounded), jti, and never a nonce. */
static int check_ids(oauth2_ctx_t *ctx, json_t *c)
{
    json_t *sub = json_object_get(c, "sub"), *sid = json_object_get(c, "sid");
    const char *jti = oauth2_json_str(c, "jti");

    if (json_object_get(c, "nonce") != NULL) {
        oauth2_err_set(ctx, "logout token carries a nonce");
        return 0;
    }
    if ((sub != NULL && (!json_is_string(sub) || json_string_length(sub) == 0 ||
                         json_string_length(sub) > 255)) ||
        (sid != NULL && (!json_is_string(sid) || json_string_length(sid) == 0 ||
                         json_string_length(sid) > 255)) ||
        (sub == NULL && sid == NULL)) {
        oauth2_err_set(ctx, "logout token needs a sub or sid string");
        return 0;
    }
    if (jti == NULL || *jti == '\0' || strlen(jti) > 255) {
        oauth2_err_set(ctx, "logout token without a jti");
        return 0;
    }
    return 1;
}

oauth2_status_t oauth2_rp_logout_token_validate(
    oauth2_ctx_t *ctx, oauth2_http_t *http, oauth2_rp_jwks_cache_t *cache,
    const oauth2_rp_provider_t *prov, const oauth2_provider_meta_t *meta,
    const char *token, json_t **claims)
{
    oauth2_jws_t *jws = NULL;
    oauth2_status_t rc;
    json_t *c;

    if (token == NULL ||
        oauth2_jws_parse(ctx, token, strlen(token), &jws) != OAUTH2_OK)
        return OAUTH2_DENIED;
    rc = oauth2_rp_jws_verify(ctx, http, cache, prov, meta, jws);
    if (rc != OAUTH2_OK)
        return rc;
    c = jws->payload;
    if (!check_typ(ctx, jws->typ) || !check_iss(ctx, prov, meta, c) ||
        !check_aud(ctx, prov, c) || !check_times(ctx, c) ||
        !check_events(ctx, c) || !check_ids(ctx, c))
        return OAUTH2_DENIED;
    oauth2_log_debug(ctx, OAUTH2_LOGNO(00480) "logout token from %s valid",
                     prov->name);
    *claims = c;
    return OAUTH2_OK;
}
