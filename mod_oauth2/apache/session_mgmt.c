/*
 * session_mgmt.c - ending sessions from outside the browser: the OIDC
 * Back-Channel Logout 1.0 endpoint (OAuth2BackchannelLogoutURI, served from
 * the quick handler: the provider authenticates with the token's signature,
 * not with a session) and the admin handler `SetHandler oauth2-sessions`
 * (list a user's sessions, revoke them; access is the admin's own Require).
 * Sessions end on every node because they are deleted from the shared
 * store. The protocol checks are the core's (rp_logout.c, session.c); this
 * file maps HTTP to them. Never logs a logout token, a cookie or a token.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <http_protocol.h>
#include <util_script.h>

#include "oauth2_apache.h"
#include "oauth2/session.h"
#include "oauth2/store.h"
#include "oauth2/util.h"

#define FORM_MAX 65536
#define JTI_TTL apr_time_from_sec(600) /* > the iat window + skew */
#define LIST_MAX 100

/* ---- directive ---------------------------------------------------------- */

const char *oauth2_ap_sm_cmd_backchannel_uri(cmd_parms *cmd, void *dc,
                                             const char *v)
{
    (void)dc;
    if (v[0] != '/' || v[1] == '/' || strpbrk(v, "?#\\ ") != NULL)
        return apr_psprintf(cmd->pool,
                            "OAuth2BackchannelLogoutURI %s: must be a local "
                            "path",
                            v);
    oauth2_ap_srv_cfg(cmd->server)->backchannel_uri = v;
    return NULL;
}

/* ---- JSON answers ------------------------------------------------------- */

/* Send `o` (stolen) as the JSON body with `status`, never cached. */
static int json_out(request_rec *r, int status, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    if (text == NULL)
        return HTTP_INTERNAL_SERVER_ERROR;
    r->status = status;
    ap_set_content_type(r, "application/json");
    ap_rputs(text, r);
    ap_rputs("\n", r);
    free(text);
    return OK;
}

static int json_error(request_rec *r, int status, const char *error,
                      const char *desc)
{
    return json_out(r, status,
                    json_pack("{s:s, s:s}", "error", error, "error_description",
                              desc ? desc : ""));
}

/* ---- back-channel logout ------------------------------------------------ */

/* The one logout_token of a form body, or NULL with *why set. */
static const char *form_token(request_rec *r, const char **why)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_array_header_t *pairs = NULL;
    const char *tok = NULL;
    int i, n = 0;

    if (ct == NULL ||
        strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        *why = "Content-Type must be application/x-www-form-urlencoded";
        return NULL;
    }
    if (ap_parse_form_data(r, NULL, &pairs, -1, FORM_MAX) != OK ||
        pairs == NULL) {
        *why = "unreadable form body";
        return NULL;
    }
    for (i = 0; i < pairs->nelts; i++) {
        ap_form_pair_t *p = &APR_ARRAY_IDX(pairs, i, ap_form_pair_t);
        apr_off_t len = 0;
        apr_size_t sz;
        char *buf;
        if (strcmp(p->name, "logout_token") != 0)
            continue;
        n++;
        apr_brigade_length(p->value, 1, &len);
        sz = (apr_size_t)len;
        buf = apr_palloc(r->pool, sz + 1);
        apr_brigade_flatten(p->value, buf, &sz);
        buf[sz] = '\0';
        tok = buf;
    }
    if (n != 1)
        *why = n ? "logout_token repeated" : "logout_token missing";
    return n == 1 ? tok : NULL;
}

/* The provider whose (discovered) issuer is `iss`, or NULL. */
static const oauth2_ap_provider_t *
provider_of_iss(request_rec *r, oauth2_ctx_t *ctx, const char *iss,
                oauth2_provider_meta_t **meta)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(r->pool,
                             oauth2_ap_rp_srv_get(r->server)->providers);
         hi != NULL; hi = apr_hash_next(hi)) {
        const oauth2_ap_provider_t *ap = apr_hash_this_val(hi);
        oauth2_provider_meta_t *m = NULL;
        if (!oauth2_rp_is_oidc(&ap->rp) ||
            oauth2_ap_rp_meta(r, ctx, ap, &m) != OAUTH2_OK)
            continue;
        if ((m->issuer != NULL && strcmp(m->issuer, iss) == 0) ||
            (ap->rp.alt_issuer != NULL &&
             strcmp(ap->rp.alt_issuer, iss) == 0)) {
            *meta = m;
            return ap;
        }
    }
    return NULL;
}

/* A store or provider fault as JSON: 503 when it may pass, else 500. */
static int json_unavailable(request_rec *r, oauth2_status_t rc)
{
    return json_error(r,
                      rc == OAUTH2_UNAVAILABLE ? HTTP_SERVICE_UNAVAILABLE
                                               : HTTP_INTERNAL_SERVER_ERROR,
                      "temporarily_unavailable", "try again later");
}

static int bcl_refused(request_rec *r, oauth2_ctx_t *ctx, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  OAUTH2_LOGNO(00780) "back-channel logout refused: %s", why);
    return json_error(r, HTTP_BAD_REQUEST, "invalid_request", why);
}

static int bcl_failed(request_rec *r, oauth2_ctx_t *ctx, oauth2_status_t rc)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  OAUTH2_LOGNO(00781) "back-channel logout failed (%s): %s",
                  oauth2_status_str(rc), ctx->err.text);
    return json_unavailable(r, rc);
}

/* End the sessions a validated token names; its jti is then spent. */
static int bcl_apply(request_rec *r, oauth2_ctx_t *ctx,
                     const oauth2_ap_provider_t *ap, json_t *claims)
{
    oauth2_store_t *st = oauth2_ap_rp_store(r);
    const char *sub = oauth2_json_str(claims, "sub");
    const char *sid = oauth2_json_str(claims, "sid");
    oauth2_status_t rc;
    int n = 0;

    if (st == NULL) {
        oauth2_err_set(ctx, "no session store");
        return bcl_failed(r, ctx, OAUTH2_ERROR);
    }
    rc = oauth2_session_jti_once(ctx, st, oauth2_json_str(claims, "iss"),
                                 oauth2_json_str(claims, "jti"), JTI_TTL);
    if (rc == OAUTH2_DENIED)
        return bcl_refused(r, ctx, ctx->err.text);
    if (rc != OAUTH2_OK)
        return bcl_failed(r, ctx, rc);
    rc = oauth2_session_revoke(ctx, st, oauth2_ap_rp_session_ns(r), ap->rp.name,
                               sub, sid, &n);
    if (rc == OAUTH2_OK)
        rc = oauth2_session_jti_done(ctx, st, oauth2_json_str(claims, "iss"),
                                     oauth2_json_str(claims, "jti"), JTI_TTL);
    if (rc != OAUTH2_OK)
        return bcl_failed(r, ctx, rc); /* the jti stays usable: retry */
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  OAUTH2_LOGNO(00782) "back-channel logout from %s: %d "
                                      "session(s) ended (by %s)",
                  ap->rp.name, n, sid ? "sid" : "sub");
    return json_out(r, HTTP_OK, json_object());
}

static int backchannel(request_rec *r)
{
    oauth2_ctx_t *ctx = oauth2_ap_request_ctx(r);
    oauth2_provider_meta_t *meta = NULL;
    const oauth2_ap_provider_t *ap;
    const char *why = NULL, *tok, *iss;
    json_t *claims = NULL;
    oauth2_status_t rc;

    if (r->method_number != M_POST) {
        apr_table_setn(r->err_headers_out, "Allow", "POST");
        return json_error(r, HTTP_METHOD_NOT_ALLOWED, "invalid_request",
                          "POST only");
    }
    if ((tok = form_token(r, &why)) == NULL)
        return bcl_refused(r, ctx, why);
    if ((iss = oauth2_rp_logout_token_iss(ctx, tok)) == NULL)
        return bcl_refused(r, ctx, ctx->err.text);
    if ((ap = provider_of_iss(r, ctx, iss, &meta)) == NULL)
        return bcl_refused(r, ctx, "logout token from an unknown issuer");
    rc = oauth2_rp_logout_token_validate(ctx, oauth2_ap_rp_http(),
                                         oauth2_ap_rp_jwks(), &ap->rp, meta,
                                         tok, &claims);
    if (rc == OAUTH2_DENIED)
        return bcl_refused(r, ctx, ctx->err.text);
    if (rc != OAUTH2_OK)
        return bcl_failed(r, ctx, rc);
    return bcl_apply(r, ctx, ap, claims);
}

static int quick_handler(request_rec *r, int lookup)
{
    const char *uri = oauth2_ap_srv_cfg(r->server)->backchannel_uri;

    if (lookup || r->main != NULL || r->uri == NULL || uri == NULL ||
        strcmp(r->uri, uri) != 0)
        return DECLINED;
    return backchannel(r);
}

/* ---- admin handler: SetHandler oauth2-sessions -------------------------- */

static int admin_failed(request_rec *r, oauth2_ctx_t *ctx, oauth2_status_t rc)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  OAUTH2_LOGNO(00786) "session admin failed (%s): %s",
                  oauth2_status_str(rc), ctx->err.text);
    return json_unavailable(r, rc);
}

/*
 * Revocations change state: refuse them from other sites. Browsers send
 * Sec-Fetch-Site and Origin; tools (curl) send neither and pass.
 */
static int cross_site(request_rec *r)
{
    const char *sfs = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *origin = apr_table_get(r->headers_in, "Origin");

    if (sfs != NULL && strcmp(sfs, "same-origin") != 0 &&
        strcmp(sfs, "none") != 0)
        return 1;
    return origin != NULL && strcmp(origin, oauth2_ap_rp_origin(r)) != 0;
}

/* The providers a request names: ?provider=NAME, or all of the server. */
static apr_array_header_t *providers_of(request_rec *r, apr_table_t *q)
{
    const char *name = apr_table_get(q, "provider");
    apr_array_header_t *a = apr_array_make(r->pool, 2, sizeof(const char *));
    apr_hash_index_t *hi;

    if (name != NULL) {
        if (oauth2_ap_rp_provider(r->server, name) != NULL)
            APR_ARRAY_PUSH(a, const char *) = name;
        return a;
    }
    for (hi = apr_hash_first(r->pool,
                             oauth2_ap_rp_srv_get(r->server)->providers);
         hi != NULL; hi = apr_hash_next(hi))
        APR_ARRAY_PUSH(a, const char *) = apr_hash_this_key(hi);
    return a;
}

static json_t *info_json(const oauth2_session_info_t *i)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "id", i->id, "provider",
                     i->provider ? i->provider : "", "created",
                     (json_int_t)apr_time_sec(i->created), "last_seen",
                     (json_int_t)apr_time_sec(i->last_seen));
}

static int admin_list(request_rec *r, oauth2_ctx_t *ctx, oauth2_store_t *st,
                      const char *sub, apr_array_header_t *provs)
{
    json_t *out = json_array();
    int i, j;

    for (i = 0; i < provs->nelts; i++) {
        apr_array_header_t *l = NULL;
        oauth2_status_t rc = oauth2_session_list(
            ctx, st, oauth2_ap_rp_session_ns(r),
            APR_ARRAY_IDX(provs, i, const char *), sub, LIST_MAX, &l);
        if (rc != OAUTH2_OK) {
            json_decref(out);
            return admin_failed(r, ctx, rc);
        }
        for (j = 0; j < l->nelts; j++)
            json_array_append_new(
                out, info_json(&APR_ARRAY_IDX(l, j, oauth2_session_info_t)));
    }
    return json_out(r, HTTP_OK,
                    json_pack("{s:s, s:o}", "sub", sub, "sessions", out));
}

static int admin_revoke(request_rec *r, oauth2_ctx_t *ctx, oauth2_store_t *st,
                        apr_table_t *q, apr_array_header_t *provs)
{
    const char *sub = apr_table_get(q, "sub"),
               *id = apr_table_get(q, "session");
    oauth2_status_t rc = OAUTH2_OK;
    int i, n = 0, total = 0;

    if (id != NULL) {
        rc = oauth2_session_revoke_id(ctx, st, oauth2_ap_rp_session_ns(r), id);
        if (rc == OAUTH2_DENIED)
            return json_error(r, HTTP_BAD_REQUEST, "invalid_request",
                              ctx->err.text);
        total = rc == OAUTH2_OK;
        if (rc == OAUTH2_NOT_FOUND)
            rc = OAUTH2_OK;
    }
    for (i = 0; rc == OAUTH2_OK && sub != NULL && i < provs->nelts; i++) {
        rc = oauth2_session_revoke(ctx, st, oauth2_ap_rp_session_ns(r),
                                   APR_ARRAY_IDX(provs, i, const char *), sub,
                                   NULL, &n);
        total += n;
    }
    if (rc != OAUTH2_OK)
        return admin_failed(r, ctx, rc);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  OAUTH2_LOGNO(00784) "admin revoked %d session(s)%s%s", total,
                  sub ? " of " : "",
                  sub ? ap_escape_logitem(r->pool, sub) : "");
    return json_out(r, HTTP_OK, json_pack("{s:i}", "revoked", total));
}

static int admin_handler(request_rec *r)
{
    oauth2_ctx_t *ctx;
    oauth2_store_t *st;
    apr_table_t *q = NULL;
    apr_array_header_t *provs;
    const char *sub;
    int get;

    if (r->handler == NULL || strcmp(r->handler, "oauth2-sessions") != 0)
        return DECLINED;
    get = r->method_number == M_GET;
    if (!get && r->method_number != M_POST && r->method_number != M_DELETE) {
        apr_table_setn(r->err_headers_out, "Allow", "GET, POST, DELETE");
        return json_error(r, HTTP_METHOD_NOT_ALLOWED, "invalid_request",
                          "GET lists, POST or DELETE revokes");
    }
    if (!get && cross_site(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      OAUTH2_LOGNO(00785) "cross-site session revocation "
                                          "refused");
        return json_error(r, HTTP_FORBIDDEN, "forbidden",
                          "cross-site request refused");
    }
    ctx = oauth2_ap_request_ctx(r);
    if ((st = oauth2_ap_rp_store(r)) == NULL)
        return json_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error",
                          "no OAuth2SessionStore for this host");
    ap_args_to_table(r, &q);
    sub = apr_table_get(q, "sub");
    provs = providers_of(r, q);
    if (provs->nelts == 0)
        return json_error(r, HTTP_NOT_FOUND, "invalid_request",
                          "unknown provider");
    if (get && sub == NULL)
        return json_error(r, HTTP_BAD_REQUEST, "invalid_request", "give ?sub=");
    if (!get && sub == NULL && apr_table_get(q, "session") == NULL)
        return json_error(r, HTTP_BAD_REQUEST, "invalid_request",
                          "give ?sub= or ?session=");
    return get ? admin_list(r, ctx, st, sub, provs)
               : admin_revoke(r, ctx, st, q, provs);
}

void oauth2_ap_sm_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_quick_handler(quick_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(admin_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
