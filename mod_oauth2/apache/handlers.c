/*
 * handlers.c - the two endpoints of the relying party, served from the
 * quick handler so no <Location> protection can loop on them:
 * OAuth2RedirectURI (finish a login: login-state cookie, callback checks,
 * code exchange, ID token, userinfo, new session, back to the original
 * URL) and OAuth2LogoutURI (delete the session, clear the cookie, then the
 * provider's end_session_endpoint or the return URL). Generated pages
 * escape every value and forbid all active content. Never logs a code,
 * token or cookie.
 */
#include <string.h>

#include <apr_strings.h>
#include <http_protocol.h>
#include <util_script.h>

#include "oauth2_apache.h"
#include "oauth2/session.h"
#include "oauth2/util.h"

/* Largest callback or login-start form body we read. */
#define FORM_MAX 8192
/* More parameters than any login URI needs are refused. */
#define PARAMS_MAX 32

/* A login that failed for the user's or the provider's reasons. */
static int failed(request_rec *r, oauth2_ctx_t *ctx, int status,
                  const char *title, const char *text)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  OAUTH2_LOGNO(00750) "login failed (%d): %s", status,
                  ctx->err.text);
    oauth2_ap_metrics_signin_failed_status(r, status);
    return oauth2_ap_rp_page(r, status, title, text);
}

/* The login-state cookie for `state`, opened, and cleared (single use). */
static int take_login(request_rec *r, oauth2_ctx_t *ctx, const char *state,
                      oauth2_rp_login_t **l)
{
    const char *name, *value, *tag;

    if (state == NULL || *state == '\0' || strlen(state) > 128) {
        oauth2_err_set(ctx, "callback without state");
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-in failed",
                      "The sign-in response is incomplete. Please start "
                      "again.");
    }
    if ((tag = oauth2_rp_state_tag(r->pool, state)) == NULL) {
        oauth2_err_set(ctx, "cannot hash the state");
        return failed(r, ctx, HTTP_INTERNAL_SERVER_ERROR, "Sign-in failed",
                      "Internal error.");
    }
    name = apr_pstrcat(r->pool, oauth2_ap_rp_login_cookie_prefix(r), tag, NULL);
    value = oauth2_ap_rp_cookie_get(r, name);
    if (value == NULL) {
        oauth2_err_set(ctx, "no login in flight for this state");
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-in failed",
                      "This sign-in has expired or was already used. Please "
                      "start again.");
    }
    oauth2_ap_rp_cookie_set(r, name, NULL, 0);
    if (oauth2_ap_rp_login_open(r, ctx, name, value, l) != OAUTH2_OK)
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-in failed",
                      "This sign-in has expired. Please start again.");
    return OK;
}

/* Exchange, ID token, userinfo: the claims of the new session. */
static int tokens_and_claims(request_rec *r, oauth2_ctx_t *ctx,
                             const oauth2_ap_provider_t *ap,
                             const oauth2_provider_meta_t *meta,
                             const oauth2_rp_login_t *l, const char *code,
                             oauth2_rp_tokens_t **tp, json_t **claims)
{
    oauth2_rp_tokens_t *t = NULL;
    oauth2_status_t rc;
    json_t *ui = NULL;
    const char *sub = NULL;

    rc = oauth2_rp_code_exchange(ctx, oauth2_ap_rp_http(), &ap->rp, meta,
                                 oauth2_ap_rp_redirect_uri(r), code,
                                 l->verifier, &t);
    if (rc == OAUTH2_UNAVAILABLE || rc == OAUTH2_ERROR)
        return failed(r, ctx, HTTP_BAD_GATEWAY, "Sign-in unavailable",
                      "The identity provider did not answer. Please try "
                      "again later.");
    if (rc != OAUTH2_OK)
        return failed(r, ctx, HTTP_FORBIDDEN, "Sign-in failed",
                      "The identity provider refused the sign-in.");
    *claims = json_object();
    oauth2_json_pool_own(r->pool, *claims);
    if (oauth2_rp_is_oidc(&ap->rp)) {
        rc = oauth2_rp_id_token_validate(
            ctx, oauth2_ap_rp_http(), oauth2_ap_rp_jwks(), &ap->rp, meta,
            t->id_token, l->nonce, t->access_token, claims);
        if (rc == OAUTH2_UNAVAILABLE)
            return failed(r, ctx, HTTP_BAD_GATEWAY, "Sign-in unavailable",
                          "The identity provider's keys cannot be fetched.");
        if (rc != OAUTH2_OK)
            return failed(r, ctx, HTTP_FORBIDDEN, "Sign-in failed",
                          "The identity token is not valid.");
        sub = oauth2_json_str(*claims, "sub");
    }
    if (ap->rp.userinfo && meta->userinfo_endpoint != NULL) {
        rc = oauth2_rp_userinfo(ctx, oauth2_ap_rp_http(), &ap->rp, meta,
                                t->access_token, sub, &ui);
        if (rc != OAUTH2_OK)
            return failed(
                r, ctx, rc == OAUTH2_DENIED ? HTTP_FORBIDDEN : HTTP_BAD_GATEWAY,
                "Sign-in failed", "The user information could not be fetched.");
        /* The ID token's claims win: userinfo only adds. */
        json_object_update_missing(*claims, ui);
    }
    *tp = t;
    return OK;
}

/* The session's user name; plain OAuth 2.0 claims get a `sub` from it. */
static const char *user_of(request_rec *r, oauth2_ctx_t *ctx,
                           const oauth2_ap_provider_t *ap, json_t *claims)
{
    const char *user = oauth2_rp_claim_text(
        r->pool, claims, ap->rp.user_claim ? ap->rp.user_claim : "sub");

    if (user == NULL || *user == '\0') {
        oauth2_err_set(ctx, "identity claim %s missing",
                       ap->rp.user_claim ? ap->rp.user_claim : "sub");
        return NULL;
    }
    if (json_object_get(claims, "sub") == NULL)
        json_object_set_new(claims, "sub", json_string(user));
    return user;
}

static int new_session(request_rec *r, oauth2_ctx_t *ctx,
                       const oauth2_ap_provider_t *ap, oauth2_rp_tokens_t *t,
                       json_t *claims, const char *user)
{
    oauth2_session_t *s = NULL;
    oauth2_status_t rc;

    rc = oauth2_ap_rp_session_new(r, ctx, &s);
    if (rc == OAUTH2_OK)
        rc = oauth2_session_set_claims(ctx, s, claims);
    if (rc == OAUTH2_OK) {
        s->provider = ap->rp.name;
        s->sub = oauth2_json_str(claims, "sub");
        s->sid = oauth2_json_str(claims, "sid");
        s->access_token = t->access_token;
        s->refresh_token = t->refresh_token;
        s->id_token = t->id_token;
        s->expires_at = t->expires;
        rc = oauth2_ap_rp_session_save(r, ctx, s);
    }
    if (rc != OAUTH2_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00751) "cannot store the session: %s",
                      ctx->err.text);
        oauth2_ap_metrics_signin_failed(r, "store_unavailable");
        return oauth2_ap_rp_page(r, HTTP_SERVICE_UNAVAILABLE,
                                 "Service unavailable",
                                 "The session store cannot be reached. "
                                 "Please try again later.");
    }
    oauth2_ap_rp_session_cookie(r, ctx, s);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  OAUTH2_LOGNO(00752) "signed in %s via %s",
                  ap_escape_logitem(r->pool, user), ap->rp.name);
    oauth2_ap_metrics_signin_completed(r, ap->rp.name);
    return OK;
}

/*
 * The request's parameters as one string: the query, and for a POST the
 * form body appended, so a name in both counts as repeated. GET: OK.
 * POST: application/x-www-form-urlencoded only, at most FORM_MAX bytes,
 * no NUL. Anything else: the status to answer (page already set).
 */
static int request_params(request_rec *r, oauth2_ctx_t *ctx, const char **out)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    size_t ctn = sizeof("application/x-www-form-urlencoded") - 1;
    char *buf;
    apr_size_t len = 0;
    long n;

    *out = r->args ? r->args : "";
    if (r->method_number == M_GET)
        return OK;
    if (r->method_number != M_POST)
        return HTTP_METHOD_NOT_ALLOWED;
    if (ct == NULL ||
        strncasecmp(ct, "application/x-www-form-urlencoded", ctn) != 0 ||
        (ct[ctn] != '\0' && ct[ctn] != ';' && ct[ctn] != ' ')) {
        oauth2_err_set(ctx, "POST without a form Content-Type");
        return failed(r, ctx, HTTP_BAD_REQUEST, "Bad request",
                      "The request is not a form submission.");
    }
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK)
        return HTTP_BAD_REQUEST;
    buf = apr_palloc(r->pool, FORM_MAX + 1);
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, buf + len, FORM_MAX + 1 - len)) >
               0) {
            len += (apr_size_t)n;
            if (len > FORM_MAX)
                break;
        }
        if (n < 0 || len > FORM_MAX || memchr(buf, '\0', len) != NULL) {
            oauth2_err_set(ctx, "form body unreadable, too long or binary");
            return failed(r, ctx, HTTP_BAD_REQUEST, "Bad request",
                          "The form submission is malformed.");
        }
    }
    buf[len] = '\0';
    if (len > 0)
        *out = **out ? apr_pstrcat(r->pool, *out, "&", buf, NULL) : buf;
    return OK;
}

static int callback(request_rec *r)
{
    oauth2_ctx_t *ctx = oauth2_ap_request_ctx(r);
    oauth2_rp_callback_t *cb = NULL;
    oauth2_rp_login_t *l = NULL;
    oauth2_provider_meta_t *meta = NULL;
    const oauth2_ap_provider_t *ap;
    oauth2_rp_tokens_t *t = NULL;
    json_t *claims = NULL;
    const char *user, *params = NULL;
    int rv;

    if ((rv = request_params(r, ctx, &params)) != OK)
        return rv;
    if (oauth2_rp_callback_parse(ctx, params, &cb) != OAUTH2_OK)
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-in failed",
                      "The sign-in response is malformed.");
    if ((rv = take_login(r, ctx, cb->state, &l)) != OK)
        return rv;
    ap = oauth2_ap_rp_provider(r->server, l->provider);
    if (ap == NULL || oauth2_ap_rp_meta(r, ctx, ap, &meta) != OAUTH2_OK)
        return failed(r, ctx, HTTP_BAD_GATEWAY, "Sign-in unavailable",
                      "The identity provider is not available.");
    if (oauth2_rp_callback_check(ctx, &ap->rp, meta, l, cb) != OAUTH2_OK)
        return failed(r, ctx, cb->error ? HTTP_FORBIDDEN : HTTP_BAD_REQUEST,
                      "Sign-in failed",
                      cb->error ? apr_pstrcat(r->pool,
                                              "The identity provider "
                                              "reported: ",
                                              cb->error, NULL)
                                : "The sign-in response does not match "
                                  "this browser's sign-in.");
    if ((rv = tokens_and_claims(r, ctx, ap, meta, l, cb->code, &t, &claims)) !=
        OK)
        return rv;
    if ((user = user_of(r, ctx, ap, claims)) == NULL)
        return failed(r, ctx, HTTP_FORBIDDEN, "Sign-in failed",
                      "The identity provider did not say who you are.");
    if ((rv = new_session(r, ctx, ap, t, claims, user)) != OK)
        return rv;
    oauth2_ap_rp_page_headers(r);
    apr_table_setn(
        r->headers_out, "Location",
        oauth2_rp_return_url_ok(ctx, l->return_url, oauth2_ap_rp_origin(r),
                                oauth2_ap_rp_srv_get(r->server)->return_allow)
            ? l->return_url
            : "/");
    return HTTP_MOVED_TEMPORARILY;
}

/* ---- logout ------------------------------------------------------------ */

static int logout(request_rec *r)
{
    oauth2_ctx_t *ctx = oauth2_ap_request_ctx(r);
    oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(r->server);
    const char *ret = NULL, *abs, *url = NULL;
    oauth2_session_t *s = NULL;
    apr_table_t *q = NULL;
    oauth2_status_t rc;

    if (oauth2_rp_params_parse(ctx, r->args, PARAMS_MAX, &q) != OAUTH2_OK)
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-out refused",
                      "The sign-out request is malformed.");
    if ((ret = apr_table_get(q, "return")) == NULL)
        ret = "/";
    if (!oauth2_rp_return_url_ok(ctx, ret, oauth2_ap_rp_origin(r),
                                 c->return_allow)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00753) "logout return URL refused: %s",
                      ctx->err.text);
        return oauth2_ap_rp_page(r, HTTP_BAD_REQUEST, "Sign-out refused",
                                 "The return address is not allowed.");
    }
    abs = ret[0] == '/'
              ? apr_pstrcat(r->pool, oauth2_ap_rp_origin(r), ret, NULL)
              : ret;
    rc = oauth2_ap_rp_session_load(r, ctx, &s);
    if (rc == OAUTH2_UNAVAILABLE || rc == OAUTH2_ERROR) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00754) "logout: session store: %s",
                      ctx->err.text);
        return oauth2_ap_rp_page(r, HTTP_SERVICE_UNAVAILABLE,
                                 "Service unavailable",
                                 "The session store cannot be reached. "
                                 "Please try again later.");
    }
    oauth2_ap_rp_cookie_set(r, oauth2_ap_rp_cookie_name(r, "oauth2_session"),
                            NULL, 0);
    if (rc == OAUTH2_OK) {
        const oauth2_ap_provider_t *ap =
            oauth2_ap_rp_provider(r->server, s->provider);
        oauth2_provider_meta_t *meta = NULL;
        oauth2_ap_rp_session_delete(r, ctx, s);
        if (ap != NULL && oauth2_ap_rp_meta(r, ctx, ap, &meta) == OAUTH2_OK)
            url =
                oauth2_rp_end_session_url(ctx, &ap->rp, meta, s->id_token, abs);
    }
    oauth2_ap_rp_page_headers(r);
    apr_table_setn(r->headers_out, "Location", url ? url : ret);
    return HTTP_MOVED_TEMPORARILY;
}

/* ---- login start (OIDC Core 4, third-party initiated) ------------------ */

/*
 * The provider a login-start request names: provider=NAME, or iss=URL
 * matched against the configured issuers only (an unknown issuer is never
 * fetched). NULL with ctx->err set when none or both are given.
 */
static const oauth2_ap_provider_t *
login_provider(request_rec *r, oauth2_ctx_t *ctx, apr_table_t *q)
{
    const char *iss = apr_table_get(q, "iss"),
               *name = apr_table_get(q, "provider");
    apr_hash_index_t *hi;

    if ((iss == NULL) == (name == NULL)) {
        oauth2_err_set(ctx, "login start needs exactly one of iss, provider");
        return NULL;
    }
    if (name != NULL) {
        const oauth2_ap_provider_t *ap = oauth2_ap_rp_provider(r->server, name);
        if (ap == NULL)
            oauth2_err_set(ctx, "unknown provider %s",
                           oauth2_log_escape(r->pool, name, strlen(name)));
        return ap;
    }
    for (hi = apr_hash_first(r->pool,
                             oauth2_ap_rp_srv_get(r->server)->providers);
         hi != NULL; hi = apr_hash_next(hi)) {
        const oauth2_ap_provider_t *ap = apr_hash_this_val(hi);
        if (oauth2_rp_issuer_configured(&ap->rp, iss))
            return ap;
    }
    oauth2_err_set(ctx, "issuer %s is not configured",
                   oauth2_log_escape(r->pool, iss, strlen(iss)));
    return NULL;
}

static int login_uri(request_rec *r)
{
    oauth2_ctx_t *ctx = oauth2_ap_request_ctx(r);
    const oauth2_ap_provider_t *ap;
    const char *params = NULL, *target;
    apr_table_t *q = NULL;
    int rv;

    if ((rv = request_params(r, ctx, &params)) != OK)
        return rv;
    if (oauth2_rp_params_parse(ctx, params, PARAMS_MAX, &q) != OAUTH2_OK)
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-in refused",
                      "The sign-in request is malformed.");
    if ((ap = login_provider(r, ctx, q)) == NULL)
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-in refused",
                      "The sign-in request names no known provider.");
    if ((target = apr_table_get(q, "target_link_uri")) == NULL)
        target = "/";
    if (!oauth2_rp_return_url_ok(ctx, target, oauth2_ap_rp_origin(r),
                                 oauth2_ap_rp_srv_get(r->server)->return_allow))
        return failed(r, ctx, HTTP_BAD_REQUEST, "Sign-in refused",
                      "The target address is not allowed.");
    return oauth2_ap_rp_login_start(r, ctx, ap, target, q);
}

/*
 * Before any access check: the callback and logout must work whatever
 * <Location> protects them (a protected callback would loop).
 */
static int quick_handler(request_rec *r, int lookup)
{
    oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(r->server);
    const char *cb = c->redirect_uri;

    if (lookup || r->main != NULL || r->uri == NULL)
        return DECLINED;
    if (cb != NULL && cb[0] != '/') {
        /* Absolute OAuth2RedirectURI: its path part. */
        const char *p = strstr(cb, "://");
        cb = p ? strchr(p + 3, '/') : NULL;
    }
    if (cb != NULL && strcmp(r->uri, cb) == 0)
        return callback(r);
    if (c->logout_uri != NULL && strcmp(r->uri, c->logout_uri) == 0)
        return logout(r);
    if (c->login_uri != NULL && strcmp(r->uri, c->login_uri) == 0)
        return login_uri(r);
    return DECLINED;
}

void oauth2_ap_rp_handlers_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_quick_handler(quick_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
