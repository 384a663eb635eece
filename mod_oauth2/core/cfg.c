/*
 * cfg.c - parses and validates configuration values for the directive
 * handlers and the command-line tools: session store URLs and options,
 * secret specs (literal, file:, exec:), key=value option lists and typed
 * values (durations, sizes, booleans, bounded integers). Every failure names
 * the bad part in ctx->err so configtest can print it; a secret never
 * appears there. Never touches a request and never keeps state.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "oauth2/cfg.h"
#include "oauth2/log.h"

#define SECRET_MAX 65536
#define DURATION_MAX_SEC (10LL * 365 * 24 * 3600)
#define SIZE_MAX_BYTES ((long long)1 << 40)
#define DEFAULT_REDIS_PORT 6379
#define DEFAULT_SENTINEL_PORT 26379

/* ==== numbers ========================================================= */

/* Whole-string unsigned decimal in [0, max] into *out; -1 otherwise. */
static int parse_num(const char *s, size_t len, long long max, long long *out)
{
    long long v = 0;
    size_t i;

    if (len == 0 || len > 19)
        return -1;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        if (v > (max - (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

oauth2_status_t oauth2_cfg_parse_duration(oauth2_ctx_t *ctx, const char *s,
                                          apr_interval_time_t *out)
{
    static const struct {
        const char *suffix;
        long long usec;
    } units[] = {{"ms", 1000LL},
                 {"s", 1000000LL},
                 {"m", 60000000LL},
                 {"h", 3600000000LL},
                 {"", 1000000LL}};
    size_t len = s ? strlen(s) : 0, i;
    long long v, max;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t sl = strlen(units[i].suffix);
        if (len <= sl || strcmp(s + len - sl, units[i].suffix) != 0)
            continue;
        /* "5ms" must not be read as 5m + "s": digits only before suffix. */
        max = DURATION_MAX_SEC * 1000000LL / units[i].usec;
        if (parse_num(s, len - sl, max, &v) != 0)
            break;
        *out = (apr_interval_time_t)(v * units[i].usec);
        return OAUTH2_OK;
    }
    oauth2_err_set(ctx,
                   "bad duration '%s' (want e.g. 30, 30s, 500ms, 5m, 1h; "
                   "at most 10 years)",
                   s ? s : "");
    return OAUTH2_DENIED;
}

oauth2_status_t oauth2_cfg_parse_size(oauth2_ctx_t *ctx, const char *s,
                                      apr_size_t *out)
{
    size_t len = s ? strlen(s) : 0;
    long long mult = 1, v;
    int shift = 0;

    if (len > 1) {
        switch (s[len - 1]) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        case 'g':
        case 'G':
            shift = 30;
            break;
        }
    }
    mult = (long long)1 << shift;
    if (parse_num(s, shift ? len - 1 : len, SIZE_MAX_BYTES / mult, &v) != 0) {
        oauth2_err_set(ctx, "bad size '%s' (want e.g. 512, 64k, 4M, 1G)",
                       s ? s : "");
        return OAUTH2_DENIED;
    }
    *out = (apr_size_t)(v * mult);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_parse_bool(oauth2_ctx_t *ctx, const char *s,
                                      int *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    size_t i;

    for (i = 0; s != NULL && i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return OAUTH2_OK;
        }
    }
    oauth2_err_set(ctx, "bad boolean '%s' (want On or Off)", s ? s : "");
    return OAUTH2_DENIED;
}

/* ==== key=value option lists ========================================== */

oauth2_status_t oauth2_cfg_kv_parse(oauth2_ctx_t *ctx, int argc,
                                    char *const argv[], apr_table_t **out)
{
    apr_table_t *t = apr_table_make(ctx->pool, argc > 0 ? argc : 1);
    int i;

    for (i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        char *key;
        if (eq == NULL || eq == argv[i]) {
            oauth2_err_set(ctx, "option '%.40s' is not key=value", argv[i]);
            return OAUTH2_DENIED;
        }
        key = apr_pstrmemdup(ctx->pool, argv[i], (apr_size_t)(eq - argv[i]));
        if (apr_table_get(t, key) != NULL) {
            oauth2_err_set(ctx, "option '%.40s' given twice", key);
            return OAUTH2_DENIED;
        }
        apr_table_setn(t, key, apr_pstrdup(ctx->pool, eq + 1));
    }
    *out = t;
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_check_known(oauth2_ctx_t *ctx, const apr_table_t *t,
                                       const char *const allowed[])
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i, j;

    for (i = 0; i < arr->nelts; i++) {
        for (j = 0; allowed[j] != NULL; j++) {
            if (strcmp(e[i].key, allowed[j]) == 0)
                break;
        }
        if (allowed[j] == NULL) {
            char *list = "";
            for (j = 0; allowed[j] != NULL; j++)
                list = apr_pstrcat(ctx->pool, list, j ? ", " : "", allowed[j],
                                   NULL);
            oauth2_err_set(ctx, "unknown option '%.40s' (known: %s)", e[i].key,
                           list);
            return OAUTH2_DENIED;
        }
    }
    return OAUTH2_OK;
}

/* Prefix ctx->err with "option key: " after a typed parse failed. */
static oauth2_status_t kv_fail(oauth2_ctx_t *ctx, const char *key)
{
    char why[OAUTH2_ERR_MAX];

    memcpy(why, ctx->err.text, sizeof(why));
    oauth2_err_set(ctx, "option %s: %s", key, why);
    return OAUTH2_DENIED;
}

oauth2_status_t oauth2_cfg_kv_duration(oauth2_ctx_t *ctx, const apr_table_t *t,
                                       const char *key, apr_interval_time_t def,
                                       apr_interval_time_t *out)
{
    const char *v = apr_table_get(t, key);

    if (v == NULL) {
        *out = def;
        return OAUTH2_OK;
    }
    if (oauth2_cfg_parse_duration(ctx, v, out) != OAUTH2_OK)
        return kv_fail(ctx, key);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_kv_size(oauth2_ctx_t *ctx, const apr_table_t *t,
                                   const char *key, apr_size_t def,
                                   apr_size_t *out)
{
    const char *v = apr_table_get(t, key);

    if (v == NULL) {
        *out = def;
        return OAUTH2_OK;
    }
    if (oauth2_cfg_parse_size(ctx, v, out) != OAUTH2_OK)
        return kv_fail(ctx, key);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_kv_bool(oauth2_ctx_t *ctx, const apr_table_t *t,
                                   const char *key, int def, int *out)
{
    const char *v = apr_table_get(t, key);

    if (v == NULL) {
        *out = def;
        return OAUTH2_OK;
    }
    if (oauth2_cfg_parse_bool(ctx, v, out) != OAUTH2_OK)
        return kv_fail(ctx, key);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_kv_int(oauth2_ctx_t *ctx, const apr_table_t *t,
                                  const char *key, long long min, long long max,
                                  long long def, long long *out)
{
    const char *v = apr_table_get(t, key);
    long long n;

    if (v == NULL) {
        *out = def;
        return OAUTH2_OK;
    }
    if (min < 0 || parse_num(v, strlen(v), max, &n) != 0 || n < min) {
        oauth2_err_set(ctx, "option %s: bad number '%.40s' (%lld..%lld)", key,
                       v, min, max);
        return OAUTH2_DENIED;
    }
    *out = n;
    return OAUTH2_OK;
}

/* ==== secrets ========================================================== */

/* Cut at the first '\n' (and a '\r' before it); exec output and files. */
static char *first_line(char *buf, apr_size_t *len)
{
    char *nl = memchr(buf, '\n', *len);

    if (nl != NULL)
        *len = (apr_size_t)(nl - buf);
    if (*len > 0 && buf[*len - 1] == '\r')
        (*len)--;
    buf[*len] = '\0';
    return buf;
}

/* Read at most SECRET_MAX bytes from an open file into the pool. */
static apr_status_t read_all(apr_pool_t *p, apr_file_t *f, char **buf,
                             apr_size_t *len)
{
    char *b = apr_palloc(p, SECRET_MAX + 1);
    apr_size_t n = 0;
    apr_status_t rv = APR_SUCCESS;

    while (n < SECRET_MAX) {
        apr_size_t chunk = SECRET_MAX - n;
        rv = apr_file_read(f, b + n, &chunk);
        n += chunk;
        if (rv != APR_SUCCESS)
            break;
    }
    *buf = b;
    *len = n;
    b[n] = '\0';
    return APR_STATUS_IS_EOF(rv) ? APR_SUCCESS : rv;
}

static oauth2_status_t secret_file(oauth2_ctx_t *ctx, const char *path,
                                   const char **out)
{
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t len;
    char *buf, ebuf[80];

    if (path[0] != '/') {
        oauth2_err_set(ctx, "file: needs an absolute path, not '%.60s'", path);
        return OAUTH2_DENIED;
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, ctx->pool);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&fi, APR_FINFO_PROT | APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS && fi.size > SECRET_MAX)
        rv = APR_EINVAL;
    if (rv == APR_SUCCESS)
        rv = read_all(ctx->pool, f, &buf, &len);
    if (f != NULL)
        apr_file_close(f);
    if (rv != APR_SUCCESS) {
        oauth2_err_set(ctx, "cannot read secret file %.80s: %s", path,
                       rv == APR_EINVAL ? "larger than 64 KiB"
                                        : apr_strerror(rv, ebuf, sizeof(ebuf)));
        return OAUTH2_DENIED;
    }
    if (fi.protection & (APR_FPROT_WREAD | APR_FPROT_GREAD))
        oauth2_log_warn(ctx,
                        OAUTH2_LOGNO(00020) "secret file %s is readable by "
                                            "group or others; chmod 0600 it",
                        oauth2_log_escape(ctx->pool, path, strlen(path)));
    *out = first_line(buf, &len);
    return OAUTH2_OK;
}

/* Start `cmd` (absolute program, blank-separated args) with a stdout pipe. */
static oauth2_status_t exec_start(oauth2_ctx_t *ctx, const char *cmd,
                                  apr_proc_t *proc)
{
    apr_procattr_t *attr = NULL;
    char **argv = NULL;
    apr_status_t rv;
    char ebuf[80];

    rv = apr_tokenize_to_argv(cmd, &argv, ctx->pool);
    if (rv != APR_SUCCESS || argv[0] == NULL || argv[0][0] != '/') {
        oauth2_err_set(ctx,
                       "exec: needs an absolute program path, not "
                       "'%.60s'",
                       cmd);
        return OAUTH2_DENIED;
    }
    rv = apr_procattr_create(&attr, ctx->pool);
    if (rv == APR_SUCCESS)
        rv = apr_procattr_io_set(attr, APR_NO_FILE, APR_CHILD_BLOCK,
                                 APR_NO_PIPE);
    if (rv == APR_SUCCESS)
        rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV);
    if (rv == APR_SUCCESS)
        rv = apr_proc_create(proc, argv[0], (const char *const *)argv, NULL,
                             attr, ctx->pool);
    if (rv != APR_SUCCESS) {
        oauth2_err_set(ctx, "exec: cannot run %.80s: %s", argv[0],
                       apr_strerror(rv, ebuf, sizeof(ebuf)));
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/*
 * Wait for the child within the deadline; kill it when the deadline has
 * passed so a hanging helper never blocks startup forever.
 */
static oauth2_status_t exec_reap(oauth2_ctx_t *ctx, const char *cmd,
                                 apr_proc_t *proc, apr_time_t deadline)
{
    apr_exit_why_e why;
    int code = 0;
    apr_status_t rv;

    for (;;) {
        rv = apr_proc_wait(proc, &code, &why, APR_NOWAIT);
        if (rv == APR_CHILD_DONE)
            break;
        if (apr_time_now() >= deadline) {
            apr_proc_kill(proc, SIGKILL);
            apr_proc_wait(proc, &code, &why, APR_WAIT);
            oauth2_err_set(ctx, "exec:%.80s timed out", cmd);
            return OAUTH2_DENIED;
        }
        apr_sleep(apr_time_from_msec(10));
    }
    if (!APR_PROC_CHECK_EXIT(why) || code != 0) {
        oauth2_err_set(ctx, "exec:%.80s failed (%s %d)", cmd,
                       APR_PROC_CHECK_EXIT(why) ? "exit status" : "signal",
                       code);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

static oauth2_status_t secret_exec(oauth2_ctx_t *ctx, const char *cmd,
                                   const char **out)
{
    apr_time_t deadline = apr_time_now() + OAUTH2_CFG_EXEC_TIMEOUT;
    apr_proc_t proc;
    apr_size_t len = 0;
    apr_status_t rv;
    oauth2_status_t st;
    char *buf = NULL;

    memset(&proc, 0, sizeof(proc));
    st = exec_start(ctx, cmd, &proc);
    if (st != OAUTH2_OK)
        return st;
    apr_file_pipe_timeout_set(proc.out, OAUTH2_CFG_EXEC_TIMEOUT);
    rv = read_all(ctx->pool, proc.out, &buf, &len);
    apr_file_close(proc.out);
    if (rv != APR_SUCCESS)
        deadline = 0; /* read timed out: kill it now */
    st = exec_reap(ctx, cmd, &proc, deadline);
    if (st != OAUTH2_OK)
        return st;
    *out = first_line(buf, &len);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_secret_resolve(oauth2_ctx_t *ctx, const char *spec,
                                          const char **out)
{
    oauth2_status_t st = OAUTH2_OK;
    const char *v = spec;

    if (spec == NULL) {
        oauth2_err_set(ctx, "secret missing");
        return OAUTH2_DENIED;
    }
    if (strncmp(spec, "file:", 5) == 0)
        st = secret_file(ctx, spec + 5, &v);
    else if (strncmp(spec, "exec:", 5) == 0)
        st = secret_exec(ctx, spec + 5, &v);
    if (st != OAUTH2_OK)
        return st;
    if (v[0] == '\0') {
        oauth2_err_set(ctx, "secret from '%.80s' is empty",
                       v == spec ? "(literal)" : spec);
        return OAUTH2_DENIED;
    }
    *out = v;
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_passphrase_resolve(oauth2_ctx_t *ctx,
                                              const char *spec,
                                              const char **out)
{
    const char *v = NULL;
    oauth2_status_t st = oauth2_cfg_secret_resolve(ctx, spec, &v);

    if (st != OAUTH2_OK)
        return st;
    if (strlen(v) < OAUTH2_CFG_PASSPHRASE_MIN) {
        oauth2_err_set(ctx, "passphrase%s%.80s is shorter than %d bytes",
                       v == spec ? "" : " from ", v == spec ? "" : spec,
                       OAUTH2_CFG_PASSPHRASE_MIN);
        return OAUTH2_DENIED;
    }
    *out = v;
    return OAUTH2_OK;
}

/* ==== store URLs ======================================================= */

/* %XX-decode userinfo; NULL on a bad escape or an embedded NUL. */
static char *pct_decode(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= len)
            return NULL;
        if (!isxdigit((unsigned char)s[i + 1]) ||
            !isxdigit((unsigned char)s[i + 2]))
            return NULL;
        *o = (char)strtol((char[]){s[i + 1], s[i + 2], 0}, NULL, 16);
        if (*o++ == '\0')
            return NULL;
        i += 2;
    }
    *o = '\0';
    return out;
}

/* Hostname (letters, digits, '.', '-', '_') or a bracketed IPv6 literal. */
static int host_ok(const char *h, size_t len, int bracketed)
{
    size_t i;

    if (len == 0 || len > 253)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (bracketed ? !(isxdigit(c) || c == ':' || c == '.')
                      : !(isalnum(c) || c == '.' || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* One "host[:port]" or "[v6][:port]" of length len. */
static oauth2_status_t parse_host_port(oauth2_ctx_t *ctx, const char *s,
                                       size_t len, int defport,
                                       oauth2_host_port_t *hp)
{
    const char *h = s, *colon;
    size_t hlen;
    long long port = defport;
    int br = 0;

    if (len > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL) {
            oauth2_err_set(ctx, "store URL: unclosed '[' in host '%.*s'",
                           (int)(len > 60 ? 60 : len), s);
            return OAUTH2_DENIED;
        }
        h = s + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1 < s + len ? rb + 1 : NULL;
        br = 1;
        if (colon != NULL && *colon != ':')
            hlen = (size_t)-1; /* junk after ']' */
    }
    else {
        colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
    }
    if (hlen == 0) {
        oauth2_err_set(ctx, "store URL: missing host");
        return OAUTH2_DENIED;
    }
    if (hlen == (size_t)-1 || !host_ok(h, hlen, br)) {
        oauth2_err_set(ctx, "store URL: bad host '%.*s'",
                       (int)(len > 60 ? 60 : len), s);
        return OAUTH2_DENIED;
    }
    if (colon != NULL) {
        size_t plen = (size_t)(s + len - colon - 1);
        if (parse_num(colon + 1, plen, 65535, &port) != 0 || port < 1) {
            oauth2_err_set(ctx, "store URL: bad port '%.*s' (1..65535)",
                           (int)(plen > 20 ? 20 : plen), colon + 1);
            return OAUTH2_DENIED;
        }
    }
    hp->host = apr_pstrmemdup(ctx->pool, h, hlen);
    hp->port = (int)port;
    return OAUTH2_OK;
}

/* Comma-separated hosts into u->hosts. */
static oauth2_status_t parse_hosts(oauth2_ctx_t *ctx, const char *s, size_t len,
                                   int defport, oauth2_store_url_t *u)
{
    const char *end = s + len;

    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        oauth2_host_port_t *hp = apr_array_push(u->hosts);
        if (parse_host_port(ctx, s, (size_t)(stop - s), defport, hp) != 0)
            return OAUTH2_DENIED;
        if (comma == NULL)
            return OAUTH2_OK;
        s = comma + 1;
    }
}

/* "user:pass@", ":pass@" or "user@" before the host list. */
static oauth2_status_t parse_userinfo(oauth2_ctx_t *ctx, const char *s,
                                      size_t len, oauth2_store_url_t *u)
{
    const char *colon = memchr(s, ':', len);
    size_t ulen = colon ? (size_t)(colon - s) : len;

    if (ulen > 0) {
        u->username = pct_decode(ctx->pool, s, ulen);
        if (u->username == NULL) {
            oauth2_err_set(ctx, "store URL: bad %%-escape in user name");
            return OAUTH2_DENIED;
        }
    }
    if (colon != NULL) {
        u->password =
            pct_decode(ctx->pool, colon + 1, (size_t)(s + len - colon - 1));
        if (u->password == NULL) {
            oauth2_err_set(ctx, "store URL: bad %%-escape in password");
            return OAUTH2_DENIED;
        }
        if (u->password[0] == '\0')
            u->password = NULL;
    }
    return OAUTH2_OK;
}

static oauth2_status_t parse_db(oauth2_ctx_t *ctx, const char *s,
                                oauth2_store_url_t *u)
{
    long long db;

    if (parse_num(s, strlen(s), 15, &db) != 0) {
        oauth2_err_set(ctx, "store URL: bad db '%.20s' (0..15)", s);
        return OAUTH2_DENIED;
    }
    u->db = (int)db;
    return OAUTH2_OK;
}

/* The part after the host list: "", "/", "/db"; sentinel "/master[/db]". */
static oauth2_status_t parse_path(oauth2_ctx_t *ctx, const char *path,
                                  oauth2_store_url_t *u)
{
    const char *slash;

    if (u->kind == OAUTH2_STORE_SENTINEL) {
        const char *name = path + (path[0] == '/');
        size_t nlen;
        slash = strchr(name, '/');
        nlen = slash ? (size_t)(slash - name) : strlen(name);
        if (path[0] != '/' || !host_ok(name, nlen, 0)) {
            oauth2_err_set(ctx, "store URL: sentinel needs a master name "
                                "(redis+sentinel://h1:26379,h2/mymaster)");
            return OAUTH2_DENIED;
        }
        u->master_name = apr_pstrmemdup(ctx->pool, name, nlen);
        return slash ? parse_db(ctx, slash + 1, u) : OAUTH2_OK;
    }
    if (path[0] == '\0' || strcmp(path, "/") == 0)
        return OAUTH2_OK;
    if (u->kind == OAUTH2_STORE_CLUSTER) {
        oauth2_err_set(ctx, "store URL: redis+cluster takes no db ('%.20s')",
                       path);
        return OAUTH2_DENIED;
    }
    return parse_db(ctx, path + 1, u);
}

oauth2_status_t oauth2_cfg_store_url_parse(oauth2_ctx_t *ctx, const char *url,
                                           oauth2_store_url_t **out)
{
    static const struct {
        const char *scheme;
        oauth2_store_kind_t kind;
        int port;
    } schemes[] = {
        {"redis://", OAUTH2_STORE_REDIS, DEFAULT_REDIS_PORT},
        {"redis+sentinel://", OAUTH2_STORE_SENTINEL, DEFAULT_SENTINEL_PORT},
        {"redis+cluster://", OAUTH2_STORE_CLUSTER, DEFAULT_REDIS_PORT}};
    oauth2_store_url_t *u = apr_pcalloc(ctx->pool, sizeof(*u));
    const char *s = NULL, *at, *path, *q;
    size_t i;

    u->hosts = apr_array_make(ctx->pool, 2, sizeof(oauth2_host_port_t));
    if (url != NULL && strcmp(url, "memory:") == 0) {
        u->kind = OAUTH2_STORE_MEMORY; /* hosts stays empty */
        *out = u;
        return OAUTH2_OK;
    }
    for (i = 0; url != NULL && i < sizeof(schemes) / sizeof(*schemes); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncasecmp(url, schemes[i].scheme, n) == 0) {
            u->kind = schemes[i].kind;
            s = url + n;
            break;
        }
    }
    if (s == NULL) {
        int slen = url ? (int)strcspn(url, ":") : 0;
        if (slen > 40)
            slen = 40;
        /* Only up to the first ':' : the rest may hold a password. */
        oauth2_err_set(ctx,
                       "store URL: unknown scheme '%.*s' (want "
                       "redis://, redis+sentinel://, redis+cluster:// "
                       "or memory:)",
                       slen, url ? url : "");
        return OAUTH2_DENIED;
    }
    q = strchr(s, '?');
    if (q != NULL) {
        /* Only "?db=N" (the same as the path form) is understood. */
        if (u->kind == OAUTH2_STORE_CLUSTER || strncmp(q, "?db=", 4) != 0 ||
            parse_db(ctx, q + 4, u) != OAUTH2_OK) {
            oauth2_err_set(ctx,
                           "store URL: bad query '%.40s' (only ?db=N, "
                           "0..15, not for redis+cluster)",
                           q);
            return OAUTH2_DENIED;
        }
        s = apr_pstrmemdup(ctx->pool, s, (size_t)(q - s));
    }
    path = s + strcspn(s, "/");
    /* The last '@' before the path ends the userinfo. */
    for (at = path; at > s && at[-1] != '@'; at--)
        ;
    at = at > s ? at - 1 : NULL;
    if (at != NULL) {
        if (parse_userinfo(ctx, s, (size_t)(at - s), u) != OAUTH2_OK)
            return OAUTH2_DENIED;
        s = at + 1;
    }
    if (parse_hosts(ctx, s, (size_t)(path - s), schemes[i].port, u) !=
            OAUTH2_OK ||
        parse_path(ctx, path, u) != OAUTH2_OK)
        return OAUTH2_DENIED;
    if (u->kind == OAUTH2_STORE_REDIS && u->hosts->nelts != 1) {
        oauth2_err_set(ctx, "store URL: redis:// takes one host; use "
                            "redis+sentinel:// or redis+cluster://");
        return OAUTH2_DENIED;
    }
    *out = u;
    return OAUTH2_OK;
}

/* Options of the store after the URL; see cfg.h for the defaults. */
static oauth2_status_t store_opts(oauth2_ctx_t *ctx, const apr_table_t *t,
                                  oauth2_cfg_store_opts_t *o)
{
    long long pool = 0;

    o->prefix = apr_table_get(t, "prefix");
    if (o->prefix == NULL)
        o->prefix = "oauth2:";
    if (o->prefix[0] == '\0' || strlen(o->prefix) > 64 ||
        strpbrk(o->prefix, " \t\r\n") != NULL) {
        oauth2_err_set(ctx, "option prefix: bad key prefix '%.64s'", o->prefix);
        return OAUTH2_DENIED;
    }
    if (oauth2_cfg_kv_duration(ctx, t, "connect_timeout",
                               apr_time_from_msec(500),
                               &o->connect_timeout) != OAUTH2_OK ||
        oauth2_cfg_kv_duration(ctx, t, "timeout", apr_time_from_sec(1),
                               &o->timeout) != OAUTH2_OK ||
        oauth2_cfg_kv_int(ctx, t, "pool", 1, 1024, 0, &pool) != OAUTH2_OK)
        return OAUTH2_DENIED;
    if (o->connect_timeout == 0 || o->timeout == 0) {
        oauth2_err_set(ctx, "option %s: must be more than 0",
                       o->timeout == 0 ? "timeout" : "connect_timeout");
        return OAUTH2_DENIED;
    }
    o->pool = (int)pool;
    return OAUTH2_OK;
}

/* cache=N read cache slots: redis:// only (default DEFAULT_CACHE there). */
#define DEFAULT_CACHE 1024
static oauth2_status_t store_cache(oauth2_ctx_t *ctx, const apr_table_t *t,
                                   const oauth2_store_url_t *u,
                                   oauth2_cfg_store_opts_t *o)
{
    int redis = u->kind == OAUTH2_STORE_REDIS;
    long long n = 0;

    if (oauth2_cfg_kv_int(ctx, t, "cache", 0, 65536, redis ? DEFAULT_CACHE : 0,
                          &n) != OAUTH2_OK)
        return OAUTH2_DENIED;
    if (n > 0 && !redis) {
        oauth2_err_set(ctx, "option cache: only for redis:// (set cache=0 or "
                            "leave it out)");
        return OAUTH2_DENIED;
    }
    o->cache = (int)n;
    return OAUTH2_OK;
}

/* sentinel_username= / sentinel_password= (a secret spec): sentinel only. */
static oauth2_status_t sentinel_auth(oauth2_ctx_t *ctx, const apr_table_t *t,
                                     oauth2_store_url_t *u)
{
    const char *user = apr_table_get(t, "sentinel_username");
    const char *pw = apr_table_get(t, "sentinel_password");

    if ((user != NULL || pw != NULL) && u->kind != OAUTH2_STORE_SENTINEL) {
        oauth2_err_set(ctx, "option %s: only for redis+sentinel://",
                       pw != NULL ? "sentinel_password" : "sentinel_username");
        return OAUTH2_DENIED;
    }
    if (user != NULL && pw == NULL) {
        oauth2_err_set(ctx, "option sentinel_username: needs "
                            "sentinel_password");
        return OAUTH2_DENIED;
    }
    u->sentinel_username = user;
    if (pw != NULL &&
        oauth2_cfg_secret_resolve(ctx, pw, &u->sentinel_password) != OAUTH2_OK)
        return kv_fail(ctx, "sentinel_password");
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cfg_store_parse(oauth2_ctx_t *ctx, int argc,
                                       char *const argv[],
                                       oauth2_store_url_t **url,
                                       oauth2_cfg_store_opts_t **opts)
{
    static const char *const known[] = {
        "password",          "prefix", "connect_timeout",
        "timeout",           "pool",   "sentinel_username",
        "sentinel_password", "cache",  NULL};
    oauth2_cfg_store_opts_t *o = apr_pcalloc(ctx->pool, sizeof(*o));
    oauth2_store_url_t *u = NULL;
    apr_table_t *t = NULL;
    const char *pw;

    if (argc < 1) {
        oauth2_err_set(ctx, "store URL missing");
        return OAUTH2_DENIED;
    }
    if (oauth2_cfg_store_url_parse(ctx, argv[0], &u) != OAUTH2_OK ||
        oauth2_cfg_kv_parse(ctx, argc - 1, argv + 1, &t) != OAUTH2_OK ||
        oauth2_cfg_check_known(ctx, t, known) != OAUTH2_OK ||
        store_opts(ctx, t, o) != OAUTH2_OK)
        return OAUTH2_DENIED;
    pw = apr_table_get(t, "password");
    if (pw != NULL && u->kind == OAUTH2_STORE_MEMORY) {
        oauth2_err_set(ctx, "option password: memory: has no password");
        return OAUTH2_DENIED;
    }
    if (pw != NULL &&
        oauth2_cfg_secret_resolve(ctx, pw, &u->password) != OAUTH2_OK)
        return kv_fail(ctx, "password");
    if (sentinel_auth(ctx, t, u) != OAUTH2_OK ||
        store_cache(ctx, t, u, o) != OAUTH2_OK)
        return OAUTH2_DENIED;
    *url = u;
    *opts = o;
    return OAUTH2_OK;
}
