/*
 * verify_opts.c - the OAuth2TokenVerify option table: "key=value" words
 * into a verifier, with every check that configtest must make (URL policy,
 * files readable and holding keys, algorithms known and asymmetric). Owns
 * the verifier's construction; never does I/O beyond reading key files.
 */
#include <string.h>
#include <strings.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "oauth2/cfg.h"
#include "oauth2/jose.h"
#include "oauth2/log.h"
#include "oauth2/util.h"
#include "verify_int.h"

/* Default allow-list: every asymmetric algorithm jose.c knows. */
static const char *const known_algs[] = {"RS256", "RS384", "RS512", "PS256",
                                         "PS384", "PS512", "ES256", "ES384",
                                         "ES512", "EdDSA", NULL};

/* algs=A,B through jose.c's parser (refuses none, HS*, unknown names). */
static oauth2_status_t parse_algs(oauth2_ctx_t *ctx, const char *val,
                                  apr_array_header_t **out)
{
    char *list = apr_pstrdup(ctx->pool, val), *last = NULL, *a;
    apr_array_header_t *algs = apr_array_make(ctx->pool, 4, sizeof(char *));
    unsigned mask;

    if (oauth2_jose_algs_parse(ctx, val, &mask) != OAUTH2_OK)
        return OAUTH2_DENIED;
    for (a = apr_strtok(list, ", ", &last); a;
         a = apr_strtok(NULL, ", ", &last))
        APR_ARRAY_PUSH(algs, const char *) = a;
    *out = algs;
    return OAUTH2_OK;
}

static oauth2_status_t parse_secs(oauth2_ctx_t *ctx, const char *key,
                                  const char *val, long long max,
                                  apr_interval_time_t *out)
{
    long long n;

    if (oauth2_parse_int64(val, 0, max, &n) != 0) {
        oauth2_err_set(ctx, "%s: want seconds 0..%lld", key, max);
        return OAUTH2_DENIED;
    }
    *out = apr_time_from_sec(n);
    return OAUTH2_OK;
}

static oauth2_status_t set_source(oauth2_ctx_t *ctx, oauth2_verify_opts_t *o,
                                  oauth2_verify_source_t s, const char *val)
{
    if (o->source != 0) {
        oauth2_err_set(ctx, "only one of jwks_uri, jwks_file, pem, "
                            "introspect may be given");
        return OAUTH2_DENIED;
    }
    if (*val == '\0') {
        oauth2_err_set(ctx, "empty key source");
        return OAUTH2_DENIED;
    }
    o->source = s;
    o->location = val;
    return OAUTH2_OK;
}

/* One "key=value" word into `o`. */
static oauth2_status_t parse_word(oauth2_ctx_t *ctx, oauth2_verify_opts_t *o,
                                  const char *key, const char *val)
{
    long long n;

    if (strcmp(key, "jwks_uri") == 0)
        return set_source(ctx, o, OAUTH2_VERIFY_JWKS_URI, val);
    if (strcmp(key, "jwks_file") == 0)
        return set_source(ctx, o, OAUTH2_VERIFY_JWKS_FILE, val);
    if (strcmp(key, "pem") == 0)
        return set_source(ctx, o, OAUTH2_VERIFY_PEM, val);
    if (strcmp(key, "introspect") == 0)
        return set_source(ctx, o, OAUTH2_VERIFY_INTROSPECT, val);
    if (strcmp(key, "issuer") == 0 && *val != '\0')
        o->issuer = val;
    else if (strcmp(key, "audience") == 0 && *val != '\0')
        o->audience = val;
    else if (strcmp(key, "client_id") == 0 && *val != '\0')
        o->client_id = val;
    else if (strcmp(key, "client_secret") == 0) {
        /* literal, file: or exec:, resolved now so configtest sees it */
        if (oauth2_cfg_secret_resolve(ctx, val, &o->client_secret) != OAUTH2_OK)
            return OAUTH2_DENIED;
    }
    else if (strcmp(key, "client_auth") == 0 &&
             (strcmp(val, "basic") == 0 || strcmp(val, "post") == 0))
        o->client_auth_post = strcmp(val, "post") == 0;
    else if (strcmp(key, "type") == 0 && *val != '\0')
        o->typ = val;
    else if (strcmp(key, "algs") == 0)
        return parse_algs(ctx, val, &o->algs);
    else if (strcmp(key, "leeway") == 0)
        return parse_secs(ctx, key, val, 3600, &o->leeway);
    else if (strcmp(key, "cache") == 0)
        return parse_secs(ctx, key, val, 86400, &o->cache_ttl);
    else if (strcmp(key, "negative_cache") == 0)
        return parse_secs(ctx, key, val, 3600, &o->negative_ttl);
    else if (strcmp(key, "refetch") == 0)
        return parse_secs(ctx, key, val, 86400, &o->refetch_interval);
    else if (strcmp(key, "cache_entries") == 0) {
        if (oauth2_parse_int64(val, 1, 1000000, &n) != 0) {
            oauth2_err_set(ctx, "cache_entries: want 1..1000000");
            return OAUTH2_DENIED;
        }
        o->cache_entries = (size_t)n;
    }
    else {
        oauth2_err_set(ctx, "unknown or empty option %s",
                       oauth2_log_escape(ctx->pool, key, strlen(key)));
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

static void set_defaults(oauth2_ctx_t *ctx, oauth2_verify_opts_t *o)
{
    int i;

    o->leeway = apr_time_from_sec(60);
    o->cache_ttl = apr_time_from_sec(300);
    o->negative_ttl = apr_time_from_sec(10);
    o->refetch_interval = apr_time_from_sec(30);
    o->cache_entries = 10000;
    o->algs = apr_array_make(ctx->pool, 10, sizeof(char *));
    for (i = 0; known_algs[i] != NULL; i++)
        APR_ARRAY_PUSH(o->algs, const char *) = known_algs[i];
}

/* A JWKS file, read and parsed once at configuration time. */
static oauth2_status_t load_jwks_file(oauth2_ctx_t *ctx, oauth2_verifier_t *v)
{
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    char *buf = NULL;
    apr_size_t n = 0;
    apr_status_t rv;

    if (apr_file_open(&f, v->opts.location, APR_FOPEN_READ, 0, ctx->pool) !=
        APR_SUCCESS) {
        oauth2_err_set(ctx, "jwks_file: cannot read %s", v->opts.location);
        return OAUTH2_DENIED;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS && fi.size > 0 && fi.size <= OAUTH2_JWKS_MAX_BYTES) {
        n = (apr_size_t)fi.size;
        buf = apr_palloc(ctx->pool, n + 1);
        rv = apr_file_read_full(f, buf, n, &n);
    }
    apr_file_close(f); /* kept verifiers (.htaccess) must not hold it */
    if (rv != APR_SUCCESS) {
        oauth2_err_set(ctx, "jwks_file: cannot read %s", v->opts.location);
        return OAUTH2_DENIED;
    }
    if (buf == NULL) {
        oauth2_err_set(ctx, "jwks_file: bad size");
        return OAUTH2_DENIED;
    }
    buf[n] = '\0';
    return oauth2_jwks_parse(ctx, v->pool, buf, n, &v->static_keys) == OAUTH2_OK
               ? OAUTH2_OK
               : OAUTH2_DENIED;
}

/* Checks across options, and loading of configured key files. */
static oauth2_status_t check_opts(oauth2_ctx_t *ctx, oauth2_verifier_t *v)
{
    oauth2_verify_opts_t *o = &v->opts;

    if (o->source == 0) {
        oauth2_err_set(ctx, "one of jwks_uri, jwks_file, pem, introspect "
                            "is required");
        return OAUTH2_DENIED;
    }
    if (o->issuer == NULL) {
        oauth2_err_set(ctx, "issuer= is required");
        return OAUTH2_DENIED;
    }
    if (o->source == OAUTH2_VERIFY_JWKS_URI ||
        o->source == OAUTH2_VERIFY_INTROSPECT) {
        if (!oauth2_http_url_allowed(ctx, o->location))
            return OAUTH2_DENIED;
    }
    if (o->source == OAUTH2_VERIFY_INTROSPECT && o->client_id == NULL) {
        oauth2_err_set(ctx, "introspect needs client_id=");
        return OAUTH2_DENIED;
    }
    if (o->source == OAUTH2_VERIFY_PEM)
        return oauth2_jwks_from_pem_file(ctx, v->pool, o->location,
                                         &v->static_keys) == OAUTH2_OK
                   ? OAUTH2_OK
                   : OAUTH2_DENIED;
    if (o->source == OAUTH2_VERIFY_JWKS_FILE)
        return load_jwks_file(ctx, v);
    return OAUTH2_OK;
}

/*
 * The fixed part of every cache key, so a lookup only appends the hash. It
 * names where verdicts come from (source kind, URL or file, client_id) as
 * well as what they are checked against: introspection verdicts shared
 * through the store must never answer for another endpoint's line.
 */
static void set_namespace(oauth2_verifier_t *v, const char *ns)
{
    const char *src = apr_psprintf(v->pool, "%d\n%s\n%s", (int)v->opts.source,
                                   v->opts.location ? v->opts.location : "",
                                   v->opts.client_id ? v->opts.client_id : "");
    const char *h = oauth2_sha256_hex(v->pool, src, strlen(src));

    v->ns = apr_pstrdup(v->pool, ns ? ns : "");
    v->key_prefix =
        apr_pstrcat(v->pool, v->ns, "|", v->opts.issuer, "|",
                    v->opts.audience ? v->opts.audience : "", "|",
                    h ? apr_pstrndup(v->pool, h, 16) : src, "|", NULL);
    v->key_prefix_len = strlen(v->key_prefix);
}

oauth2_status_t oauth2_verifier_parse(oauth2_ctx_t *ctx, int argc,
                                      const char *const *argv,
                                      oauth2_verifier_t **out)
{
    oauth2_verifier_t *v = apr_pcalloc(ctx->pool, sizeof(*v));
    oauth2_cache_opts_t co = {0, 0, 0};
    oauth2_status_t st;
    int i;

    v->pool = ctx->pool;
    v->ns = "";
    set_defaults(ctx, &v->opts);
    for (i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');

        if (eq == NULL) {
            oauth2_err_set(
                ctx, "want key=value, got %s",
                oauth2_log_escape(ctx->pool, argv[i], strlen(argv[i])));
            return OAUTH2_DENIED;
        }
        st = parse_word(ctx, &v->opts,
                        apr_pstrmemdup(ctx->pool, argv[i], eq - argv[i]),
                        apr_pstrdup(ctx->pool, eq + 1));
        if (st != OAUTH2_OK)
            return st;
    }
    if ((st = check_opts(ctx, v)) != OAUTH2_OK)
        return st;
    for (i = 0; i < v->opts.algs->nelts; i++)
        v->alg_mask |=
            oauth2_jose_alg_bit(APR_ARRAY_IDX(v->opts.algs, i, const char *));
    co.max_entries = v->opts.cache_entries;
    co.max_value_len = OAUTH2_JWKS_MAX_BYTES;
    /* keys are the line's prefix (namespace with an .htaccess path, issuer,
     * audience: config text) plus the token's hash; a longer one would
     * silently never be cached */
    co.max_key_len = 16384;
    if (oauth2_cache_create(ctx, ctx->pool, &co, &v->tokens) != OAUTH2_OK ||
        oauth2_cache_create(ctx, ctx->pool, NULL, &v->keys) != OAUTH2_OK ||
        apr_thread_mutex_create(&v->mu, APR_THREAD_MUTEX_DEFAULT, ctx->pool) !=
            APR_SUCCESS) {
        oauth2_err_set(ctx, "cannot create the verifier caches");
        return OAUTH2_ERROR;
    }
    v->http = oauth2_http_curl_create(ctx->pool, NULL);
    set_namespace(v, "");
    *out = v;
    return OAUTH2_OK;
}

const oauth2_verify_opts_t *oauth2_verifier_opts(const oauth2_verifier_t *v)
{
    return &v->opts;
}

void oauth2_verifier_set_http(oauth2_verifier_t *v, oauth2_http_t *http)
{
    v->http = http;
}

void oauth2_verifier_set_namespace(oauth2_verifier_t *v, const char *ns)
{
    set_namespace(v, ns);
}
