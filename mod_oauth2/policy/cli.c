/*
 * cli.c - `oauth2-policy`, the offline runner for policy scripts: check a
 * script the way configtest does, evaluate one request given on the command
 * line, or run each policy's POLICY_test.lua cases. It uses only the public
 * API in oauth2/policy.h, so what it accepts is what httpd accepts. Never
 * talks to a network or an identity provider.
 *
 * Exit codes: 0 ok/allow/all passed, 1 deny/some failed, 2 unusable script
 * or arguments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "oauth2/log.h"
#include "oauth2/policy.h"

#define EXIT_DENY 1
#define EXIT_UNUSABLE 2

typedef struct opts_t {
    const char *lib;
    oauth2_policy_limits_t lim;
    oauth2_policy_request_t req;
    apr_array_header_t *files;   /* of const char * */
    apr_array_header_t *headers; /* of oauth2_policy_header_t */
    json_t *claims;
    int verbose;
} opts_t;

static void sink(void *data, const char *file, int line,
                 oauth2_log_level_t level, const char *msg)
{
    (void)data;
    (void)file;
    (void)line;
    (void)level;
    fprintf(stderr, "%s\n", msg);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: oauth2-policy [--lib DIR] [--limits instructions=N "
            "memory=4M] COMMAND ...\n"
            "  check FILE...\n"
            "  eval FILE --method M --path P [--scopes \"a b\"] "
            "[--claim k=v]...\n"
            "       [--claims-json JSON] [--sub S] [--client-id C] "
            "[--principal bearer|session]\n"
            "       [--host H] [--query Q] [--header \"Name: value\"]...\n"
            "  test POLICY.lua...   (runs POLICY_test.lua beside each)\n");
    return EXIT_UNUSABLE;
}

/* --claim k=v: a repeated name becomes a JSON array of its values. */
static int add_claim(opts_t *o, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char name[256];
    json_t *cur, *val;

    if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(name))
        return -1;
    memcpy(name, kv, (size_t)(eq - kv));
    name[eq - kv] = '\0';
    val = json_string(eq + 1);
    if (val == NULL)
        return -1;
    cur = json_object_get(o->claims, name);
    if (cur == NULL)
        return json_object_set_new(o->claims, name, val);
    if (!json_is_array(cur)) {
        json_t *arr = json_array();
        json_array_append(arr, cur);
        json_object_set_new(o->claims, name, arr);
        cur = arr;
    }
    return json_array_append_new(cur, val);
}

static int add_claims_json(opts_t *o, const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

    if (!json_is_object(j)) {
        fprintf(stderr, "oauth2-policy: --claims-json: %s\n",
                j ? "not an object" : e.text);
        json_decref(j);
        return -1;
    }
    json_object_update(o->claims, j);
    json_decref(j);
    return 0;
}

static void set_scopes(apr_pool_t *p, opts_t *o, const char *list)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(char *));
    char *copy = apr_pstrdup(p, list), *last = NULL, *w;

    for (w = apr_strtok(copy, " ,", &last); w;
         w = apr_strtok(NULL, " ,", &last))
        APR_ARRAY_PUSH(a, const char *) = w;
    o->req.scopes = (const char *const *)a->elts;
    o->req.nscopes = (size_t)a->nelts;
}

static int add_header(apr_pool_t *p, opts_t *o, const char *hv)
{
    const char *colon = strchr(hv, ':');
    oauth2_policy_header_t *h;

    if (colon == NULL || colon == hv)
        return -1;
    h = apr_array_push(o->headers);
    h->name = apr_pstrmemdup(p, hv, (size_t)(colon - hv));
    h->value = colon + 1 + strspn(colon + 1, " \t");
    return 0;
}

/* One option with its value at argv[*i + 1]; -1 on a bad option. */
static int option(apr_pool_t *p, oauth2_ctx_t *ctx, opts_t *o, int argc,
                  char **argv, int *i)
{
    const char *k = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;

    if (!strcmp(k, "-v") || !strcmp(k, "--verbose")) {
        o->verbose = 1;
        return 0;
    }
    if (v == NULL)
        return -1;
    (*i)++;
    if (!strcmp(k, "--lib"))
        o->lib = v;
    else if (!strcmp(k, "--limits")) {
        const char *spec = v;
        /* "--limits instructions=N memory=4M": take every k=v word */
        while (*i + 1 < argc && strchr(argv[*i + 1], '=') != NULL &&
               strncmp(argv[*i + 1], "--", 2) != 0)
            spec = apr_pstrcat(p, spec, " ", argv[++(*i)], NULL);
        if (oauth2_policy_limits_parse(ctx, spec, &o->lim) != OAUTH2_OK) {
            fprintf(stderr, "oauth2-policy: %s\n", ctx->err.text);
            return -1;
        }
    }
    else if (!strcmp(k, "--method"))
        o->req.method = v;
    else if (!strcmp(k, "--path"))
        o->req.path = v;
    else if (!strcmp(k, "--host"))
        o->req.host = v;
    else if (!strcmp(k, "--query"))
        o->req.query = v;
    else if (!strcmp(k, "--sub"))
        o->req.sub = v;
    else if (!strcmp(k, "--client-id"))
        o->req.client_id = v;
    else if (!strcmp(k, "--principal") &&
             (!strcmp(v, "bearer") || !strcmp(v, "session")))
        o->req.principal = v;
    else if (!strcmp(k, "--scopes"))
        set_scopes(p, o, v);
    else if (!strcmp(k, "--claim"))
        return add_claim(o, v);
    else if (!strcmp(k, "--claims-json"))
        return add_claims_json(o, v);
    else if (!strcmp(k, "--header"))
        return add_header(p, o, v);
    else
        return -1;
    return 0;
}

static int cmd_check(oauth2_ctx_t *ctx, opts_t *o)
{
    int i, rc = 0;

    for (i = 0; i < o->files->nelts; i++) {
        const char *f = APR_ARRAY_IDX(o->files, i, const char *);
        oauth2_policy_t *pol = NULL;
        if (oauth2_policy_load(ctx, ctx->pool, f, o->lib, &o->lim, &pol) !=
            OAUTH2_OK) {
            printf("%s: unusable: %s\n", f, ctx->err.text);
            rc = EXIT_UNUSABLE;
            continue;
        }
        printf("%s: ok, version %s\n", f, oauth2_policy_version(pol));
    }
    return rc;
}

static int cmd_eval(oauth2_ctx_t *ctx, opts_t *o)
{
    oauth2_policy_t *pol = NULL;
    oauth2_policy_result_t res;
    size_t i;

    if (o->files->nelts != 1 || o->req.path == NULL)
        return usage();
    o->lim.self_test = 0;
    if (oauth2_policy_load(ctx, ctx->pool,
                           APR_ARRAY_IDX(o->files, 0, const char *), o->lib,
                           &o->lim, &pol) != OAUTH2_OK) {
        printf("unusable: %s\n", ctx->err.text);
        return EXIT_UNUSABLE;
    }
    o->req.headers = (const oauth2_policy_header_t *)o->headers->elts;
    o->req.nheaders = (size_t)o->headers->nelts;
    o->req.claims = o->claims;
    if (oauth2_policy_eval(ctx, pol, &o->req, &res) != OAUTH2_OK) {
        printf("deny: %s (%s)\n", res.reason, ctx->err.text);
        return EXIT_UNUSABLE;
    }
    printf("%s: %s", res.allow ? "allow" : "deny", res.reason);
    if (res.rule)
        printf(" [rule %s]", res.rule);
    for (i = 0; i < res.nwanted; i++)
        printf("%s%s", i ? " " : " wanted scope=\"", res.wanted[i]);
    printf("%s (%ld us)\n", res.nwanted ? "\"" : "", (long)res.usec);
    return res.allow ? 0 : EXIT_DENY;
}

static int is_test_file(const char *f)
{
    size_t n = strlen(f);

    return n >= 9 && strcmp(f + n - 9, "_test.lua") == 0;
}

static int cmd_test(oauth2_ctx_t *ctx, opts_t *o)
{
    int i, passed = 0, failed = 0;

    o->lim.self_test = 0; /* the cases are run and reported below */
    for (i = 0; i < o->files->nelts; i++) {
        const char *f = APR_ARRAY_IDX(o->files, i, const char *);
        const char *tp = oauth2_policy_test_path(ctx->pool, f);
        oauth2_policy_t *pol = NULL;
        int p = 0, n = 0;
        FILE *fp;

        if (is_test_file(f))
            continue;
        if (oauth2_policy_load(ctx, ctx->pool, f, o->lib, &o->lim, &pol) !=
            OAUTH2_OK) {
            printf("FAIL %s: unusable: %s\n", f, ctx->err.text);
            failed++;
            continue;
        }
        if ((fp = fopen(tp, "r")) == NULL) {
            printf("FAIL %s: no test file %s\n", f, tp);
            failed++;
            continue;
        }
        fclose(fp);
        if (oauth2_policy_run_tests(ctx, pol, tp, &p, &n) != OAUTH2_OK) {
            printf("FAIL %s: %s\n", tp, ctx->err.text);
            failed++;
            continue;
        }
        printf("%s: %d passed, %d failed\n", tp, p, n);
        passed += p;
        failed += n;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : EXIT_DENY;
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    oauth2_log_t log = {sink, NULL, OAUTH2_LOG_WARN};
    oauth2_ctx_t ctx;
    opts_t o;
    const char *cmd = NULL;
    int i, rc;

    apr_initialize();
    apr_pool_create(&p, NULL);
    oauth2_ctx_init(&ctx, p, &log, apr_time_now());
    memset(&o, 0, sizeof(o));
    oauth2_policy_limits_default(&o.lim);
    o.files = apr_array_make(p, 8, sizeof(char *));
    o.headers = apr_array_make(p, 8, sizeof(oauth2_policy_header_t));
    o.claims = json_object();
    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-", 1) == 0) {
            if (option(p, &ctx, &o, argc, argv, &i) != 0) {
                fprintf(stderr, "oauth2-policy: bad option %s\n", argv[i]);
                return usage();
            }
        }
        else if (cmd == NULL)
            cmd = argv[i];
        else
            APR_ARRAY_PUSH(o.files, const char *) = argv[i];
    }
    if (o.verbose)
        log.level = OAUTH2_LOG_DEBUG;
    if (cmd == NULL || o.files->nelts == 0)
        rc = usage();
    else if (!strcmp(cmd, "check"))
        rc = cmd_check(&ctx, &o);
    else if (!strcmp(cmd, "eval"))
        rc = cmd_eval(&ctx, &o);
    else if (!strcmp(cmd, "test"))
        rc = cmd_test(&ctx, &o);
    else
        rc = usage();
    json_decref(o.claims);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
