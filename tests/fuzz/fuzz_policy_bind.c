/*
 * fuzz_policy_bind.c - libFuzzer target for the policy binding: arbitrary
 * bytes become a request view (line 1: path, line 2: space-separated
 * scopes, rest: JSON claims) and are evaluated by a small fixed policy that
 * walks the claims. Any result but a clean allow/deny or a logged failure
 * (crash, leak, sanitizer report, allow from an error) is a bug.
 *
 * Differential, for the decision memo: the same route table is loaded twice,
 * with the memo (default) and without (memo=0); every input is decided by
 * both, the memoized one twice, and any difference in verdict, reason,
 * rule or wanted scopes is a bug.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "oauth2/policy.h"

static const char policy_src[] =
    "local policy = require 'oauth2.policy'\n"
    "local routes = policy.routes {\n"
    "  { 'GET', '/api/photos/*', scopes = { 'photos.read' } },\n"
    "  { '*', '/api/admin/**', claims = { groups = 'admin' } },\n"
    "}\n"
    "local function walk(v, d)\n"
    "  if d > 10 or type(v) ~= 'table' then return 1 end\n"
    "  local n = 0\n"
    "  for _, x in pairs(v) do n = n + walk(x, d + 1) end\n"
    "  return n\n"
    "end\n"
    "return function(req)\n"
    "  walk(req.claims, 0)\n"
    "  if type(req.claims.sub) == 'string' then req.claims.sub:find('%d+') "
    "end\n"
    "  return routes(req)\n"
    "end\n";

static const char routes_src[] =
    "return require('oauth2.policy').routes {\n"
    "  { 'GET', '/api/photos/*', scopes = { 'photos.read' } },\n"
    "  { 'PUT', '/api/photos/*', scopes = { 'photos.read', 'photos.write' } },\n"
    "  { '*', '/api/admin/**', claims = { groups = 'admin', lvl = 3 } },\n"
    "  { 'GET', '/api/any/*', any_scopes = { 'a', 'b' } },\n"
    "}\n";

static apr_pool_t *root;
static oauth2_policy_t *pol, *memo_pol, *plain_pol;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The policy lives for the process; free it at exit so that LeakSanitizer
 * (which does not scan APR's pool memory) sees no leak. */
static void at_exit(void)
{
    apr_pool_destroy(root);
}

static oauth2_policy_t *load(const char *src, size_t len, unsigned memo)
{
    char path[] = "/tmp/fuzz_policy_XXXXXX.lua";
    const char *lib = getenv("OAUTH2_POLICY_LIB");
    oauth2_policy_limits_t lim;
    oauth2_policy_t *out = NULL;
    oauth2_ctx_t ctx;
    int fd;

    oauth2_policy_limits_default(&lim);
    lim.memo = memo;
    fd = mkstemps(path, 4);
    if (fd < 0 || write(fd, src, len) < 0)
        abort();
    close(fd);
    oauth2_ctx_init(&ctx, root, NULL, 0);
    if (oauth2_policy_load(&ctx, root, path, lib ? lib : "policies", &lim,
                           &out) != OAUTH2_OK) {
        fprintf(stderr, "fuzz_policy_bind: %s\n", ctx.err.text);
        abort();
    }
    unlink(path);
    return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    pol = load(policy_src, sizeof(policy_src) - 1, OAUTH2_POLICY_DEFAULT_MEMO);
    /* small: slots are replaced often, as under real load */
    memo_pol = load(routes_src, sizeof(routes_src) - 1, 16);
    plain_pol = load(routes_src, sizeof(routes_src) - 1, 0);
    atexit(at_exit);
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void same_decision(oauth2_status_t sa, const oauth2_policy_result_t *a,
                          oauth2_status_t sb, const oauth2_policy_result_t *b)
{
    size_t i;

    if (sa != sb || a->allow != b->allow || !same_str(a->reason, b->reason) ||
        !same_str(a->rule, b->rule) || a->nwanted != b->nwanted)
        abort();
    for (i = 0; i < a->nwanted; i++)
        if (!same_str(a->wanted[i], b->wanted[i]))
            abort();
}

static void differential(oauth2_ctx_t *ctx, const oauth2_policy_request_t *req)
{
    oauth2_policy_result_t plain, m1, m2;
    oauth2_status_t sp, s1, s2;

    sp = oauth2_policy_eval(ctx, plain_pol, req, &plain);
    s1 = oauth2_policy_eval(ctx, memo_pol, req, &m1);
    s2 = oauth2_policy_eval(ctx, memo_pol, req, &m2);
    if ((sp != OAUTH2_OK && plain.allow) || (s1 != OAUTH2_OK && m1.allow) ||
        (s2 != OAUTH2_OK && m2.allow))
        abort();
    /* The budget also charges allocations, which depend on each state's
     * GC history: a run at the edge of the budget may fail in one state
     * and finish in another. Decisions that finished must agree. */
    if (sp == OAUTH2_OK && s1 == OAUTH2_OK)
        same_decision(sp, &plain, s1, &m1);
    if (sp == OAUTH2_OK && s2 == OAUTH2_OK)
        same_decision(sp, &plain, s2, &m2);
    if (s1 == OAUTH2_OK && s2 == OAUTH2_OK)
        same_decision(s1, &m1, s2, &m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_policy_request_t req;
    oauth2_policy_result_t res;
    char *buf, *nl, *nl2, *last = NULL, *w;
    const char *scopes[32];
    json_t *claims = NULL;
    oauth2_policy_header_t hdr = {"X-Fuzz", NULL};
    oauth2_status_t st;

    if (size > 65536)
        return 0;
    apr_pool_create(&p, root);
    oauth2_ctx_init(&ctx, p, NULL, 0);
    buf = apr_pstrmemdup(p, (const char *)data, size);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = buf;
    if ((nl = strchr(buf, '\n')) != NULL) {
        *nl++ = '\0';
        if ((nl2 = strchr(nl, '\n')) != NULL) {
            *nl2++ = '\0';
            claims = json_loads(nl2, JSON_REJECT_DUPLICATES, NULL);
        }
        for (w = apr_strtok(nl, " ", &last); w && req.nscopes < 32;
             w = apr_strtok(NULL, " ", &last))
            scopes[req.nscopes++] = w;
    }
    req.scopes = scopes;
    req.claims = claims;
    hdr.value = buf;
    req.headers = &hdr;
    req.nheaders = 1;
    st = oauth2_policy_eval(&ctx, pol, &req, &res);
    if (st != OAUTH2_OK && res.allow)
        abort(); /* a failure must never allow */
    /* the first word of the path line picks the method */
    req.method = size > 0 && (data[0] & 1) ? "PUT" : "GET";
    differential(&ctx, &req);
    json_decref(claims);
    apr_pool_destroy(p);
    return 0;
}
