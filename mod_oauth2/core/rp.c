/*
 * rp.c - the browser-facing half of the relying party: metadata merge, the
 * authorization request (state, nonce, PKCE S256), the login-in-flight
 * record, callback parsing and checking, the end-session URL and the
 * return-URL validator. Never talks to the token endpoint (rp_tokens.c)
 * and never sets cookies (the adapter seals and sets them).
 */
#include <string.h>

#include <apr_cstr.h>
#include <apr_strings.h>

#include "oauth2/log.h"
#include "oauth2/pkce.h"
#include "oauth2/rp.h"
#include "oauth2/util.h"

#define RANDOM_BYTES 32
/* 9999-12-31T23:59:59Z: the latest login time a record may carry. */
#define MAX_EPOCH_SEC 253402300799LL
#define CLOCK_SKEW apr_time_from_sec(60)

int oauth2_rp_is_oidc(const oauth2_rp_provider_t *prov)
{
    const char *s = prov->scope;
    size_t n;

    while (s != NULL && *s) {
        n = strcspn(s, " ");
        if (n == 6 && strncmp(s, "openid", 6) == 0)
            return 1;
        s += n;
        s += strspn(s, " ");
    }
    return 0;
}

#define PICK(f) m->f = prov->meta.f ? prov->meta.f : (d ? d->f : NULL)

oauth2_provider_meta_t *oauth2_rp_meta_merge(oauth2_ctx_t *ctx,
                                             const oauth2_rp_provider_t *prov,
                                             const oauth2_provider_meta_t *d)
{
    oauth2_provider_meta_t *m = apr_pcalloc(ctx->pool, sizeof(*m));

    PICK(issuer);
    PICK(authorization_endpoint);
    PICK(token_endpoint);
    PICK(userinfo_endpoint);
    PICK(jwks_uri);
    PICK(end_session_endpoint);
    m->iss_parameter_supported =
        (d && d->iss_parameter_supported) || prov->meta.iss_parameter_supported;
    return m;
}

static const char *with_query(apr_pool_t *p, const char *url, const char *query)
{
    return apr_pstrcat(p, url, strchr(url, '?') ? "&" : "?", query, NULL);
}

oauth2_status_t
oauth2_rp_login_start(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                      const oauth2_provider_meta_t *meta,
                      const char *redirect_uri, const char *return_url,
                      oauth2_rp_login_t **login, const char **auth_url)
{
    return oauth2_rp_login_start_ex(ctx, prov, meta, redirect_uri, return_url,
                                    NULL, login, auth_url);
}

oauth2_status_t
oauth2_rp_login_start_ex(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                         const oauth2_provider_meta_t *meta,
                         const char *redirect_uri, const char *return_url,
                         const apr_table_t *params, oauth2_rp_login_t **login,
                         const char **auth_url)
{
    oauth2_rp_login_t *l = apr_pcalloc(ctx->pool, sizeof(*l));
    const char *q, *challenge = NULL;

    if (meta->authorization_endpoint == NULL) {
        oauth2_err_set(ctx, "provider %s has no authorization_endpoint",
                       prov->name);
        return OAUTH2_DENIED;
    }
    l->provider = prov->name;
    l->return_url = return_url ? return_url : "/";
    l->created = ctx->now;
    l->state = oauth2_random_b64url(ctx, RANDOM_BYTES);
    l->nonce = oauth2_rp_is_oidc(prov) ? oauth2_random_b64url(ctx, RANDOM_BYTES)
                                       : NULL;
    if (l->state == NULL || (oauth2_rp_is_oidc(prov) && l->nonce == NULL) ||
        oauth2_pkce_verifier_new(ctx, &l->verifier) != OAUTH2_OK ||
        oauth2_pkce_challenge_s256(ctx, l->verifier, &challenge) != OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    q = oauth2_http_form_encode(
        ctx->pool, "response_type", "code", "client_id", prov->client_id,
        "redirect_uri", redirect_uri, "scope", prov->scope, "state", l->state,
        "code_challenge", challenge, "code_challenge_method", "S256", NULL);
    if (l->nonce != NULL)
        q = apr_pstrcat(
            ctx->pool, q, "&",
            oauth2_http_form_encode(ctx->pool, "nonce", l->nonce, NULL), NULL);
    if (prov->hd != NULL)
        q = apr_pstrcat(
            ctx->pool, q, "&",
            oauth2_http_form_encode(ctx->pool, "hd", prov->hd, NULL), NULL);
    if (prov->auth_params != NULL)
        q = apr_pstrcat(ctx->pool, q, "&", prov->auth_params, NULL);
    /* Request parameters last, and only allow-listed, unreserved ones. */
    q = apr_pstrcat(ctx->pool, q, oauth2_rp_pass_params(ctx, prov, params),
                    NULL);
    *auth_url = with_query(ctx->pool, meta->authorization_endpoint, q);
    *login = l;
    return OAUTH2_OK;
}

char *oauth2_rp_login_encode(oauth2_ctx_t *ctx, const oauth2_rp_login_t *l)
{
    json_t *o = json_object();
    char *txt, *out = NULL;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "p", json_string(l->provider));
    json_object_set_new(o, "s", json_string(l->state));
    if (l->nonce)
        json_object_set_new(o, "n", json_string(l->nonce));
    json_object_set_new(o, "v", json_string(l->verifier));
    json_object_set_new(o, "r", json_string(l->return_url));
    json_object_set_new(o, "t",
                        json_integer((json_int_t)apr_time_sec(l->created)));
    txt = json_dumps(o, JSON_COMPACT);
    if (txt != NULL) {
        out = apr_pstrdup(ctx->pool, txt);
        free(txt);
    }
    json_decref(o);
    return out;
}

oauth2_status_t oauth2_rp_login_decode(oauth2_ctx_t *ctx, const char *json,
                                       size_t len, apr_interval_time_t max_age,
                                       oauth2_rp_login_t **out)
{
    oauth2_rp_login_t *l = apr_pcalloc(ctx->pool, sizeof(*l));
    oauth2_status_t rc;
    json_t *o = NULL, *t;

    rc = oauth2_json_parse_object(ctx, json, len, NULL, &o);
    if (rc != OAUTH2_OK)
        goto end;
    rc = OAUTH2_DENIED;
    l->provider = oauth2_json_str(o, "p");
    l->state = oauth2_json_str(o, "s");
    l->nonce = oauth2_json_str(o, "n");
    l->verifier = oauth2_json_str(o, "v");
    l->return_url = oauth2_json_str(o, "r");
    t = json_object_get(o, "t");
    if (l->provider == NULL || l->state == NULL || l->verifier == NULL ||
        l->return_url == NULL || !json_is_integer(t)) {
        oauth2_err_set(ctx, "login state incomplete");
        goto end;
    }
    /* Bounded before scaling to microseconds: no signed overflow. */
    if (json_integer_value(t) < 0 || json_integer_value(t) > MAX_EPOCH_SEC) {
        oauth2_err_set(ctx, "login state time out of range");
        goto end;
    }
    l->created = apr_time_from_sec((apr_time_t)json_integer_value(t));
    if (l->created > ctx->now + CLOCK_SKEW || ctx->now - l->created > max_age) {
        oauth2_err_set(ctx, "login state expired");
        goto end;
    }
    l->provider = apr_pstrdup(ctx->pool, l->provider);
    l->state = apr_pstrdup(ctx->pool, l->state);
    l->nonce = l->nonce ? apr_pstrdup(ctx->pool, l->nonce) : NULL;
    l->verifier = apr_pstrdup(ctx->pool, l->verifier);
    l->return_url = apr_pstrdup(ctx->pool, l->return_url);
    *out = l;
    rc = OAUTH2_OK;
end:
    if (o != NULL)
        json_decref(o);
    return rc;
}

const char *oauth2_rp_state_tag(apr_pool_t *p, const char *state)
{
    unsigned char md[OAUTH2_SHA256_LEN];

    if (!oauth2_sha256(state, strlen(state), md))
        return NULL;
    return oauth2_b64url_encode(p, md, 9);
}

/* ---- callback ------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Form-decode [s, s+n) into the pool; NULL on a bad escape or a NUL. */
static char *form_decode(apr_pool_t *p, const char *s, size_t n)
{
    char *out = apr_palloc(p, n + 1);
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        }
        else if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return NULL;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        }
        else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static const char **slot(oauth2_rp_callback_t *cb, const char *k, size_t n)
{
#define SLOT(name)                                                             \
    if (n == sizeof(#name) - 1 && strncmp(k, #name, n) == 0)                   \
    return &cb->name
    SLOT(code);
    SLOT(state);
    SLOT(iss);
    SLOT(error);
    SLOT(error_description);
#undef SLOT
    return NULL;
}

oauth2_status_t oauth2_rp_callback_parse(oauth2_ctx_t *ctx, const char *query,
                                         oauth2_rp_callback_t **out)
{
    oauth2_rp_callback_t *cb = apr_pcalloc(ctx->pool, sizeof(*cb));
    const char *s = query ? query : "";

    while (*s) {
        size_t n = strcspn(s, "&"), k = strcspn(s, "=");
        const char **dst;
        if (k > n)
            k = n;
        dst = slot(cb, s, k);
        if (dst != NULL) {
            if (*dst != NULL) {
                oauth2_err_set(ctx, "callback parameter repeated");
                return OAUTH2_DENIED;
            }
            *dst = k < n ? form_decode(ctx->pool, s + k + 1, n - k - 1) : "";
            if (*dst == NULL) {
                oauth2_err_set(ctx, "callback parameter badly encoded");
                return OAUTH2_DENIED;
            }
        }
        s += n;
        if (*s == '&')
            s++;
    }
    *out = cb;
    return OAUTH2_OK;
}

static int issuer_ok(const oauth2_rp_provider_t *prov,
                     const oauth2_provider_meta_t *meta, const char *iss)
{
    /* A provider described without an issuer cannot be checked. */
    if (meta->issuer == NULL && prov->alt_issuer == NULL)
        return 1;
    return (meta->issuer != NULL && strcmp(iss, meta->issuer) == 0) ||
           (prov->alt_issuer != NULL && strcmp(iss, prov->alt_issuer) == 0);
}

oauth2_status_t oauth2_rp_callback_check(oauth2_ctx_t *ctx,
                                         const oauth2_rp_provider_t *prov,
                                         const oauth2_provider_meta_t *meta,
                                         const oauth2_rp_login_t *login,
                                         const oauth2_rp_callback_t *cb)
{
    if (cb->state == NULL ||
        !oauth2_ct_equal(cb->state, strlen(cb->state), login->state,
                         strlen(login->state))) {
        oauth2_err_set(ctx, "state mismatch");
        return OAUTH2_DENIED;
    }
    if (cb->error != NULL) {
        oauth2_err_set(
            ctx, "provider error: %s",
            oauth2_log_escape(ctx->pool, cb->error, strlen(cb->error)));
        return OAUTH2_DENIED;
    }
    /* RFC 9207: checked when present, required when announced. */
    if (cb->iss != NULL ? !issuer_ok(prov, meta, cb->iss)
                        : meta->iss_parameter_supported) {
        oauth2_err_set(ctx, "iss response parameter %s",
                       cb->iss ? "does not match the issuer" : "missing");
        return OAUTH2_DENIED;
    }
    if (cb->code == NULL || *cb->code == '\0') {
        oauth2_err_set(ctx, "callback without code");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* ---- request parameters and third-party login ------------------------ */

/* Names a request may never set in the authorization request. */
static const char *const reserved_params[] = {
    "response_type", "client_id", "redirect_uri",   "scope",
    "state",         "nonce",     "code_challenge", "code_challenge_method",
    "response_mode", "request",   "request_uri",    "client_secret",
    "code_verifier", NULL};

int oauth2_rp_param_reserved(const char *name)
{
    int i;

    for (i = 0; reserved_params[i] != NULL; i++) {
        if (strcmp(name, reserved_params[i]) == 0)
            return 1;
    }
    return 0;
}

oauth2_status_t oauth2_rp_params_parse(oauth2_ctx_t *ctx, const char *query,
                                       size_t max_params, apr_table_t **out)
{
    apr_table_t *t = apr_table_make(ctx->pool, 8);
    const char *s = query ? query : "";

    while (*s) {
        size_t n = strcspn(s, "&"), k = strcspn(s, "=");
        const char *name, *val;

        if (k > n)
            k = n;
        name = form_decode(ctx->pool, s, k);
        val = k < n ? form_decode(ctx->pool, s + k + 1, n - k - 1) : "";
        if (name == NULL || val == NULL) {
            oauth2_err_set(ctx, "request parameter badly encoded");
            return OAUTH2_DENIED;
        }
        if (*name != '\0' && apr_table_get(t, name) != NULL) {
            oauth2_err_set(ctx, "request parameter %s repeated",
                           oauth2_log_escape(ctx->pool, name, strlen(name)));
            return OAUTH2_DENIED;
        }
        if (*name != '\0') {
            if ((size_t)apr_table_elts(t)->nelts >= max_params) {
                oauth2_err_set(ctx, "too many request parameters");
                return OAUTH2_DENIED;
            }
            apr_table_setn(t, name, val);
        }
        s += n;
        if (*s == '&')
            s++;
    }
    *out = t;
    return OAUTH2_OK;
}

/* Is `name` one of the comma-separated words of `list`? */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);

    while (list != NULL && *list) {
        size_t w = strcspn(list, ", ");
        if (w == n && strncmp(list, name, n) == 0)
            return 1;
        list += w;
        list += strspn(list, ", ");
    }
    return 0;
}

typedef struct pass_walk_t {
    oauth2_ctx_t *ctx;
    const oauth2_rp_provider_t *prov;
    const char *q;
} pass_walk_t;

static int pass_one(void *data, const char *key, const char *val)
{
    pass_walk_t *w = data;

    if (!in_list(w->prov->pass, key) || oauth2_rp_param_reserved(key))
        return 1; /* not ours to forward: dropped */
    w->q = apr_pstrcat(w->ctx->pool, w->q, "&",
                       oauth2_http_form_encode(w->ctx->pool, key, val, NULL),
                       NULL);
    return 1;
}

const char *oauth2_rp_pass_params(oauth2_ctx_t *ctx,
                                  const oauth2_rp_provider_t *prov,
                                  const apr_table_t *params)
{
    pass_walk_t w = {ctx, prov, ""};

    if (params != NULL && prov->pass != NULL)
        apr_table_do(pass_one, &w, params, NULL);
    return w.q;
}

/* The issuer a discovery URL announces: the URL minus the well-known part. */
static int discovery_issuer_is(const char *disc, const char *iss)
{
    static const char wk[] = "/.well-known/openid-configuration";
    size_t n = strlen(disc), w = sizeof(wk) - 1, i = strlen(iss);

    if (n <= w || strcmp(disc + n - w, wk) != 0)
        return 0;
    n -= w;
    if (i > 0 && iss[i - 1] == '/')
        i--;
    return i == n && strncmp(disc, iss, n) == 0;
}

int oauth2_rp_issuer_configured(const oauth2_rp_provider_t *prov,
                                const char *iss)
{
    if (iss == NULL || *iss == '\0')
        return 0;
    if (prov->meta.issuer != NULL && strcmp(prov->meta.issuer, iss) == 0)
        return 1;
    if (prov->alt_issuer != NULL && strcmp(prov->alt_issuer, iss) == 0)
        return 1;
    return prov->meta.issuer == NULL && prov->discovery_url != NULL &&
           discovery_issuer_is(prov->discovery_url, iss);
}

/* ---- logout ----------------------------------------------------------- */

char *oauth2_rp_end_session_url(oauth2_ctx_t *ctx,
                                const oauth2_rp_provider_t *prov,
                                const oauth2_provider_meta_t *meta,
                                const char *id_token,
                                const char *post_logout_uri)
{
    const char *q;

    if (meta == NULL || meta->end_session_endpoint == NULL)
        return NULL;
    q = oauth2_http_form_encode(ctx->pool, "client_id", prov->client_id, NULL);
    if (id_token != NULL)
        q = apr_pstrcat(
            ctx->pool, q, "&",
            oauth2_http_form_encode(ctx->pool, "id_token_hint", id_token, NULL),
            NULL);
    if (post_logout_uri != NULL)
        q = apr_pstrcat(ctx->pool, q, "&",
                        oauth2_http_form_encode(ctx->pool,
                                                "post_logout_redirect_uri",
                                                post_logout_uri, NULL),
                        NULL);
    return (char *)with_query(ctx->pool, meta->end_session_endpoint, q);
}

/* ---- return URL ------------------------------------------------------- */

/* Characters and escapes that have no place in a redirect target. */
static int url_chars_ok(oauth2_ctx_t *ctx, const char *u)
{
    for (; *u; u++) {
        unsigned char c = (unsigned char)*u;
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            oauth2_err_set(ctx, "return URL holds a forbidden character");
            return 0;
        }
        if (c == '%') {
            int hi = hexval((unsigned char)u[1]);
            int lo = hi < 0 ? -1 : hexval((unsigned char)u[2]);
            int v = hi * 16 + lo;
            if (hi < 0 || lo < 0 || v < 0x20 || v >= 0x7f || v == '/' ||
                v == '\\' || v == '%') {
                oauth2_err_set(ctx, "return URL holds a forbidden escape");
                return 0;
            }
        }
    }
    return 1;
}

/*
 * The path part of a local URL has no empty segment ("//" could turn
 * into a host after a naive normalisation), no dot segment and no encoded
 * dot: an application's own URLs never need them.
 */
static int local_path_plain(const char *url)
{
    size_t n = strcspn(url, "?#"), i;

    for (i = 0; i < n; i++) {
        const char *seg = url + i + 1;
        size_t len;
        if (url[i] == '%' && i + 2 < n && url[i + 1] == '2' &&
            (url[i + 2] == 'e' || url[i + 2] == 'E'))
            return 0;
        if (url[i] != '/')
            continue;
        len = strcspn(seg, "/?#");
        if (i + 1 < n && len == 0)
            return 0;
        if ((len == 1 && seg[0] == '.') ||
            (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
    }
    return 1;
}

/* `url` starts with `origin` followed by the end, '/', '?' or '#'. */
static int same_origin(const char *url, const char *origin)
{
    size_t n = strlen(origin);
    char c;

    if (n == 0 || apr_cstr_casecmpn(url, origin, n) != 0)
        return 0;
    c = url[n];
    return c == '\0' || c == '/' || c == '?' || c == '#';
}

int oauth2_rp_return_url_ok(oauth2_ctx_t *ctx, const char *url,
                            const char *origin,
                            const apr_array_header_t *allowed)
{
    int i;

    if (url == NULL || *url == '\0') {
        oauth2_err_set(ctx, "empty return URL");
        return 0;
    }
    if (!url_chars_ok(ctx, url))
        return 0;
    if (url[0] == '/')
        goto local;
    if (apr_cstr_casecmpn(url, "https://", 8) != 0 &&
        apr_cstr_casecmpn(url, "http://", 7) != 0) {
        oauth2_err_set(ctx, "return URL is neither a path nor http(s)");
        return 0;
    }
    if (origin != NULL && same_origin(url, origin))
        return 1;
    for (i = 0; allowed != NULL && i < allowed->nelts; i++) {
        if (same_origin(url, APR_ARRAY_IDX(allowed, i, const char *)))
            return 1;
    }
    oauth2_err_set(ctx, "return URL is on another origin");
    return 0;
local:
    if (url[1] == '/') {
        oauth2_err_set(ctx, "return URL is protocol-relative");
        return 0;
    }
    if (!local_path_plain(url)) {
        oauth2_err_set(ctx, "return URL path has empty or dot segments");
        return 0;
    }
    return 1;
}
