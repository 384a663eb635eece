/*
 * oauth2_apache.h - declarations private to the Apache adapter. The only
 * place (with the other apache/ files) that includes httpd headers.
 */
#ifndef OAUTH2_APACHE_H
#define OAUTH2_APACHE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "oauth2/principal.h"

APLOG_USE_MODULE(oauth2);

/* ---- request.c: per-request state on the main request (bearer) ---- */
void oauth2_ap_principal_set(request_rec *r, const oauth2_principal_t *p);
const oauth2_principal_t *oauth2_ap_principal_get(request_rec *r);
void oauth2_ap_wanted_scope_add(request_rec *r, const char *scopes);
const char *oauth2_ap_wanted_scope_get(request_rec *r);

/* ---- backend.c: strip client copies, export the principal (bearer) ---- */
typedef struct oauth2_ap_backend_cfg_t {
    const char *remote_user_claim; /* NULL: "sub" */
    const char *header_prefix;     /* NULL/"": no claim headers */
    const char *token_header;      /* NULL: the token is not forwarded */
} oauth2_ap_backend_cfg_t;

void oauth2_ap_backend_cfg_get(request_rec *r, oauth2_ap_backend_cfg_t *bc);
void oauth2_ap_backend_strip(request_rec *r, const oauth2_ap_backend_cfg_t *bc);
void oauth2_ap_backend_set_user(request_rec *r,
                                const oauth2_ap_backend_cfg_t *bc,
                                const oauth2_principal_t *p);
void oauth2_ap_backend_export(request_rec *r, const oauth2_ap_backend_cfg_t *bc,
                              const oauth2_principal_t *p);
void oauth2_ap_backend_register_hooks(apr_pool_t *p);

#endif /* OAUTH2_APACHE_H */
