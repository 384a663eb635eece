/*
 * bearer.c - AuthType oauth2-bearer: the OAuth2TokenVerify directive, the
 * token's extraction from the request (RFC 6750 section 2), the call into
 * the core verifier, and the mapping of its verdict to an HTTP answer with
 * the RFC 6750 section 3 challenge: 400 invalid_request, 401 (with or
 * without invalid_token), 403 insufficient_scope (emitted late, when
 * authorization really ended in 403), 503 when keys or the introspection
 * endpoint are out of reach. Never verifies anything itself and never logs
 * a token (only its redacted hash).
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>
#include <http_protocol.h>
#include <mod_auth.h>

#include "oauth2_apache.h"
#include "oauth2/crypto.h"
#include "oauth2/reqparse.h"
#include "oauth2/verify.h"

#define AUTH_TYPE "oauth2-bearer"
/* Longer Authorization values are refused before any parsing. */
#define MAX_AUTHZ_LEN 16384
#define RETRY_AFTER "30"

/* ---- directives ------------------------------------------------------- */

/* A verifier for the words of one line, in `pool`, with its namespace. */
oauth2_status_t oauth2_ap_verifier_make(oauth2_ctx_t *ctx, apr_pool_t *pool,
                                        const char *ns,
                                        const apr_array_header_t *words,
                                        oauth2_verifier_t **v)
{
    apr_pool_t *keep = ctx->pool;
    oauth2_status_t st;

    ctx->pool = pool;
    st = oauth2_verifier_parse(ctx, words->nelts,
                               (const char *const *)words->elts, v);
    ctx->pool = keep;
    if (st == OAUTH2_OK)
        oauth2_verifier_set_namespace(*v, apr_pstrdup(pool, ns));
    return st;
}

const char *oauth2_ap_bearer_cmd_verify(cmd_parms *cmd, void *dc,
                                        const char *args)
{
    oauth2_ap_dir_cfg_t *c = dc;
    oauth2_ctx_t *ctx = oauth2_ap_server_ctx(cmd->server, cmd->pool);
    apr_array_header_t *words =
        apr_array_make(cmd->temp_pool, 8, sizeof(char *));
    const char *line = args, *host, *ns, *w, *err;
    oauth2_verifier_t *v = NULL;

    while (*(w = ap_getword_conf(cmd->temp_pool, &args)) != '\0')
        APR_ARRAY_PUSH(words, const char *) = w;
    host = cmd->server->server_hostname ? cmd->server->server_hostname : "";
    if (cmd->pool == cmd->temp_pool) { /* .htaccess (as httpd tells it) */
        /* the file in the namespace: a <Files> or <If> section's path is
         * only its pattern, which another directory may use too */
        ns = apr_pstrcat(cmd->temp_pool, host, ":",
                         cmd->config_file ? cmd->config_file->name : "?", ":",
                         cmd->path ? cmd->path : "/", NULL);
        err = oauth2_ap_htaccess_verify(cmd, ctx, ns, line, words,
                                        &c->bearer_verifiers);
        return err ? apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err)
                   : NULL;
    }
    ns = apr_pstrcat(cmd->temp_pool, host, ":", cmd->path ? cmd->path : "/",
                     NULL);
    if (oauth2_ap_verifier_make(ctx, cmd->pool, ns, words, &v) != OAUTH2_OK)
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, ctx->err.text);
    if (c->bearer_verifiers == NULL)
        c->bearer_verifiers = apr_array_make(cmd->pool, 2, sizeof(v));
    APR_ARRAY_PUSH(c->bearer_verifiers, oauth2_verifier_t *) = v;
    return NULL;
}

const char *oauth2_ap_bearer_cmd_query(cmd_parms *cmd, void *dc, int on)
{
    ((oauth2_ap_dir_cfg_t *)dc)->bearer_query_token = on;
    return NULL;
}

/* ---- challenges --------------------------------------------------------- */

int oauth2_ap_bearer_is_ours(request_rec *r)
{
    const char *t = ap_auth_type(r);

    return t != NULL && strcasecmp(t, AUTH_TYPE) == 0;
}

/* AuthName, made safe for a quoted-string; "api" when unset. */
static const char *realm(request_rec *r)
{
    const char *n = ap_auth_name(r);
    char *s, *p;

    if (n == NULL || *n == '\0')
        return "api";
    s = apr_pstrdup(r->pool, n);
    for (p = s; *p; p++) {
        if (*p == '"' || *p == '\\' || apr_iscntrl(*p))
            *p = '\'';
    }
    return s;
}

/* Set the challenge; `error` NULL gives the bare realm (no token sent). */
static void challenge(request_rec *r, const char *error, const char *desc,
                      const char *scope)
{
    const char *v = apr_psprintf(r->pool, "Bearer realm=\"%s\"", realm(r));
    const char *rm;

    if (error != NULL)
        v = apr_psprintf(r->pool, "%s, error=\"%s\"", v, error);
    if (desc != NULL)
        v = apr_psprintf(r->pool, "%s, error_description=\"%s\"", v, desc);
    if (scope != NULL && *scope != '\0')
        v = apr_psprintf(r->pool, "%s, scope=\"%s\"", v, scope);
    /* RFC 9728 section 5.1: where the resource's metadata lives */
    if ((rm = oauth2_ap_policy_resource_metadata(r)) != NULL)
        v = apr_psprintf(r->pool, "%s, resource_metadata=\"%s\"", v, rm);
    apr_table_setn(r->err_headers_out, "WWW-Authenticate", v);
}

/* ---- token extraction (RFC 6750 section 2) ----------------------------- */

/*
 * The access_token query parameter, decoded, or NULL; "" when it is
 * undecodable or given more than once (ambiguous: refused, never picked).
 */
static const char *query_token(request_rec *r)
{
    const char *a = r->args, *p, *found = NULL;
    char *tok;

    for (p = a; p != NULL && *p;
         p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, "access_token=", 13) != 0)
            continue;
        if (found != NULL)
            return "";
        tok = apr_pstrndup(r->pool, p + 13, strcspn(p + 13, "&"));
        if (ap_unescape_urlencoded(tok) != OK)
            return "";
        found = tok;
    }
    return found;
}

/*
 * The bearer token of `r` into *tok: OK; DECLINED when none was sent (or
 * another scheme); HTTP_BAD_REQUEST for an Authorization header that is
 * not exactly one Bearer credential, or for a token sent by two methods
 * (RFC 6750 section 2) when query tokens are on; HTTP_UNAUTHORIZED for one
 * that cannot be a token. With query tokens off the parameter is ignored.
 */
static int extract(request_rec *r, const oauth2_ap_dir_cfg_t *d,
                   const char **tok)
{
    const char *h = apr_table_get(r->headers_in, "Authorization"), *t;
    oauth2_ctx_t c;
    oauth2_status_t st;

    if (h == NULL) {
        if (d->bearer_query_token != 1 || (t = query_token(r)) == NULL)
            return DECLINED;
        if (*t == '\0')
            return HTTP_BAD_REQUEST;
        *tok = t;
        return OK;
    }
    if (strlen(h) > MAX_AUTHZ_LEN)
        return HTTP_UNAUTHORIZED;
    oauth2_ctx_init(&c, r->pool, NULL, 0); /* parse only: no log, no clock */
    st = oauth2_bearer_parse(&c, h, tok);
    if (st == OAUTH2_NOT_FOUND)
        return DECLINED;
    if (st != OAUTH2_OK)
        return HTTP_BAD_REQUEST;
    if (d->bearer_query_token == 1 && query_token(r) != NULL)
        return HTTP_BAD_REQUEST; /* header and query: one method only */
    return OK;
}

/*
 * The virtual host's session store (OAuth2SessionStore, e.g. Redis), to
 * share introspection verdicts across processes and nodes. Called by the
 * core only when an opaque token missed the per-process cache, so JWTs and
 * cache hits never take the store registry's lock. NULL: not configured.
 */
static struct oauth2_store_t *shared_store(void *r)
{
    return oauth2_ap_rp_store(r);
}

/* ---- authentication ---------------------------------------------------- */

/*
 * The token's redacted form for a log line at `level`, or "-" when that
 * level is off (the line is then not formatted at all): hashing the token costs
 * as much as the whole cached-verdict lookup, so it is never done for a line
 * nobody reads.
 */
static const char *redacted(request_rec *r, int level, const char *tok)
{
    if (!APLOG_R_IS_LEVEL(r, level))
        return "-";
    return oauth2_log_redact(r->pool, tok, strlen(tok));
}

/* The verifier's verdict as an HTTP answer (challenge headers set). */
static int map_status(request_rec *r, oauth2_ctx_t *ctx, oauth2_status_t st,
                      const char *tok)
{
    oauth2_ap_metrics_bearer_status(r, st);
    switch (st) {
    case OAUTH2_OK:
        return OK;
    case OAUTH2_DENIED:
    case OAUTH2_NOT_FOUND:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00702) "bearer token %s rejected: %s",
                      redacted(r, APLOG_INFO, tok), ctx->err.text);
        challenge(r, "invalid_token", "invalid or expired token", NULL);
        return HTTP_UNAUTHORIZED;
    case OAUTH2_UNAVAILABLE:
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      OAUTH2_LOGNO(00703) "bearer token %s cannot be "
                                          "verified now: %s",
                      redacted(r, APLOG_WARNING, tok), ctx->err.text);
        apr_table_setn(r->err_headers_out, "Retry-After", RETRY_AFTER);
        return HTTP_SERVICE_UNAVAILABLE;
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00704) "bearer verification error: %s",
                      ctx->err.text);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

static int authenticate(request_rec *r)
{
    const oauth2_ap_dir_cfg_t *d = oauth2_ap_dir_cfg(r);
    const oauth2_ap_srv_cfg_t *sc = oauth2_ap_srv_cfg(r->server);
    /* Verdicts in the store are sealed with the passphrase. */
    oauth2_crypto_keyring_t ring = {oauth2_ap_passphrase(sc),
                                    oauth2_ap_passphrase_previous(sc)};
    oauth2_verify_shared_t sh = {shared_store, NULL, &ring};
    oauth2_ap_backend_cfg_t bc;
    oauth2_principal_t *p = NULL;
    oauth2_ctx_t *ctx;
    request_rec *main = oauth2_ap_main_of(r);
    const char *tok = NULL;
    oauth2_status_t st;
    int rc;

    if (d->bearer_verifiers == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00705) "AuthType %s without "
                                          "OAuth2TokenVerify",
                      AUTH_TYPE);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rc = extract(r, d, &tok);
    if (rc == DECLINED) {
        oauth2_ap_metrics_bearer(r, "no_token");
        challenge(r, NULL, NULL, NULL);
        return HTTP_UNAUTHORIZED;
    }
    if (rc != OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00706) "malformed Authorization header");
        oauth2_ap_metrics_bearer(r, "invalid_request");
        if (rc == HTTP_BAD_REQUEST)
            challenge(r, "invalid_request", "malformed Authorization header",
                      NULL);
        else
            challenge(r, "invalid_token", "invalid or expired token", NULL);
        return rc;
    }
    ctx = oauth2_ap_request_ctx(r);
    /* The principal is kept for the main request and its subrequests: a
     * subrequest that authenticates first must not leave it (the verdict
     * borrow, the token it forwards) in its own pool, which dies first. */
    ctx->pool = main->pool;
    if (main != r)
        tok = apr_pstrdup(main->pool, tok);
    sh.baton = r;
    st = oauth2_verify_token_ex(
        ctx, (oauth2_verifier_t *const *)d->bearer_verifiers->elts,
        d->bearer_verifiers->nelts, tok, ring.current ? &sh : NULL, &p);
    rc = map_status(r, ctx, st, tok);
    if (rc == OK) {
        r->ap_auth_type = (char *)AUTH_TYPE;
        oauth2_ap_principal_set(r, p, d->bearer_verifiers);
        oauth2_ap_backend_cfg_get(r, &bc);
        oauth2_ap_backend_set_user(r, &bc, p);
    }
    return rc;
}

/*
 * What a bearer principal is valid for: this location's verifier list (a
 * merged pointer, the same for every location that inherits it). Another
 * list may hold another issuer or audience, so a subrequest into it
 * verifies the token again (a verdict-cache hit).
 */
static const apr_array_header_t *bearer_src(request_rec *r)
{
    return oauth2_ap_dir_cfg(r)->bearer_verifiers;
}

/* The bearer principal r's location established, or NULL. */
const oauth2_principal_t *oauth2_ap_bearer_principal(request_rec *r)
{
    return oauth2_ap_principal_from(r, bearer_src(r));
}

int oauth2_ap_bearer_authenticate(request_rec *r)
{
    const apr_array_header_t *src = bearer_src(r);
    const oauth2_principal_t *p = oauth2_ap_principal_from(r, src);
    oauth2_ap_backend_cfg_t bc;
    int rc;

    if (p != NULL) {
        if (r->ap_auth_type == NULL)
            r->ap_auth_type = (char *)AUTH_TYPE;
        if (r->user == NULL) {
            oauth2_ap_backend_cfg_get(r, &bc);
            oauth2_ap_backend_set_user(r, &bc, p);
        }
        return OK;
    }
    /* a remembered success counts only with its principal, which another
     * location's subrequest may have replaced since: verify again then
     * (a verdict-cache hit) */
    if (oauth2_ap_auth_result_get(r, src, &rc) && rc != OK)
        return rc;
    if (src != NULL) /* a list from .htaccess may die with a subrequest */
        oauth2_ap_src_pool(r, src, src->pool);
    return oauth2_ap_auth_result_remember(r, src, authenticate(r));
}

/* ---- hooks ------------------------------------------------------------- */

static int check_authn(request_rec *r)
{
    if (!oauth2_ap_bearer_is_ours(r))
        return DECLINED;
    return oauth2_ap_bearer_authenticate(r);
}

/*
 * When our Require provider already authenticated the request in
 * authz_core's first pass and granted it, still run authentication and the
 * second authz pass: Require lines evaluated before ours saw no user
 * (`Require not user bob` is neutral then) and must be asked again with
 * one. A location granted by other providers alone (Require all granted)
 * stays anonymous.
 */
static int force_authn(request_rec *r)
{
    return oauth2_ap_bearer_is_ours(r) &&
                   oauth2_ap_principal_from(r, bearer_src(r)) != NULL
               ? OK
               : DECLINED;
}

/* authz_core denied an authenticated user (401): say what was missing. */
static int note_failure(request_rec *r, const char *type)
{
    const char *scope;

    if (strcasecmp(type, AUTH_TYPE) != 0)
        return DECLINED;
    scope = oauth2_ap_wanted_scope_get(r);
    if (scope != NULL)
        challenge(r, "insufficient_scope", NULL, scope);
    else if (apr_table_get(r->err_headers_out, "WWW-Authenticate") == NULL)
        challenge(r, NULL, NULL, NULL);
    return OK;
}

/*
 * Authorization failed with 403 for a bearer principal: RFC 6750 3.1 wants
 * insufficient_scope with the scopes needed. Added here, not in the
 * provider, so a RequireAny that another alternative satisfied never
 * carries it.
 */
static void error_headers(request_rec *r)
{
    const oauth2_principal_t *p;
    const char *scope;

    if (r->status != HTTP_FORBIDDEN || !oauth2_ap_bearer_is_ours(r))
        return;
    p = oauth2_ap_principal_get(r);
    scope = oauth2_ap_wanted_scope_get(r);
    if (p == NULL || p->type != OAUTH2_PRINCIPAL_BEARER || scope == NULL)
        return;
    challenge(r, "insufficient_scope", NULL, scope);
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    if (oauth2_http_global_init() != OAUTH2_OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     OAUTH2_LOGNO(00707) "libcurl global init failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void oauth2_ap_bearer_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_authn(check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_force_authn(force_authn, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_note_auth_failure(note_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(error_headers, NULL, NULL, APR_HOOK_MIDDLE);
}
