/*
 * mod_oauth2.c - the module record and hook registration. Holds no protocol
 * logic: everything it wires up lives in the other apache/ files and, below
 * them, in the core.
 */
#include "oauth2_apache.h"

/* One numbered notice per (re)start, so operators see what is loaded. */
static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    /* The first pass only validates the config; nothing serves after it. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 OAUTH2_LOGNO(00600) "mod_oauth2 %s configured",
                 OAUTH2_VERSION);
    return OK;
}

/*
 * Features add their hooks here, one `oauth2_ap_<feature>_register(p)`
 * each (authn, authz, handlers, backend), declared in oauth2_apache.h.
 */
static void register_hooks(apr_pool_t *p)
{
    ap_hook_check_config(oauth2_ap_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    oauth2_ap_backend_register_hooks(p);
    oauth2_ap_bearer_register_hooks(p);
    oauth2_ap_authz_register_hooks(p);
    oauth2_ap_rp_register_hooks(p);
    oauth2_ap_policy_register_hooks(p);
    oauth2_ap_sm_register_hooks(p);
    oauth2_ap_metrics_register_hooks(p);
    oauth2_ap_health_register_hooks(p);
}

/* The only exported symbol of mod_oauth2.so (-fvisibility=hidden). */
__attribute__((visibility("default")))
module AP_MODULE_DECLARE_DATA oauth2_module = {
    STANDARD20_MODULE_STUFF,
    oauth2_ap_dir_create, /* create per-directory config */
    oauth2_ap_dir_merge,  /* merge per-directory config */
    oauth2_ap_srv_create, /* create per-server config */
    oauth2_ap_srv_merge,  /* merge per-server config */
    oauth2_ap_cmds,       /* command table */
    register_hooks,       /* register hooks */
    AP_MODULE_FLAG_NONE   /* flags */
};
