/*
 * backend.c - the hand-off to whatever serves the request behind us
 * (CGI, proxy, handlers): it removes every client-sent copy of the headers
 * we set, then exports the principal as REMOTE_USER, OAUTH2_CLAIM_<name>
 * environment variables and, when configured, claim headers and the access
 * token. Stripping runs on every request, protected or not, so a spoofed
 * header never reaches a backend. Also refuses an ErrorDocument that would
 * serve a refused location's own content (error_document_guard). Never
 * authenticates or authorizes.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>
#include <http_request.h>

#include "oauth2_apache.h"
#include "oauth2/claim_export.h"
#include "oauth2/log.h"

#define DEFAULT_USER_CLAIM "sub"
/* Always stripped, whatever the configured prefix. */
#define BUILTIN_PREFIX "OAUTH2-CLAIM-"

/*
 * The backend settings for this request from the dir config
 * (OAuth2RemoteUserClaim, OAuth2ClaimHeaderPrefix), defaults applied.
 */
void oauth2_ap_backend_cfg_get(request_rec *r, oauth2_ap_backend_cfg_t *bc)
{
    const oauth2_ap_dir_cfg_t *d = oauth2_ap_dir_cfg(r);

    bc->remote_user_claim = oauth2_ap_remote_user_claim(d);
    bc->header_prefix = oauth2_ap_claim_header_prefix(d);
    bc->token_header = oauth2_ap_rp_token_header(r);
}

/* Does `name` start with `prefix`, ignoring case and treating '-' == '_'? */
static int prefixed(const char *name, const char *prefix)
{
    for (; *prefix != '\0'; prefix++, name++) {
        char a = *name, b = *prefix;

        if (a == '\0')
            return 0;
        if (a == '_')
            a = '-';
        if (b == '_')
            b = '-';
        if (apr_tolower(a) != apr_tolower(b))
            return 0;
    }
    return 1;
}

/* Same as prefixed() but the whole name must match. */
static int same_name(const char *name, const char *want)
{
    return strlen(name) == strlen(want) && prefixed(name, want);
}

typedef struct strip_walk_t {
    const oauth2_ap_backend_cfg_t *bc;
    apr_array_header_t *doomed;
} strip_walk_t;

/* Is `name` a header we set for the backend (under settings bc)? */
static int ours(const char *name, const oauth2_ap_backend_cfg_t *bc)
{
    return prefixed(name, BUILTIN_PREFIX) || same_name(name, "REMOTE-USER") ||
           (bc->header_prefix != NULL && bc->header_prefix[0] != '\0' &&
            prefixed(name, bc->header_prefix)) ||
           (bc->token_header != NULL && same_name(name, bc->token_header));
}

static int collect(void *data, const char *key, const char *val)
{
    strip_walk_t *w = data;

    (void)val;
    if (ours(key, w->bc))
        APR_ARRAY_PUSH(w->doomed, const char *) = key;
    return 1;
}

/*
 * Remove every incoming header the backend could mistake for one of ours:
 * the configured claim prefix and the built-in one (any case, '-' or '_'),
 * Remote-User, and the access-token header. Safe to call more than once.
 */
void oauth2_ap_backend_strip(request_rec *r, const oauth2_ap_backend_cfg_t *bc)
{
    strip_walk_t w;
    int i;

    w.bc = bc;
    w.doomed = apr_array_make(r->pool, 4, sizeof(const char *));
    apr_table_do(collect, &w, r->headers_in, NULL);
    for (i = 0; i < w.doomed->nelts; i++) {
        const char *k = APR_ARRAY_IDX(w.doomed, i, const char *);

        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      OAUTH2_LOGNO(00700) "removed client header %s",
                      ap_escape_logitem(r->pool, k));
        apr_table_unset(r->headers_in, k);
    }
}

/* Does any key of t start with prefix (any case, '-' == '_')? */
static int has_prefixed(const apr_table_t *t, const char *prefix)
{
    const apr_array_header_t *a = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)a->elts;
    int i;

    for (i = 0; i < a->nelts; i++)
        if (e[i].key != NULL && prefixed(e[i].key, prefix))
            return 1;
    return 0;
}

/*
 * Set r->user from the configured claim (default "sub"). Apache answers 500
 * when authentication succeeds without a user, so a missing claim gives ""
 * (logged), never another claim's value.
 */
void oauth2_ap_backend_set_user(request_rec *r,
                                const oauth2_ap_backend_cfg_t *bc,
                                const oauth2_principal_t *p)
{
    const char *name =
        bc->remote_user_claim ? bc->remote_user_claim : DEFAULT_USER_CLAIM;
    const char *user = NULL;
    const json_t *v;
    size_t i;

    if (p->exports != NULL) {
        for (i = 0; i < p->exports->n && user == NULL; i++) {
            if (strcmp(p->exports->e[i].key, name) == 0)
                user = p->exports->e[i].text;
        }
    }
    else if (p->claims && (v = json_object_get(p->claims, name)) != NULL)
        user = oauth2_claim_text(r->pool, v);

    if (user == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      OAUTH2_LOGNO(00701) "remote user claim %s absent",
                      ap_escape_logitem(r->pool, name));
        user = "";
    }
    /* a copy: an export's text is shared by every request of the token */
    r->user = apr_pstrdup(r->pool, user);
}

/*
 * Export the principal to the backend: r->user, OAUTH2_CLAIM_<name> for
 * every top-level claim, <prefix><name> headers when a prefix is set, and
 * the access token header when configured. Call after
 * oauth2_ap_backend_strip() (the fixups hook does both in order).
 */
void oauth2_ap_backend_export(request_rec *r, const oauth2_ap_backend_cfg_t *bc,
                              const oauth2_principal_t *p)
{
    int headers = bc->header_prefix != NULL && bc->header_prefix[0] != '\0';
    const oauth2_claim_exports_t *x =
        p->exports ? p->exports
                   : oauth2_claim_exports_make(r->pool, p->claims, headers);
    size_t hplen = headers ? strlen(bc->header_prefix) : 0, i;
    /*
     * apr_table_setn() compares the new key with every entry (all ours share
     * a prefix, so its checksum never short-cuts): half of this function's
     * cost. addn is the same while no entry can already have the name: the
     * environment holds none of ours yet, the header prefix was just
     * stripped, and every claim name so far was plain.
     */
    int env_add = !has_prefixed(r->subprocess_env, OAUTH2_CLAIM_ENV_PREFIX);
    int hdr_add = 1;

    oauth2_ap_backend_set_user(r, bc, p);
    for (i = 0; x != NULL && i < x->n; i++) {
        const oauth2_claim_export_t *e = &x->e[i];

        env_add = env_add && e->plain;
        hdr_add = hdr_add && e->plain;
        if (env_add)
            apr_table_addn(r->subprocess_env, e->env_name, e->text);
        else
            apr_table_setn(r->subprocess_env, e->env_name, e->text);
        if (headers) {
            int plain = 1;
            const char *name = oauth2_claim_safe_name(
                r->pool, bc->header_prefix, hplen, e->key, '-', &plain);

            if (hdr_add)
                apr_table_addn(r->headers_in, name, e->header_text);
            else
                apr_table_setn(r->headers_in, name, e->header_text);
        }
    }
    if (bc->token_header != NULL && p->access_token != NULL)
        apr_table_setn(r->headers_in, bc->token_header, p->access_token);
}

/* Every request, protected or not: drop spoofed copies before anyone reads. */
static int strip_hook(request_rec *r)
{
    oauth2_ap_backend_cfg_t bc;

    oauth2_ap_backend_cfg_get(r, &bc);
    oauth2_ap_backend_strip(r, &bc);
    return DECLINED;
}

/* An inherited variable that carries one of our exports: a claim, or a
 * header of ours as CGI variable (HTTP_ + name; mod_include puts the
 * parent's there) under the parent's or this request's settings. */
static int inherited_export(const char *key, const oauth2_ap_backend_cfg_t *pbc,
                            const oauth2_ap_backend_cfg_t *bc)
{
    return strncmp(key, OAUTH2_CLAIM_ENV_PREFIX,
                   sizeof(OAUTH2_CLAIM_ENV_PREFIX) - 1) == 0 ||
           (strncmp(key, "HTTP_", 5) == 0 &&
            (ours(key + 5, pbc) || ours(key + 5, bc)));
}

/*
 * A subrequest starts with copies of its parent's environment and request
 * headers, our exports included: drop them, so a subrequest carries only
 * its own principal's claims (or none), never a mix of two identities.
 */
static void forget_inherited(request_rec *r, const oauth2_ap_backend_cfg_t *bc)
{
    const apr_array_header_t *a = apr_table_elts(r->subprocess_env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)a->elts;
    apr_array_header_t *doomed = NULL;
    oauth2_ap_backend_cfg_t pbc;
    int i;

    oauth2_ap_backend_cfg_get(r->main, &pbc);
    for (i = 0; i < a->nelts; i++) {
        if (e[i].key == NULL || !inherited_export(e[i].key, &pbc, bc))
            continue;
        if (doomed == NULL)
            doomed = apr_array_make(r->pool, 8, sizeof(const char *));
        APR_ARRAY_PUSH(doomed, const char *) = e[i].key;
    }
    for (i = 0; doomed != NULL && i < doomed->nelts; i++)
        apr_table_unset(r->subprocess_env,
                        APR_ARRAY_IDX(doomed, i, const char *));
    /* the parent's claim headers and token header, by its settings */
    oauth2_ap_backend_strip(r, &pbc);
}

/* After authn/authz succeeded: hand the principal over, if this location
 * has one (never another location's, in a subrequest). */
static int export_hook(request_rec *r)
{
    oauth2_ap_backend_cfg_t bc;
    const oauth2_principal_t *p = oauth2_ap_principal_fitting(r);

    if (p == NULL && r->main == NULL)
        return DECLINED;
    oauth2_ap_backend_cfg_get(r, &bc);
    if (r->main != NULL)
        forget_inherited(r, &bc);
    if (p == NULL)
        return DECLINED;
    oauth2_ap_backend_strip(r, &bc);
    oauth2_ap_backend_export(r, &bc, p);
    return DECLINED;
}

/* ---- ErrorDocument guard ------------------------------------------------ */

#define PASSED_NOTE "oauth2-access-passed"

static int auth_type_ours(request_rec *r)
{
    const char *t = ap_auth_type(r);

    return t != NULL && (strcasecmp(t, "oauth2") == 0 ||
                         strcasecmp(t, "oauth2-bearer") == 0);
}

/*
 * Fixups run only for requests that passed access, authn and authz. Apache
 * skips all three for an internal redirect whose configuration equals the
 * previous request's, so an ErrorDocument pointing into the location that
 * just refused a request would be served to that unauthenticated or
 * unauthorized client. Such a redirect passes only if the previous request
 * itself reached fixups (it failed later, e.g. a 404 from the handler);
 * otherwise it ends in the previous request's error, never the content.
 */
static int error_document_guard(request_rec *r)
{
    request_rec *prev = r->prev;

    if (!auth_type_ours(r))
        return DECLINED;
    if (prev != NULL && prev->per_dir_config == r->per_dir_config &&
        apr_table_get(prev->notes, PASSED_NOTE) == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00662) "ErrorDocument %s refused: the "
                                          "request it answers was not "
                                          "authorized there",
                      ap_escape_logitem(r->pool, r->uri));
        return ap_is_HTTP_ERROR(prev->status) ? prev->status : HTTP_FORBIDDEN;
    }
    apr_table_setn(r->notes, PASSED_NOTE, "1");
    return DECLINED;
}

void oauth2_ap_backend_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_header_parser(strip_hook, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(error_document_guard, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(export_hook, NULL, NULL, APR_HOOK_MIDDLE);
}
