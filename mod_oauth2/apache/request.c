/*
 * request.c - per-request state of the adapter that must be shared by
 * subrequests and internal redirects: the authenticated principal and the
 * scopes a failed Require oauth2-scope wanted. Everything is kept on the
 * main request's pool, so a subrequest (mod_include, mod_dir lookups) sees
 * the identity its main request established and never authenticates again.
 * Owns no protocol logic and never decides anything.
 */
#include <apr_strings.h>

#include "oauth2_apache.h"

#define STATE_KEY "oauth2.request"

/* One per main request, in its pool; see state(). */
typedef struct reqstate_t {
    const oauth2_principal_t *principal;
    const void *principal_src; /* the configuration that established it */
    const char *wanted_scope;
    int auth_rc; /* bearer authentication's result, once tried */
    int auth_tried;
    const void *auth_src;
} reqstate_t;

/* The request whose pool carries our state: the top of the r->main chain
 * (a subrequest's own pool dies before its main request's). */
request_rec *oauth2_ap_main_of(request_rec *r)
{
    while (r->main != NULL)
        r = r->main;
    return r;
}

/*
 * The state of r's main request (NULL if none yet and !create). It lives in
 * the main pool's userdata, which internal redirects share; each request_rec
 * keeps a pointer in its request_config, so after the first call a lookup
 * is an array index instead of a string hash (authn, authz and fixups ask
 * several times per request).
 */
static reqstate_t *state(request_rec *r, int create)
{
    reqstate_t *s = ap_get_module_config(r->request_config, &oauth2_module);
    request_rec *m;
    void *v = NULL;

    if (s != NULL)
        return s;
    m = oauth2_ap_main_of(r);
    if (apr_pool_userdata_get(&v, STATE_KEY, m->pool) == APR_SUCCESS &&
        v != NULL)
        s = v;
    else if (!create)
        return NULL;
    else {
        s = apr_pcalloc(m->pool, sizeof(*s));
        apr_pool_userdata_setn(s, STATE_KEY, NULL, m->pool);
    }
    ap_set_module_config(r->request_config, &oauth2_module, s);
    return s;
}

/*
 * Record the principal for this request, its subrequests and internal
 * redirects (which share the main request's pool). The principal and its
 * claims must live in that pool (or longer); NULL forgets it. `src` names
 * what established it (the location's verifier list, the login provider):
 * a subrequest into a location configured otherwise must not take it.
 */
void oauth2_ap_principal_set(request_rec *r, const oauth2_principal_t *p,
                             const void *src)
{
    reqstate_t *s = state(r, 1);

    s->principal = p;
    s->principal_src = src;
}

typedef struct src_end_t {
    reqstate_t *s;
    const void *src;
} src_end_t;

static apr_status_t src_end(void *data)
{
    const src_end_t *e = data;

    if (e->s->principal_src == e->src) {
        e->s->principal = NULL;
        e->s->principal_src = NULL;
    }
    if (e->s->auth_tried && e->s->auth_src == e->src) {
        e->s->auth_tried = 0;
        e->s->auth_src = NULL;
    }
    return APR_SUCCESS;
}

/*
 * `src` lives in `pool`. When that is a subrequest's pool (a verifier list
 * read from .htaccess for the subrequest alone), what src established is
 * forgotten when the pool goes: a later subrequest's list could be
 * allocated at the same address and would otherwise pass for it.
 */
void oauth2_ap_src_pool(request_rec *r, const void *src, apr_pool_t *pool)
{
    request_rec *m = oauth2_ap_main_of(r);
    src_end_t *e;

    if (pool == NULL || pool == m->pool || !apr_pool_is_ancestor(m->pool, pool))
        return; /* outlives the main request */
    e = apr_palloc(pool, sizeof(*e));
    e->s = state(r, 1);
    e->src = src;
    apr_pool_cleanup_register(pool, e, src_end, apr_pool_cleanup_null);
}

/* The principal when `src` (never NULL) established it, else NULL. */
const oauth2_principal_t *oauth2_ap_principal_from(request_rec *r,
                                                   const void *src)
{
    const reqstate_t *s = state(r, 0);

    return s != NULL && src != NULL && s->principal_src == src ? s->principal
                                                               : NULL;
}

/* The principal authentication established for this request, or NULL. */
const oauth2_principal_t *oauth2_ap_principal_get(request_rec *r)
{
    const reqstate_t *s = state(r, 0);

    return s != NULL ? s->principal : NULL;
}

/*
 * Remember the scopes a denied Require oauth2-scope wanted (space separated),
 * so the error path can name them in WWW-Authenticate. Later denials add to
 * the list; duplicates are harmless to a client.
 */
void oauth2_ap_wanted_scope_add(request_rec *r, const char *scopes)
{
    request_rec *m = oauth2_ap_main_of(r);
    reqstate_t *s = state(r, 1);

    s->wanted_scope = s->wanted_scope ? apr_pstrcat(m->pool, s->wanted_scope,
                                                    " ", scopes, NULL)
                                      : apr_pstrdup(m->pool, scopes);
}

/* The scopes recorded by oauth2_ap_wanted_scope_add, or NULL. */
const char *oauth2_ap_wanted_scope_get(request_rec *r)
{
    const reqstate_t *s = state(r, 0);

    return s != NULL ? s->wanted_scope : NULL;
}

/* Bearer authentication runs once per main request and configuration
 * `src`: its result. */
int oauth2_ap_auth_result_remember(request_rec *r, const void *src, int rc)
{
    reqstate_t *s = state(r, 1);

    s->auth_rc = rc;
    s->auth_tried = 1;
    s->auth_src = src;
    return rc;
}

/* 1 and *rc when authentication already ran for `src` in this request. */
int oauth2_ap_auth_result_get(request_rec *r, const void *src, int *rc)
{
    const reqstate_t *s = state(r, 0);

    if (s == NULL || !s->auth_tried || s->auth_src != src)
        return 0;
    *rc = s->auth_rc;
    return 1;
}
