/*
 * mod_oauth2.c - the module record and hook registration. Holds no protocol
 * logic: everything it wires up lives in the other apache/ files and, below
 * them, in the core.
 */
#include "oauth2_apache.h"
#include "oauth2/oauth2.h"

static void register_hooks(apr_pool_t *p)
{
    oauth2_ap_backend_register_hooks(p);
}

/* The only exported symbol of mod_oauth2.so (-fvisibility=hidden). */
__attribute__((visibility("default")))
module AP_MODULE_DECLARE_DATA oauth2_module = {
    STANDARD20_MODULE_STUFF,
    NULL,               /* create per-directory config */
    NULL,               /* merge per-directory config */
    NULL,               /* create per-server config */
    NULL,               /* merge per-server config */
    NULL,               /* command table */
    register_hooks,     /* register hooks */
    AP_MODULE_FLAG_NONE /* flags */
};
