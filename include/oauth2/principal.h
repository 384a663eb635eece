/*
 * principal.h - who a request is authenticated as, whichever way it came
 * in (bearer token or browser session). Authentication fills it once per
 * request; authorization (Require oauth2-scope/-claim/-policy) and the
 * backend hand-off (REMOTE_USER, env, headers) only read it.
 */
#ifndef OAUTH2_PRINCIPAL_H
#define OAUTH2_PRINCIPAL_H

#include <apr_tables.h>
#include <jansson.h>

#include "oauth2/oauth2.h"

typedef enum {
    OAUTH2_PRINCIPAL_BEARER = 1,
    OAUTH2_PRINCIPAL_SESSION
} oauth2_principal_type_t;

typedef struct oauth2_principal_t {
    oauth2_principal_type_t type;
    const char *sub;            /* may be NULL (client-credentials tokens) */
    const char *client_id;      /* `client_id` or `azp`, may be NULL */
    const char *issuer;         /* `iss` */
    json_t *claims;             /* object, read-only: the request pool's
                                   or a cached verdict's, lent to it */
    apr_array_header_t *scopes; /* of const char *, possibly empty */
    const char *access_token;   /* for forwarding to the backend on request */
    const char *provider;       /* session principals: provider name */
    apr_time_t expires;         /* 0 = unknown */
    /* Claims prepared for the backend, kept with a cached verdict; NULL:
     * build them from `claims` (oauth2_claim_exports_make). */
    const struct oauth2_claim_exports_t *exports;
} oauth2_principal_t;

/* "bearer" or "session". */
const char *oauth2_principal_type_str(oauth2_principal_type_t type);

/* 1 if every scope in `wanted` (NULL-terminated array) is held. */
int oauth2_principal_has_scopes(const oauth2_principal_t *p,
                                const char *const *wanted);

#endif /* OAUTH2_PRINCIPAL_H */
