/*
 * cfg.h - parsing and validation of configuration values, shared by the
 * Apache directive handlers and the command-line tools. Every function names
 * what was wrong in ctx->err so `apachectl configtest` can print it.
 */
#ifndef OAUTH2_CFG_H
#define OAUTH2_CFG_H

#include <apr_tables.h>

#include "oauth2/oauth2.h"

typedef enum {
    OAUTH2_STORE_REDIS = 1, /* redis://[user:pass@]host:port/db */
    OAUTH2_STORE_SENTINEL,  /* redis+sentinel://h1:p1,h2:p2/master[/db] */
    OAUTH2_STORE_CLUSTER,   /* redis+cluster://h1:p1,h2:p2 */
    OAUTH2_STORE_MEMORY     /* memory: (tests and single-process setups) */
} oauth2_store_kind_t;

typedef struct oauth2_host_port_t {
    const char *host;
    int port;
} oauth2_host_port_t;

/* A parsed OAuth2SessionStore URL. Strings live in the parse pool. */
typedef struct oauth2_store_url_t {
    oauth2_store_kind_t kind;
    apr_array_header_t *hosts; /* of oauth2_host_port_t, at least one */
    const char *username;      /* ACL user or NULL */
    const char *password;      /* resolved secret or NULL; never logged */
    int db;                    /* 0..15; cluster: always 0 */
    const char *master_name;   /* sentinel only */
} oauth2_store_url_t;

/*
 * Parse a store URL. DENIED with ctx->err naming the bad part (scheme, host,
 * port, db, master name) when the URL is not one of the forms above.
 */
oauth2_status_t oauth2_cfg_store_url_parse(oauth2_ctx_t *ctx, const char *url,
                                           oauth2_store_url_t **out);

#endif /* OAUTH2_CFG_H */
