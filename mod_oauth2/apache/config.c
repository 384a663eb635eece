/*
 * config.c - the server and directory config records: creation with UNSET
 * sentinels, merging (one line per field), getters that supply the
 * defaults (the root config may never be merged, so defaults cannot live in
 * create), and the checks across directives run by check_config. Never
 * parses directive arguments (directives.c) and never runs per request.
 */
#include <apr_strings.h>

#include "oauth2_apache.h"

#define DEFAULT_INACTIVITY apr_time_from_sec(3600)
#define DEFAULT_MAX apr_time_from_sec(8 * 3600)

/* The added (inner) value when it was set, else the base one. */
#define MERGE_PTR(f) n->f = (add->f != NULL) ? add->f : base->f
#define MERGE_VAL(f) n->f = (add->f != OAUTH2_AP_UNSET) ? add->f : base->f

void *oauth2_ap_srv_create(apr_pool_t *p, server_rec *s)
{
    oauth2_ap_srv_cfg_t *c = apr_pcalloc(p, sizeof(*c));

    /* passphrase and store: NULL by apr_pcalloc */
    c->session_inactivity = OAUTH2_AP_UNSET;
    c->session_max = OAUTH2_AP_UNSET;
    c->cookie_secure = OAUTH2_AP_UNSET;
    c->rp = oauth2_ap_rp_srv_create(p);
    c->policy = oauth2_ap_policy_srv_create(p);
    return c;
}

void *oauth2_ap_srv_merge(apr_pool_t *p, void *basev, void *addv)
{
    const oauth2_ap_srv_cfg_t *base = basev, *add = addv;
    oauth2_ap_srv_cfg_t *n = apr_pcalloc(p, sizeof(*n));

    MERGE_PTR(passphrase);
    MERGE_PTR(store);
    MERGE_VAL(session_inactivity);
    MERGE_VAL(session_max);
    MERGE_VAL(cookie_secure);
    n->rp = oauth2_ap_rp_srv_merge(p, base->rp, add->rp);
    n->policy = oauth2_ap_policy_srv_merge(p, base->policy, add->policy);
    MERGE_PTR(backchannel_uri);
    return n;
}

void *oauth2_ap_dir_create(apr_pool_t *p, char *dir)
{
    oauth2_ap_dir_cfg_t *c = apr_pcalloc(p, sizeof(*c));

    /* remote_user_claim, claim_header_prefix: NULL by apr_pcalloc */
    c->rp = oauth2_ap_rp_dir_create(p);
    /* bearer_verifiers: NULL by apr_pcalloc */
    c->bearer_query_token = OAUTH2_AP_UNSET;
    return c;
}

void *oauth2_ap_dir_merge(apr_pool_t *p, void *basev, void *addv)
{
    const oauth2_ap_dir_cfg_t *base = basev, *add = addv;
    oauth2_ap_dir_cfg_t *n = apr_pcalloc(p, sizeof(*n));

    MERGE_PTR(remote_user_claim);
    MERGE_PTR(claim_header_prefix);
    n->rp = oauth2_ap_rp_dir_merge(p, base->rp, add->rp);
    MERGE_PTR(bearer_verifiers);
    MERGE_VAL(bearer_query_token);
    return n;
}

oauth2_ap_srv_cfg_t *oauth2_ap_srv_cfg(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &oauth2_module);
}

oauth2_ap_dir_cfg_t *oauth2_ap_dir_cfg(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &oauth2_module);
}

/* ---- getters: the defaults live here ---- */

const char *oauth2_ap_passphrase(const oauth2_ap_srv_cfg_t *c)
{
    return c->passphrase ? c->passphrase->current : NULL;
}

const char *oauth2_ap_passphrase_previous(const oauth2_ap_srv_cfg_t *c)
{
    return c->passphrase ? c->passphrase->previous : NULL;
}

const oauth2_ap_store_cfg_t *
oauth2_ap_session_store(const oauth2_ap_srv_cfg_t *c)
{
    return c->store;
}

apr_interval_time_t oauth2_ap_session_inactivity(const oauth2_ap_srv_cfg_t *c)
{
    return c->session_inactivity == OAUTH2_AP_UNSET ? DEFAULT_INACTIVITY
                                                    : c->session_inactivity;
}

apr_interval_time_t oauth2_ap_session_max(const oauth2_ap_srv_cfg_t *c)
{
    return c->session_max == OAUTH2_AP_UNSET ? DEFAULT_MAX : c->session_max;
}

int oauth2_ap_cookie_secure(const oauth2_ap_srv_cfg_t *c)
{
    /* On unless explicitly off: only local test setups run without TLS. */
    return c->cookie_secure == OAUTH2_AP_UNSET ? 1 : c->cookie_secure;
}

const char *oauth2_ap_remote_user_claim(const oauth2_ap_dir_cfg_t *c)
{
    return c->remote_user_claim ? c->remote_user_claim : "sub";
}

const char *oauth2_ap_claim_header_prefix(const oauth2_ap_dir_cfg_t *c)
{
    if (c->claim_header_prefix == NULL || c->claim_header_prefix[0] == '\0')
        return NULL;
    return c->claim_header_prefix;
}

/* ---- checks across directives, after vhosts are merged ---- */

/* Name a host for a config error: "main server" or "vhost (file:line)". */
static const char *vhost_name(const server_rec *s)
{
    if (!s->is_virtual || s->defn_name == NULL)
        return "main server";
    return apr_psprintf(s->process->pconf, "<VirtualHost> %s (%s:%u)",
                        s->server_hostname ? s->server_hostname : "?",
                        s->defn_name, s->defn_line_number);
}

/* One host's config; 0 when fine, else logs why and returns -1. */
static int check_server(const server_rec *s)
{
    const oauth2_ap_srv_cfg_t *c = oauth2_ap_srv_cfg(s);

    if (c->store != NULL && c->passphrase == NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     OAUTH2_LOGNO(00601) "%s: OAuth2SessionStore is "
                                         "set but OAuth2Passphrase is not; "
                                         "sessions are encrypted with it",
                     vhost_name(s));
        return -1;
    }
    if (oauth2_ap_session_inactivity(c) > oauth2_ap_session_max(c)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     OAUTH2_LOGNO(00602) "%s: OAuth2SessionTimeout "
                                         "inactivity=%" APR_TIME_T_FMT
                                         "s exceeds max=%" APR_TIME_T_FMT "s",
                     vhost_name(s),
                     apr_time_sec(oauth2_ap_session_inactivity(c)),
                     apr_time_sec(oauth2_ap_session_max(c)));
        return -1;
    }
    return 0;
}

int oauth2_ap_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    int bad = 0;

    for (; s != NULL; s = s->next)
        bad |= check_server(s);
    return bad ? !OK : OK;
}
