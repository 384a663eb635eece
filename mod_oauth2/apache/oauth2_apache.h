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

/* ---- provider.c, session.c, handlers.c: relying party (rp) ---- */
#include "oauth2/rp.h"

/* One OAuth2Provider: the core description plus adapter settings. */
typedef struct oauth2_ap_provider_t {
    oauth2_rp_provider_t rp;
    apr_interval_time_t discovery_ttl;
    const char *config_file; /* where it was defined, for messages */
    int config_line;
} oauth2_ap_provider_t;

/* Server-level rp settings (a sub-struct of the server config). */
typedef struct oauth2_ap_rp_srv_t {
    apr_hash_t *providers;     /* name -> oauth2_ap_provider_t * */
    const char *redirect_uri;  /* OAuth2RedirectURI: path or absolute URL */
    const char *logout_uri;    /* OAuth2LogoutURI: path */
    apr_array_header_t *return_allow; /* OAuth2ReturnAllow origins */
} oauth2_ap_rp_srv_t;

/* Directory-level rp settings. */
typedef struct oauth2_ap_rp_dir_t {
    const char *login; /* OAuth2Login provider name; NULL = unset */
} oauth2_ap_rp_dir_t;

void *oauth2_ap_rp_srv_create(apr_pool_t *p);
void *oauth2_ap_rp_srv_merge(apr_pool_t *p, void *base, void *add);
void *oauth2_ap_rp_dir_create(apr_pool_t *p);
void *oauth2_ap_rp_dir_merge(apr_pool_t *p, void *base, void *add);
oauth2_ap_rp_srv_t *oauth2_ap_rp_srv_get(server_rec *s);
oauth2_ap_rp_dir_t *oauth2_ap_rp_dir_get(request_rec *r);
const oauth2_ap_provider_t *oauth2_ap_rp_provider(server_rec *s,
                                                  const char *name);
const char *oauth2_ap_rp_cmd_provider(cmd_parms *cmd, void *dc, int argc,
                                      char *const argv[]);
const char *oauth2_ap_rp_cmd_login(cmd_parms *cmd, void *dc, const char *v);
const char *oauth2_ap_rp_cmd_redirect_uri(cmd_parms *cmd, void *dc,
                                          const char *v);
const char *oauth2_ap_rp_cmd_logout_uri(cmd_parms *cmd, void *dc,
                                        const char *v);
const char *oauth2_ap_rp_cmd_return_allow(cmd_parms *cmd, void *dc,
                                          const char *v);
int oauth2_ap_rp_check_config(apr_pool_t *pconf, server_rec *s);
void oauth2_ap_rp_register_hooks(apr_pool_t *p);

/* The relying party's command_rec entries (one contiguous block). */
#define OAUTH2_AP_RP_COMMANDS                                                  \
    AP_INIT_TAKE_ARGV("OAuth2Provider", oauth2_ap_rp_cmd_provider, NULL,       \
                      RSRC_CONF,                                               \
                      "an OIDC / OAuth 2.0 provider: NAME key=value..."),      \
        AP_INIT_TAKE1("OAuth2Login", oauth2_ap_rp_cmd_login, NULL, OR_AUTHCFG, \
                      "the provider AuthType oauth2 signs users in with"),     \
        AP_INIT_TAKE1("OAuth2RedirectURI", oauth2_ap_rp_cmd_redirect_uri,      \
                      NULL, RSRC_CONF,                                         \
                      "path (or absolute URL) of the login callback"),         \
        AP_INIT_TAKE1("OAuth2LogoutURI", oauth2_ap_rp_cmd_logout_uri, NULL,    \
                      RSRC_CONF, "path of the logout handler"),                \
        AP_INIT_ITERATE("OAuth2ReturnAllow", oauth2_ap_rp_cmd_return_allow,    \
                        NULL, RSRC_CONF,                                       \
                        "other origins a login/logout may return to")

#endif /* OAUTH2_APACHE_H */
