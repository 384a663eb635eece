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

#define PRINCIPAL_KEY "oauth2.principal"
#define SCOPE_KEY "oauth2.wanted_scope"

/* The request whose pool carries our state: the top of the r->main chain. */
static request_rec *main_of(request_rec *r)
{
    while (r->main != NULL)
        r = r->main;
    return r;
}

/*
 * Record the principal for this request, its subrequests and internal
 * redirects (which share the main request's pool). The principal and its
 * claims must live in that pool (or longer); NULL forgets it.
 */
void oauth2_ap_principal_set(request_rec *r, const oauth2_principal_t *p)
{
    request_rec *m = main_of(r);

    apr_pool_userdata_setn(p, PRINCIPAL_KEY, NULL, m->pool);
}

/* The principal authentication established for this request, or NULL. */
const oauth2_principal_t *oauth2_ap_principal_get(request_rec *r)
{
    void *p = NULL;

    if (apr_pool_userdata_get(&p, PRINCIPAL_KEY, main_of(r)->pool) !=
        APR_SUCCESS)
        return NULL;
    return p;
}

/*
 * Remember the scopes a denied Require oauth2-scope wanted (space separated),
 * so the error path can name them in WWW-Authenticate. Later denials add to
 * the list; duplicates are harmless to a client.
 */
void oauth2_ap_wanted_scope_add(request_rec *r, const char *scopes)
{
    request_rec *m = main_of(r);
    const char *old = oauth2_ap_wanted_scope_get(r);
    const char *v = old ? apr_pstrcat(m->pool, old, " ", scopes, NULL)
                        : apr_pstrdup(m->pool, scopes);

    apr_pool_userdata_setn(v, SCOPE_KEY, NULL, m->pool);
}

/* The scopes recorded by oauth2_ap_wanted_scope_add, or NULL. */
const char *oauth2_ap_wanted_scope_get(request_rec *r)
{
    void *v = NULL;

    if (apr_pool_userdata_get(&v, SCOPE_KEY, main_of(r)->pool) != APR_SUCCESS)
        return NULL;
    return v;
}
