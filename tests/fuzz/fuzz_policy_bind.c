/*
 * fuzz_policy_bind.c - libFuzzer target for the policy binding: arbitrary
 * bytes become a request view (line 1: path, line 2: space-separated
 * scopes, rest: JSON claims) and are evaluated by a small fixed policy that
 * walks the claims. Any result but a clean allow/deny or a logged failure
 * (crash, leak, sanitizer report, allow from an error) is a bug.
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

static apr_pool_t *root;
static oauth2_policy_t *pol;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The policy lives for the process; free it at exit so that LeakSanitizer
 * (which does not scan APR's pool memory) sees no leak. */
static void at_exit(void)
{
    apr_pool_destroy(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[] = "/tmp/fuzz_policy_XXXXXX.lua";
    oauth2_ctx_t ctx;
    const char *lib = getenv("OAUTH2_POLICY_LIB");
    int fd;

    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    fd = mkstemps(path, 4);
    if (fd < 0 || write(fd, policy_src, sizeof(policy_src) - 1) < 0)
        abort();
    close(fd);
    oauth2_ctx_init(&ctx, root, NULL, 0);
    if (oauth2_policy_load(&ctx, root, path, lib ? lib : "policies", NULL,
                           &pol) != OAUTH2_OK) {
        fprintf(stderr, "fuzz_policy_bind: %s\n", ctx.err.text);
        abort();
    }
    unlink(path);
    atexit(at_exit);
    return 0;
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
    json_decref(claims);
    apr_pool_destroy(p);
    return 0;
}
