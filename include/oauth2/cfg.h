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
                            /* any redis URL may end in ?db=N instead */
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
    apr_array_header_t *hosts; /* oauth2_host_port_t; empty for memory: */
    const char *username;      /* ACL user or NULL */
    const char *password;      /* resolved secret or NULL; never logged */
    int db;                    /* 0..15; cluster: always 0 */
    const char *master_name;   /* sentinel only */
    /* redis+sentinel: AUTH towards the sentinels themselves (not the
     * master); from the sentinel_username= / sentinel_password= options. */
    const char *sentinel_username;
    const char *sentinel_password; /* resolved secret or NULL; never logged */
} oauth2_store_url_t;

/*
 * Parse a store URL. DENIED with ctx->err naming the bad part (scheme, host,
 * port, db, master name) when the URL is not one of the forms above.
 */
oauth2_status_t oauth2_cfg_store_url_parse(oauth2_ctx_t *ctx, const char *url,
                                           oauth2_store_url_t **out);

/*
 * Options of OAuth2SessionStore after the URL. The parser fills every
 * field: defaults for what the directive did not say.
 */
typedef struct oauth2_cfg_store_opts_t {
    const char *prefix;                  /* key prefix, default "oauth2:" */
    apr_interval_time_t connect_timeout; /* default 500 ms */
    apr_interval_time_t timeout;         /* per command, default 1 s */
    int pool;  /* connections per process; 0 = not given (the caller picks:
                * the adapter uses the MPM's threads per child) */
    int cache; /* redis:// read cache slots; default 1024, 0 = off */
} oauth2_cfg_store_opts_t;

/*
 * The whole OAuth2SessionStore argument list: argv[0] is the URL, the rest
 * `key=value` options (password= prefix= connect_timeout= timeout= pool=,
 * for redis:// cache=, and for redis+sentinel sentinel_username=
 * sentinel_password=).
 * password= and sentinel_password= are secret specs (literal, file:, exec:;
 * see oauth2_cfg_secret_resolve); password= replaces the URL's userinfo
 * password. DENIED with ctx->err naming the bad part;
 * secrets never appear in ctx->err.
 */
oauth2_status_t oauth2_cfg_store_parse(oauth2_ctx_t *ctx, int argc,
                                       char *const argv[],
                                       oauth2_store_url_t **url,
                                       oauth2_cfg_store_opts_t **opts);

/* Bytes a passphrase must have at least. */
#define OAUTH2_CFG_PASSPHRASE_MIN 16

/* How long an exec: secret command may run. */
#define OAUTH2_CFG_EXEC_TIMEOUT apr_time_from_sec(5)

/*
 * Resolve a secret spec into ctx->pool:
 *   "file:/abs/path"  the file's content, one trailing newline stripped; a
 *                     group- or world-readable file is logged as a warning;
 *   "exec:/abs/path [args]"  run without a shell (args split on blanks),
 *                     the first line of stdout; non-zero exit, a signal or
 *                     OAUTH2_CFG_EXEC_TIMEOUT fail;
 *   anything else     the literal value.
 * DENIED with ctx->err naming the file or program (never the secret) when
 * it cannot be read or is empty.
 */
oauth2_status_t oauth2_cfg_secret_resolve(oauth2_ctx_t *ctx, const char *spec,
                                          const char **out);

/* oauth2_cfg_secret_resolve plus the OAUTH2_CFG_PASSPHRASE_MIN check. */
oauth2_status_t oauth2_cfg_passphrase_resolve(oauth2_ctx_t *ctx,
                                              const char *spec,
                                              const char **out);

/*
 * Option words "key=value" (quotes already removed by Apache's tokenizer)
 * into a new table in ctx->pool. DENIED for a word without '=', an empty
 * key or a key given twice.
 */
oauth2_status_t oauth2_cfg_kv_parse(oauth2_ctx_t *ctx, int argc,
                                    char *const argv[], apr_table_t **out);

/*
 * DENIED naming the first key of `t` not in `allowed` (NULL-terminated),
 * with the list of allowed keys.
 */
oauth2_status_t oauth2_cfg_check_known(oauth2_ctx_t *ctx, const apr_table_t *t,
                                       const char *const allowed[]);

/*
 * Typed values. Durations: "30" (seconds), "30s", "500ms", "5m", "1h",
 * non-negative, at most 10 years. Sizes: "512", "64k", "4M", "1G" (powers
 * of 1024). Booleans: on/off, true/false, yes/no, 1/0 (case-insensitive).
 * DENIED with ctx->err quoting the value.
 */
oauth2_status_t oauth2_cfg_parse_duration(oauth2_ctx_t *ctx, const char *s,
                                          apr_interval_time_t *out);
oauth2_status_t oauth2_cfg_parse_size(oauth2_ctx_t *ctx, const char *s,
                                      apr_size_t *out);
oauth2_status_t oauth2_cfg_parse_bool(oauth2_ctx_t *ctx, const char *s,
                                      int *out);

/*
 * Getters over a kv table: *out = def when `key` is absent; DENIED with
 * ctx->err naming the key and value when present but malformed.
 */
oauth2_status_t oauth2_cfg_kv_duration(oauth2_ctx_t *ctx, const apr_table_t *t,
                                       const char *key, apr_interval_time_t def,
                                       apr_interval_time_t *out);
oauth2_status_t oauth2_cfg_kv_size(oauth2_ctx_t *ctx, const apr_table_t *t,
                                   const char *key, apr_size_t def,
                                   apr_size_t *out);
oauth2_status_t oauth2_cfg_kv_bool(oauth2_ctx_t *ctx, const apr_table_t *t,
                                   const char *key, int def, int *out);
oauth2_status_t oauth2_cfg_kv_int(oauth2_ctx_t *ctx, const apr_table_t *t,
                                  const char *key, long long min, long long max,
                                  long long def, long long *out);

#endif /* OAUTH2_CFG_H */
