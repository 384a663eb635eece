/*
 * rp_tokens.c - the back-channel half of the relying party: the token
 * endpoint (code exchange, refresh) with client_secret_basic or _post, the
 * ID token claim checks of OIDC Core 3.1.3.7, at_hash, userinfo, and claim
 * lookup by dotted path. Never logs a token, code or client secret.
 */
#include <string.h>

#include <apr_cstr.h>
#include <apr_strings.h>
#include <openssl/evp.h>

#include "oauth2/log.h"
#include "oauth2/rp.h"
#include "oauth2/util.h"

#define CLOCK_SKEW_SEC 60
#define TOKEN_MAX_BYTES (64 * 1024)

/* RFC 6749 2.3.1: the Basic credentials are form-encoded first. */
static const char *basic_auth(apr_pool_t *p, const oauth2_rp_provider_t *prov)
{
    const char *id = oauth2_http_form_encode(p, "", prov->client_id, NULL);
    const char *sec = oauth2_http_form_encode(
        p, "", prov->client_secret ? prov->client_secret : "", NULL);
    const char *pair = apr_pstrcat(p, id + 1, ":", sec + 1, NULL);

    return apr_pstrcat(
        p, "Basic ",
        oauth2_b64_encode(p, (const unsigned char *)pair, strlen(pair)), NULL);
}

static oauth2_status_t parse_tokens(oauth2_ctx_t *ctx, json_t *o,
                                    oauth2_rp_tokens_t *t)
{
    json_t *exp = json_object_get(o, "expires_in");

    t->access_token = oauth2_json_str(o, "access_token");
    t->refresh_token = oauth2_json_str(o, "refresh_token");
    t->id_token = oauth2_json_str(o, "id_token");
    t->token_type = oauth2_json_str(o, "token_type");
    if (t->access_token == NULL || *t->access_token == '\0') {
        oauth2_err_set(ctx, "token response without access_token");
        return OAUTH2_DENIED;
    }
    if (t->token_type != NULL && apr_cstr_casecmp(t->token_type, "bearer")) {
        oauth2_err_set(
            ctx, "token_type %s is not Bearer",
            oauth2_log_escape(ctx->pool, t->token_type, strlen(t->token_type)));
        return OAUTH2_DENIED;
    }
#define DUP(f) t->f = t->f ? apr_pstrdup(ctx->pool, t->f) : NULL
    DUP(access_token);
    DUP(refresh_token);
    DUP(id_token);
    DUP(token_type);
#undef DUP
    if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
        json_integer_value(exp) < 10 * 365 * 86400)
        t->expires =
            ctx->now + apr_time_from_sec((apr_time_t)json_integer_value(exp));
    return OAUTH2_OK;
}

/* An OAuth error answer: name the error code, never echo the body. */
static oauth2_status_t token_error(oauth2_ctx_t *ctx,
                                   const oauth2_http_response_t *r)
{
    json_t *o = NULL;
    const char *code = NULL;

    if (r->status >= 500 || r->status < 400) {
        oauth2_err_set(ctx, "token endpoint answered HTTP %d", r->status);
        return OAUTH2_UNAVAILABLE;
    }
    if (oauth2_json_parse_object(ctx, r->body, r->body_len, NULL, &o) ==
        OAUTH2_OK)
        code = oauth2_json_str(o, "error");
    oauth2_err_set(ctx, "token endpoint refused (HTTP %d): %s", r->status,
                   code ? oauth2_log_escape(ctx->pool, code, strlen(code))
                        : "no error code");
    if (o != NULL)
        json_decref(o);
    return OAUTH2_DENIED;
}

/* POST `form` to the token endpoint and parse the answer. */
static oauth2_status_t token_call(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                  const oauth2_rp_provider_t *prov,
                                  const oauth2_provider_meta_t *meta,
                                  const char *form, oauth2_rp_tokens_t **out)
{
    oauth2_http_request_t req = {0};
    oauth2_http_response_t resp = {0};
    oauth2_rp_tokens_t *t = apr_pcalloc(ctx->pool, sizeof(*t));
    oauth2_status_t rc;
    json_t *o = NULL;

    if (meta->token_endpoint == NULL) {
        oauth2_err_set(ctx, "provider %s has no token_endpoint", prov->name);
        return OAUTH2_ERROR;
    }
    if (prov->auth == OAUTH2_RP_AUTH_POST)
        form = apr_pstrcat(
            ctx->pool, form, "&",
            oauth2_http_form_encode(
                ctx->pool, "client_id", prov->client_id, "client_secret",
                prov->client_secret ? prov->client_secret : "", NULL),
            NULL);
    else
        req.authorization = basic_auth(ctx->pool, prov);
    req.method = "POST";
    req.kind = "token";
    req.url = meta->token_endpoint;
    req.content_type = "application/x-www-form-urlencoded";
    req.body = form;
    req.body_len = strlen(form);
    req.timeout = prov->timeout;
    req.max_response = TOKEN_MAX_BYTES;
    rc = oauth2_http_send(http, ctx, &req, &resp);
    if (rc != OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    if (resp.status != 200)
        return token_error(ctx, &resp);
    rc = oauth2_json_parse_object(ctx, resp.body, resp.body_len, NULL, &o);
    if (rc != OAUTH2_OK) {
        rc = OAUTH2_UNAVAILABLE;
        goto end;
    }
    rc = parse_tokens(ctx, o, t);
    if (rc == OAUTH2_OK)
        *out = t;
end:
    if (o != NULL)
        json_decref(o);
    return rc;
}

oauth2_status_t oauth2_rp_code_exchange(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                        const oauth2_rp_provider_t *prov,
                                        const oauth2_provider_meta_t *meta,
                                        const char *redirect_uri,
                                        const char *code, const char *verifier,
                                        oauth2_rp_tokens_t **out)
{
    const char *form = oauth2_http_form_encode(
        ctx->pool, "grant_type", "authorization_code", "code", code,
        "redirect_uri", redirect_uri, "code_verifier", verifier, NULL);
    oauth2_status_t rc = token_call(ctx, http, prov, meta, form, out);

    oauth2_log_debug(ctx, OAUTH2_LOGNO(00310) "code %s exchanged at %s: %s",
                     oauth2_log_redact(ctx->pool, code, strlen(code)),
                     prov->name, oauth2_status_str(rc));
    return rc;
}

oauth2_status_t oauth2_rp_refresh(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                  const oauth2_rp_provider_t *prov,
                                  const oauth2_provider_meta_t *meta,
                                  const char *refresh_token,
                                  oauth2_rp_tokens_t **out)
{
    const char *form =
        oauth2_http_form_encode(ctx->pool, "grant_type", "refresh_token",
                                "refresh_token", refresh_token, NULL);
    oauth2_status_t rc = token_call(ctx, http, prov, meta, form, out);

    oauth2_log_debug(ctx, OAUTH2_LOGNO(00311) "refresh at %s: %s", prov->name,
                     oauth2_status_str(rc));
    return rc;
}

/* ---- ID token claims (OIDC Core 3.1.3.7) ------------------------------ */

static int check_iss(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                     const oauth2_provider_meta_t *meta, json_t *c)
{
    const char *iss = oauth2_json_str(c, "iss");

    if (iss != NULL &&
        ((meta->issuer != NULL && strcmp(iss, meta->issuer) == 0) ||
         (prov->alt_issuer != NULL && strcmp(iss, prov->alt_issuer) == 0)))
        return 1;
    oauth2_err_set(ctx, "id_token iss %s is not the provider's",
                   iss ? oauth2_log_escape(ctx->pool, iss, strlen(iss))
                       : "(missing)");
    return 0;
}

static int check_aud(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                     json_t *c)
{
    json_t *aud = json_object_get(c, "aud"), *v;
    const char *azp = oauth2_json_str(c, "azp");
    size_t i, n = 0, found = 0;

    if (json_is_string(aud)) {
        n = 1;
        found = strcmp(json_string_value(aud), prov->client_id) == 0;
    }
    else if (json_is_array(aud)) {
        json_array_foreach(aud, i, v)
        {
            n++;
            if (json_is_string(v) &&
                strcmp(json_string_value(v), prov->client_id) == 0)
                found = 1;
        }
    }
    if (!found) {
        oauth2_err_set(ctx, "id_token aud does not contain our client_id");
        return 0;
    }
    /* 3.1.3.7 items 4 and 5: azp needed with several audiences. */
    if ((n > 1 && azp == NULL) ||
        (azp != NULL && strcmp(azp, prov->client_id) != 0)) {
        oauth2_err_set(ctx, "id_token azp %s",
                       azp ? "is not our client_id"
                           : "missing with several "
                             "audiences");
        return 0;
    }
    return 1;
}

static int check_times(oauth2_ctx_t *ctx, json_t *c)
{
    json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    double now = (double)apr_time_sec(ctx->now);

    /* Compared as doubles: absurd JSON numbers cannot overflow. */
    if (!json_is_number(exp) ||
        json_number_value(exp) + CLOCK_SKEW_SEC <= now) {
        oauth2_err_set(ctx, "id_token %s",
                       json_is_number(exp) ? "expired" : "lacks a numeric exp");
        return 0;
    }
    if (!json_is_number(iat) || json_number_value(iat) > now + CLOCK_SKEW_SEC) {
        oauth2_err_set(ctx, "id_token %s",
                       json_is_number(iat) ? "issued in the future"
                                           : "lacks a numeric iat");
        return 0;
    }
    return 1;
}

static int check_nonce(oauth2_ctx_t *ctx, json_t *c, const char *nonce)
{
    const char *got = oauth2_json_str(c, "nonce");

    if (nonce == NULL)
        return 1;
    if (got == NULL ||
        !oauth2_ct_equal(got, strlen(got), nonce, strlen(nonce))) {
        oauth2_err_set(ctx, "id_token nonce %s", got ? "mismatch" : "missing");
        return 0;
    }
    return 1;
}

oauth2_status_t oauth2_rp_id_token_claims_check(
    oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
    const oauth2_provider_meta_t *meta, json_t *claims, const char *nonce)
{
    const char *sub = oauth2_json_str(claims, "sub");
    const char *hd;

    if (!check_iss(ctx, prov, meta, claims) || !check_aud(ctx, prov, claims) ||
        !check_times(ctx, claims) || !check_nonce(ctx, claims, nonce))
        return OAUTH2_DENIED;
    if (sub == NULL || *sub == '\0' || strlen(sub) > 255) {
        oauth2_err_set(ctx, "id_token sub missing or too long");
        return OAUTH2_DENIED;
    }
    if (prov->hd != NULL && ((hd = oauth2_json_str(claims, "hd")) == NULL ||
                             strcmp(hd, prov->hd) != 0)) {
        oauth2_err_set(ctx, "id_token hd is not %s", prov->hd);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

int oauth2_rp_at_hash_ok(oauth2_ctx_t *ctx, const char *alg,
                         const char *access_token, const char *at_hash)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const EVP_MD *type;
    const char *want;

    if (alg == NULL || strlen(alg) != 5 || access_token == NULL ||
        at_hash == NULL)
        return 0;
    type = strcmp(alg, "EdDSA") == 0     ? EVP_sha512()
           : strcmp(alg + 2, "256") == 0 ? EVP_sha256()
           : strcmp(alg + 2, "384") == 0 ? EVP_sha384()
           : strcmp(alg + 2, "512") == 0 ? EVP_sha512()
                                         : NULL;
    if (type == NULL ||
        EVP_Digest(access_token, strlen(access_token), md, &n, type, NULL) != 1)
        return 0;
    want = oauth2_b64url_encode(ctx->pool, md, n / 2);
    return oauth2_ct_equal(want, strlen(want), at_hash, strlen(at_hash));
}

/* ---- userinfo ---------------------------------------------------------- */

oauth2_status_t oauth2_rp_userinfo(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                   const oauth2_rp_provider_t *prov,
                                   const oauth2_provider_meta_t *meta,
                                   const char *access_token,
                                   const char *expected_sub, json_t **out)
{
    oauth2_http_request_t req = {0};
    oauth2_http_response_t resp = {0};
    oauth2_status_t rc;
    const char *sub;
    json_t *o = NULL;

    req.method = "GET";
    req.kind = "userinfo";
    req.url = meta->userinfo_endpoint;
    req.authorization = apr_pstrcat(ctx->pool, "Bearer ", access_token, NULL);
    req.timeout = prov->timeout;
    req.max_response = TOKEN_MAX_BYTES;
    if (req.url == NULL) {
        oauth2_err_set(ctx, "provider has no userinfo_endpoint");
        return OAUTH2_ERROR;
    }
    rc = oauth2_http_send(http, ctx, &req, &resp);
    if (rc != OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    if (resp.status != 200) {
        oauth2_err_set(ctx, "userinfo answered HTTP %d", resp.status);
        return resp.status >= 500 ? OAUTH2_UNAVAILABLE : OAUTH2_DENIED;
    }
    rc = oauth2_json_parse_object(ctx, resp.body, resp.body_len, NULL, &o);
    if (rc != OAUTH2_OK)
        return OAUTH2_DENIED;
    sub = oauth2_json_str(o, "sub");
    if (expected_sub != NULL &&
        (sub == NULL || strcmp(sub, expected_sub) != 0)) {
        oauth2_err_set(ctx, "userinfo sub does not match the id_token");
        json_decref(o);
        return OAUTH2_DENIED;
    }
    *out = oauth2_json_pool_own(ctx->pool, o);
    return OAUTH2_OK;
}

const char *oauth2_rp_claim_text(apr_pool_t *p, json_t *claims,
                                 const char *path)
{
    json_t *v = claims;
    const char *s = path;

    while (v != NULL && s != NULL && *s) {
        size_t n = strcspn(s, ".");
        char *k = apr_pstrndup(p, s, n);
        v = json_is_object(v) ? json_object_get(v, k) : NULL;
        s += n;
        if (*s == '.')
            s++;
    }
    if (json_is_string(v))
        return apr_pstrdup(p, json_string_value(v));
    if (json_is_integer(v))
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(v));
    return NULL;
}
