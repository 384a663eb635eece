/*
 * test_policy.c - the Lua policy engine: route helper and glob rules, the
 * sandbox (every escape we know of), budgets and caps, result types, state
 * reuse, reload and the self tests. Each negative asserts the deny reason,
 * the error text and the log number.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "helpers.h"
#include "oauth2/policy.h"

static char tmpdir[64];
static int seq;

static const char *test_dir(void)
{
    const char *d = getenv("OAUTH2_TEST_DIR");
    return d ? d : "tests/unit";
}

static const char *lib_dir(apr_pool_t *p)
{
    return apr_pstrcat(p, test_dir(), "/../../policies", NULL);
}

static const char *fixture(apr_pool_t *p, const char *name)
{
    return apr_pstrcat(p, test_dir(), "/policies/", name, NULL);
}

static apr_status_t unlink_cleanup(void *data)
{
    unlink(data);
    return APR_SUCCESS;
}

/* Write `src` to a fresh file in the temp dir (removed with the pool). */
static const char *write_named(th_fixture_t *f, const char *name,
                               const char *src)
{
    const char *path = apr_pstrcat(f->pool, tmpdir, "/", name, NULL);
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    fputs(src, fp);
    fclose(fp);
    apr_pool_cleanup_register(f->pool, apr_pstrdup(f->pool, path),
                              unlink_cleanup, apr_pool_cleanup_null);
    return path;
}

static const char *write_src(th_fixture_t *f, const char *src)
{
    return write_named(f, apr_psprintf(f->pool, "p%d.lua", ++seq), src);
}

static oauth2_policy_t *load_lim(th_fixture_t *f, const char *src,
                                 const oauth2_policy_limits_t *lim)
{
    oauth2_policy_t *pol = NULL;
    oauth2_status_t st = oauth2_policy_load(&f->ctx, f->pool, write_src(f, src),
                                            lib_dir(f->pool), lim, &pol);
    if (st != OAUTH2_OK)
        fail_msg("load failed: %s", f->ctx.err.text);
    return pol;
}

static oauth2_policy_t *load(th_fixture_t *f, const char *src)
{
    return load_lim(f, src, NULL);
}

/* Evaluate method/path with space-separated scopes and optional claims. */
static oauth2_status_t eval(th_fixture_t *f, oauth2_policy_t *pol,
                            const char *method, const char *path,
                            const char *scopes, const char *claims,
                            oauth2_policy_result_t *res)
{
    oauth2_policy_request_t req;
    const char *sc[16];
    char *copy = apr_pstrdup(f->pool, scopes ? scopes : ""), *last = NULL, *w;
    json_t *cl = NULL;
    oauth2_status_t st;
    size_t n = 0;

    memset(&req, 0, sizeof(req));
    for (w = apr_strtok(copy, " ", &last); w && n < 16;
         w = apr_strtok(NULL, " ", &last))
        sc[n++] = w;
    if (claims != NULL)
        assert_non_null(cl = json_loads(claims, 0, NULL));
    req.method = method;
    req.path = path;
    req.scopes = sc;
    req.nscopes = n;
    req.claims = cl;
    req.principal = "bearer";
    st = oauth2_policy_eval(&f->ctx, pol, &req, res);
    json_decref(cl);
    return st;
}

/* A script that must fail at eval with `reason`, `text` and log `logno`. */
static void expect_fail(th_fixture_t *f, const char *src,
                        const oauth2_policy_limits_t *lim, const char *reason,
                        const char *text, const char *logno)
{
    oauth2_policy_t *pol = load_lim(f, src, lim);
    oauth2_policy_result_t res;
    oauth2_status_t st;

    f->ctx.err.text[0] = '\0';
    st = eval(f, pol, "GET", "/x", NULL, NULL, &res);
    if (st != OAUTH2_ERROR || res.allow != 0 ||
        strcmp(res.reason, reason) != 0 ||
        strstr(f->ctx.err.text, text) == NULL || !th_logged(f, logno))
        fail_msg("script:\n%s\nstatus %d allow %d reason '%s' err '%s'\nlog:\n"
                 "%s",
                 src, st, res.allow, res.reason, f->ctx.err.text, f->logbuf);
}

#define SCRIPT_ERR "policy error: script error"
#define BUDGET "policy error: instruction budget exhausted"
#define MEMORY "policy error: memory cap exceeded"
#define WRONG "policy error: wrong result type"

/* ---- helper: routes and globs -------------------------------------------- */

static void routes_allow_deny_wanted(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_t *pol = NULL;
    oauth2_policy_result_t res;

    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                        fixture(f->pool, "routes.lua"),
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_OK);
    assert_true(th_logged(f, "OA00502: policy"));
    assert_int_equal(strlen(oauth2_policy_version(pol)), 12);
    assert_int_equal(
        eval(f, pol, "GET", "/api/photos/1", "photos.read", NULL, &res),
        OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_string_equal(res.rule, "#1 GET /api/photos/*");
    assert_string_equal(res.version, oauth2_policy_version(pol));
    assert_int_equal(
        eval(f, pol, "POST", "/api/photos/1", "photos.read", NULL, &res),
        OAUTH2_OK);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "needs scope photos.write");
    assert_int_equal(res.nwanted, 1);
    assert_string_equal(res.wanted[0], "photos.write");
    {
        oauth2_policy_request_t req = {.method = "POST", .path = "/a\xff"};
        const char *j =
            oauth2_policy_decision_json(f->pool, pol, &req, &res, OAUTH2_OK);
        assert_non_null(strstr(j, "\"decision\":\"deny\""));
        assert_non_null(strstr(j, "\"wanted\":[\"photos.write\"]"));
        assert_non_null(strstr(j, "\"path\":\"/a\\\\xff\""));
        j = oauth2_policy_decision_json(f->pool, pol, &req, &res, OAUTH2_ERROR);
        assert_non_null(strstr(j, "\"decision\":\"error\""));
    }
    assert_int_equal(eval(f, pol, "GET", "/api/admin/x/y", NULL,
                          "{\"groups\":[\"staff\",\"admin\"]}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_int_equal(eval(f, pol, "GET", "/api/admin/x", NULL,
                          "{\"groups\":\"staff\"}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "claim groups does not match");
}

static void glob_edge_cases(void **state)
{
    static const struct {
        const char *method, *path, *scopes;
        int allow;
        const char *reason;
    } v[] = {
        {"GET", "/api/photos/1", "photos.read", 1, NULL},
        {"get", "/api/photos/1", "photos.read", 1, NULL},
        {"GET", "/api/photos", "photos.read photos.list", 0, "no route"},
        {"GET", "/api/photos/", "photos.read", 0, "needs scope photos.list"},
        {"GET", "/api/photos/", "photos.list", 1, NULL},
        {"GET", "/api/photos/1/2", "photos.read", 0, "no route"},
        {"GET", "/API/photos/1", "photos.read", 0, "no route"},
        {"GET", "/api/Photos/1", "photos.read", 0, "no route"},
        {"GET", "/api/photos/../admin", "photos.read", 0, "ambiguous path"},
        {"GET", "/api/photos/./1", "photos.read", 0, "ambiguous path"},
        {"GET", "/api/photos/a%2Fb", "photos.read", 0, "ambiguous path"},
        {"GET", "/api/photos/a%2fb", "photos.read", 0, "ambiguous path"},
        {"GET", "/api/photos/%2E%2E", "photos.read", 0, "ambiguous path"},
        {"GET", "/api//photos/1", "photos.read", 0, "ambiguous path"},
        {"GET", "/api/photos/a\\b", "photos.read", 0, "ambiguous path"},
        {"GET", "/api/photos/%41", "photos.read", 1, NULL},
        {"GET", "api/photos/1", "photos.read", 0, "ambiguous path"},
        {"GET", "/raw/../x", "", 1, NULL}, /* route opts in explicitly */
        {"DELETE", "/raw/x", "", 0, "no route"},
    };
    th_fixture_t *f = *state;
    oauth2_policy_t *pol = NULL;
    oauth2_policy_result_t res;
    size_t i;

    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                        fixture(f->pool, "routes.lua"),
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_OK);
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(
            eval(f, pol, v[i].method, v[i].path, v[i].scopes, NULL, &res),
            OAUTH2_OK);
        if (res.allow != v[i].allow ||
            (v[i].reason && strstr(res.reason, v[i].reason) == NULL))
            fail_msg("%s %s: got %d (%s)", v[i].method, v[i].path, res.allow,
                     res.reason);
    }
}

static void default_deny_and_explicit_allow(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *deny = load(f, "return require('oauth2.policy').routes{"
                                    "{'GET','/a'}}");
    oauth2_policy_t *allow = load(f, "return require('oauth2.policy').routes{"
                                     "{'GET','/a'}, default = 'allow'}");

    assert_int_equal(eval(f, deny, "GET", "/b", NULL, NULL, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "no route matches");
    assert_int_equal(eval(f, allow, "GET", "/b", NULL, NULL, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    /* an ambiguous path is denied even under default allow */
    assert_int_equal(eval(f, allow, "GET", "/a/../b", NULL, NULL, &res),
                     OAUTH2_OK);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "ambiguous path: dot segment in path");
}

static void function_script_results(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol =
        load(f, "local policy = require 'oauth2.policy'\n"
                "return function(req)\n"
                "  if req.scopes['photos.write'] then return true end\n"
                "  if req.method == 'PUT' then\n"
                "    return policy.deny('needs photos.write', "
                "{'photos.write'})\n"
                "  end\n"
                "  return false, 'needs w', {'photos.write', 'x.y'}\n"
                "end\n");

    assert_int_equal(eval(f, pol, "GET", "/x", "photos.write", NULL, &res),
                     OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_string_equal(res.reason, "allowed by policy");
    assert_int_equal(eval(f, pol, "PUT", "/x", "", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "needs photos.write");
    assert_int_equal(res.nwanted, 1);
    assert_int_equal(eval(f, pol, "GET", "/x", "", NULL, &res), OAUTH2_OK);
    assert_string_equal(res.reason, "needs w");
    assert_int_equal(res.nwanted, 2);
    assert_string_equal(res.wanted[1], "x.y");
}

static void request_view_is_a_bounded_copy(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_request_t req;
    oauth2_policy_header_t h[] = {{"X-Tenant", "acme"}};
    const char *sc[] = {"a", "b"};
    json_t *cl = json_pack("{s:{s:[i,s]},s:b}", "org", "ids", 7, "x", "ok", 1);
    char *big = apr_palloc(f->pool, 20001);
    oauth2_policy_t *pol =
        load(f, "return function(req)\n"
                "  req.claims.org.ids[1] = 99\n"
                "  return req.headers['x-tenant'] == 'acme' and\n"
                "    req.scopes.a and req.scopes.b and not req.scopes.c and\n"
                "    req.claims.org.ids[2] == 'x' and req.claims.ok == true "
                "and\n"
                "    req.host == 'h' and req.sub == 's' and req.client_id == "
                "'c' and\n"
                "    req.principal == 'session', 'view'\n"
                "end\n");

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/";
    req.host = "h";
    req.sub = "s";
    req.client_id = "c";
    req.principal = "session";
    req.headers = h;
    req.nheaders = 1;
    req.scopes = sc;
    req.nscopes = 2;
    req.claims = cl;
    assert_int_equal(oauth2_policy_eval(&f->ctx, pol, &req, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    /* the script changed its copy, not ours */
    assert_int_equal(
        json_integer_value(json_array_get(
            json_object_get(json_object_get(cl, "org"), "ids"), 0)),
        7);
    memset(big, 'z', 20000);
    big[20000] = '\0';
    json_object_set_new(cl, "big", json_string(big));
    assert_int_equal(oauth2_policy_eval(&f->ctx, pol, &req, &res),
                     OAUTH2_ERROR);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "policy error: request view too large");
    assert_non_null(strstr(f->ctx.err.text, "claim too large"));
    assert_true(th_logged(f, "OA00512"));
    json_decref(cl);
}

/* ---- sandbox escapes ----------------------------------------------------- */

static void sandbox_escapes(void **state)
{
    static const struct {
        const char *body, *text;
    } v[] = {
        {"return io.open('/etc/passwd') ~= nil", "global 'io'"},
        {"return os.execute('id')", "field 'execute'"},
        {"return os.getenv('HOME') ~= nil", "field 'getenv'"},
        {"return os.exit(1)", "field 'exit'"},
        {"return debug.getinfo(1) ~= nil", "global 'debug'"},
        {"return load(string.dump(function() end))", "field 'dump'"},
        {"return load('return true')()", "global 'load'"},
        {"return dofile('/etc/passwd')", "global 'dofile'"},
        {"return loadfile('/etc/passwd')", "global 'loadfile'"},
        {"return package.loadlib('libc.so.6', 'system')", "global 'package'"},
        {"return collectgarbage('count') > 0", "global 'collectgarbage'"},
        {"return _G.io ~= nil", "global '_G'"},
        {"print('x') return true", "global 'print'"},
        {"local m = require 'io' return m", "module 'io' not allowed"},
        {"local m = require 'os' return m", "module 'os' not allowed"},
        {"local m = require 'oauth2/../../etc/passwd' return m", "not allowed"},
        {"local m = require 'oauth2..policy' return m", "not allowed"},
        {"local m = require 'oauth2.Policy' return m", "not allowed"},
        {"local m = require 'oauth2.nonexistent' return m", "cannot open"},
        {"return setmetatable({}, {__gc = function() while true do end "
         "end}) and true",
         "__gc metamethods are not allowed"},
        {"return rawset({}, 1, 2) and true", "global 'rawset'"},
        {"local x <close> = setmetatable({}, {__close = function() end}) "
         "return true",
         "__close metamethods are not allowed"},
        {"local mt = {} local t = setmetatable({}, mt) "
         "mt.__close = function() end local x <close> = t return true",
         "non-closable value"},
        {"getmetatable('').__close = function() end "
         "local s <close> = 'x' return true",
         "non-closable value"},
        {"local t = setmetatable({}, {}) setmetatable(t, {}) return true",
         "protected metatable"},
        {"return getmetatable('').__index.dump ~= nil or error('no dump')",
         "no dump"},
    };
    th_fixture_t *f = *state;
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *src = apr_psprintf(
            f->pool, "return function(req)\n  %s\nend\n", v[i].body);
        expect_fail(f, src, NULL, SCRIPT_ERR, v[i].text, "OA00513");
        /* the message names the script's file and line */
        if (strstr(f->ctx.err.text, ".lua:2:") == NULL)
            fail_msg("%s: no file:line in '%s'", v[i].body, f->ctx.err.text);
    }
}

static void string_metatable_stays_bounded(void **state)
{
    th_fixture_t *f = *state;

    /* reaching string.rep through the string metatable is fine, but it is
     * the same costed function */
    expect_fail(f,
                "return function() local s = getmetatable('').__index.rep("
                "'x', 1e9) return true end",
                NULL, BUDGET, "instruction budget exhausted", "OA00510");
    expect_fail(f, "return function() return ('').rep('', 1e15) end", NULL,
                BUDGET, "instruction budget exhausted", "OA00510");
}

/* ---- budgets and caps ---------------------------------------------------- */

static void infinite_loops_are_stopped(void **state)
{
    static const char *const loops[] = {
        "while true do end",
        "pcall(function() while true do end end) return true",
        "for i = 1, 10 do pcall(function() while true do end end) end "
        "return true",
        "xpcall(function() while true do end end, function() while true do "
        "end end) return true",
        "local co = coroutine.create(function() while true do end end) "
        "coroutine.resume(co) return true",
        "pcall(coroutine.wrap(function() while true do end end)) return true",
        "local co = coroutine.wrap(function() pcall(function() while true do "
        "end end) end) pcall(co) return true",
        "local function f() return f() end return f()",
    };
    th_fixture_t *f = *state;
    size_t i;

    for (i = 0; i < sizeof(loops) / sizeof(loops[0]); i++) {
        const char *src = apr_psprintf(
            f->pool, "return function(req)\n  %s\nend\n", loops[i]);
        f->loglen = 0;
        f->logbuf[0] = '\0';
        expect_fail(f, src, NULL, BUDGET, "instruction budget exhausted",
                    "OA00510");
    }
}

static void memory_bombs_hit_the_cap(void **state)
{
    static const char *const bombs[] = {
        "local t = {} for i = 1, 1e9 do t[i] = i end",
        "local s = 'x' while true do s = s .. s end",
        "local s = string.rep('x', 2^30)",
        "local t = {} for i = 1, 1e9 do t[#t + 1] = {} end",
        "local ok = pcall(string.rep, 'x', 2^30) return true",
        "pcall(string.rep, 'x', 2^30) while true do end",
        "for i = 1, 100 do pcall(string.rep, 'x', 2^30) end return true",
    };
    th_fixture_t *f = *state;
    oauth2_policy_limits_t lim;
    size_t i;

    oauth2_policy_limits_default(&lim);
    lim.instructions = 1000000000LL; /* the memory cap must trip first */
    lim.memory = 1024 * 1024;
    for (i = 0; i < sizeof(bombs) / sizeof(bombs[0]); i++) {
        const char *src = apr_psprintf(
            f->pool, "return function(req)\n  %s\nend\n", bombs[i]);
        expect_fail(f, src, &lim, MEMORY, "", "OA00511");
    }
    /* allocation is charged against the budget: with room in memory, the
     * instructions run out */
    lim.instructions = OAUTH2_POLICY_DEFAULT_INSTRUCTIONS;
    lim.memory = 256 * 1024 * 1024;
    expect_fail(f,
                "return function() local s = string.rep('x', 2^20)\n"
                "  for i = 1, 1e6 do local t = s .. i end end",
                &lim, BUDGET, "instruction budget exhausted", "OA00510");
}

static void pathological_patterns_are_refused(void **state)
{
    static const char *const pats[] = {
        "s:find('.-.-.-.-.-.-b')",
        "s:match('(.*)(.*)(.*)(.*)b')",
        "for x in s:gmatch('.-.-.-.-b') do end",
        "s:gsub('(a*)*b', 'x')",
        "string.find(s, '%b()%b()%b()x')",
    };
    th_fixture_t *f = *state;
    oauth2_policy_limits_t lim;
    size_t i;

    oauth2_policy_limits_default(&lim);
    lim.instructions = 1000000000LL; /* even a huge budget refuses them */
    for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        const char *src = apr_psprintf(
            f->pool,
            "return function(req)\n  local s = string.rep('a', 100000)\n"
            "  %s\n  return true\nend\n",
            pats[i]);
        expect_fail(f, src, &lim, BUDGET, ".lua:3: instruction budget",
                    "OA00510");
    }
}

static void reasonable_patterns_still_work(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol =
        load(f, "return function(req)\n"
                "  local a, b = req.path:match('^/api/(%w+)/(%d+)$')\n"
                "  local big = string.rep('a', 20000) .. 'b'\n"
                "  return a == 'photos' and b == '42' and\n"
                "    big:find('b', 1, true) == 20001 and\n"
                "    big:find('[b]') == 20001, 'ok'\n"
                "end\n");

    assert_int_equal(eval(f, pol, "GET", "/api/photos/42", NULL, NULL, &res),
                     OAUTH2_OK);
    assert_int_equal(res.allow, 1);
}

static void runtime_error_and_wrong_types(void **state)
{
    static const struct {
        const char *body, *reason, *text, *logno;
    } v[] = {
        {"return req.nope.x", SCRIPT_ERR, "field 'nope'", "OA00513"},
        {"error('custom failure')", SCRIPT_ERR, ".lua:2: custom failure",
         "OA00513"},
        {"error({})", SCRIPT_ERR, "error object is a table", "OA00513"},
        {"local t = setmetatable({}, {__index = function(t, k) return t[k] "
         "end}) return t.x",
         SCRIPT_ERR, ".lua:2: C stack overflow", "OA00513"},
        {"return 42", WRONG, "returned number", "OA00514"},
        {"return 'allow'", WRONG, "returned string", "OA00514"},
        {"return nil", WRONG, "returned nil", "OA00514"},
        {"return", WRONG, "returned nothing", "OA00514"},
        {"return {verdict = 'maybe'}", WRONG, "no verdict", "OA00514"},
        {"return {verdict = 'allow', reason = 5}", WRONG, "must be strings",
         "OA00514"},
        {"return true, 5", WRONG, "reason must be a string", "OA00514"},
        {"return false, 'x', 'photos.read'", WRONG, "list of strings",
         "OA00514"},
        {"return false, 'x', {'a\" b'}", WRONG, "not a valid scope token",
         "OA00514"},
        {"return setmetatable({}, {__index = function() return 'allow' "
         "end})",
         WRONG, "no verdict", "OA00514"},
    };
    th_fixture_t *f = *state;
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *src = apr_psprintf(
            f->pool, "return function(req)\n  %s\nend\n", v[i].body);
        expect_fail(f, src, NULL, v[i].reason, v[i].text, v[i].logno);
    }
}

/* ---- load-time errors (configtest) --------------------------------------- */

static void unusable_scripts_are_refused_at_load(void **state)
{
    static const struct {
        const char *src, *text;
    } v[] = {
        {"return 42", "script returned number; expected policy.routes"},
        {"local x = 1", "script returned nil"},
        {"return {1, 2}", "script returned table"},
        {"while true do end", "instruction budget exhausted (while loading)"},
        {"error('boom')", ".lua:1: boom"},
        {"return require('oauth2.policy').routes{ default = 'maybe' }",
         ".lua: default must be"},
        {"return require('oauth2.policy').routes{ {'GET', 'x'} }",
         "route 1 (GET x): path glob must be a string starting with /"},
        {"return require('oauth2.policy').routes{ {'GET', '/a*'} }",
         "'*' must be a whole segment"},
        {"return require('oauth2.policy').routes{ {'GE T', '/a'} }",
         "route 1 (GE T /a): method must be"},
        {"return require('oauth2.policy').routes{ {'GET', '/a', scopes = "
         "'x'} }",
         "scopes must be a non-empty list"},
        {"return require('oauth2.policy').routes{ {'GET', '/a'}, dflt = "
         "'deny' }",
         "unknown key 'dflt'"},
    };
    th_fixture_t *f = *state;
    oauth2_policy_t *pol = NULL;
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        oauth2_status_t st =
            oauth2_policy_load(&f->ctx, f->pool, write_src(f, v[i].src),
                               lib_dir(f->pool), NULL, &pol);
        if (st != OAUTH2_DENIED || strstr(f->ctx.err.text, v[i].text) == NULL)
            fail_msg("%s: status %d err '%s'", v[i].src, st, f->ctx.err.text);
    }
    assert_true(th_logged(f, "OA00501"));
}

static void fixture_errors_name_file_and_line(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_t *pol = NULL;

    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                        fixture(f->pool, "syntax.lua"),
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "syntax.lua:3:"));
    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                        fixture(f->pool, "badroute.lua"),
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_DENIED);
    assert_non_null(
        strstr(f->ctx.err.text,
               "badroute.lua: route 1 (GET /api/photos/*): unknown key "
               "'scope'"));
    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                        fixture(f->pool, "bytecode.lua"),
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "binary chunk"));
    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                        fixture(f->pool, "missing.lua"),
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_ERROR);
    assert_non_null(strstr(f->ctx.err.text, "cannot read"));
}

static void limits_parse(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_limits_t lim;

    oauth2_policy_limits_default(&lim);
    assert_int_equal(
        oauth2_policy_limits_parse(
            &f->ctx, "instructions=50000 memory=2M reload=0", &lim),
        OAUTH2_OK);
    assert_int_equal(lim.instructions, 50000);
    assert_int_equal(lim.memory, 2 * 1024 * 1024);
    assert_int_equal(lim.reload_interval, 0);
    assert_int_equal(oauth2_policy_limits_parse(&f->ctx, "memory=4X", &lim),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "bad policy limit 'memory=4X'"));
    assert_int_equal(
        oauth2_policy_limits_parse(&f->ctx, "instructions=5", &lim),
        OAUTH2_DENIED);
    assert_int_equal(oauth2_policy_limits_parse(&f->ctx, "cpu=1", &lim),
                     OAUTH2_DENIED);
    assert_int_equal(
        oauth2_policy_limits_parse(&f->ctx, "memory=99999999999G", &lim),
        OAUTH2_DENIED);
    assert_int_equal(lim.memo, OAUTH2_POLICY_DEFAULT_MEMO);
    assert_int_equal(oauth2_policy_limits_parse(&f->ctx, "memo=0", &lim),
                     OAUTH2_OK);
    assert_int_equal(lim.memo, 0);
    assert_int_equal(oauth2_policy_limits_parse(&f->ctx, "memo=64K", &lim),
                     OAUTH2_OK);
    assert_int_equal(lim.memo, 65536);
    assert_int_equal(oauth2_policy_limits_parse(&f->ctx, "memo=65537", &lim),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_policy_limits_parse(&f->ctx, "memo=-1", &lim),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_policy_limits_parse(&f->ctx, "memo", &lim),
                     OAUTH2_DENIED);
}

/* ---- decision memo ------------------------------------------------------- */

#define ROUTES                                                                 \
    "local policy = require 'oauth2.policy'\n"                                 \
    "return policy.routes{\n"                                                  \
    "  {'GET', '/p/*', scopes={'r'}},\n"                                       \
    "  {'PUT', '/p/*', scopes={'r', 'w'}},\n"                                  \
    "  {'GET', '/admin/**', claims={groups='admin'}},\n"                       \
    "}\n"

static void memo_replays_pure_decisions(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol = load(f, ROUTES);

    assert_int_equal(eval(f, pol, "GET", "/p/1", "r", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_int_equal(res.memo, 0);
    assert_int_equal(eval(f, pol, "GET", "/p/1", "r", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_int_equal(res.memo, 1);
    assert_string_equal(res.reason, "route #1 GET /p/*");
    assert_string_equal(res.rule, "#1 GET /p/*");
    assert_string_equal(res.version, oauth2_policy_version(pol));
    /* a denial is replayed with its wanted scopes */
    assert_int_equal(eval(f, pol, "PUT", "/p/1", "r", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(eval(f, pol, "PUT", "/p/1", "r", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 1);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "needs scope w");
    assert_int_equal(res.nwanted, 2);
    assert_string_equal(res.wanted[0], "r");
    assert_string_equal(res.wanted[1], "w");
    assert_int_equal(oauth2_policy_memo_hits(pol), 2);
    /* the decision JSON says so */
    assert_non_null(strstr(oauth2_policy_decision_json(f->pool, pol, &(
                                oauth2_policy_request_t){.method = "PUT"},
                                &res, OAUTH2_OK),
                            "\"memo\":true"));
}

/* Keyed on exactly the fields the decision read: a field it did not read
 * may differ, one it read may not. */
static void memo_keys_on_fields_read(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol = load(f, ROUTES);

    assert_int_equal(eval(f, pol, "GET", "/p/1", "r", "{\"a\":1}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    /* claims not read by this route: other claims, same decision */
    assert_int_equal(eval(f, pol, "GET", "/p/1", "r", "{\"a\":2}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.memo, 1);
    assert_int_equal(res.allow, 1);
    /* each field it read changes the key */
    assert_int_equal(eval(f, pol, "GET", "/p/1", "", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(res.allow, 0);
    assert_int_equal(eval(f, pol, "GET", "/p/1", "r x", NULL, &res),
                     OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(res.allow, 1);
    assert_int_equal(eval(f, pol, "GET", "/p/2", "r", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(eval(f, pol, "HEAD", "/p/1", "r", NULL, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(res.allow, 0);
    /* a route that reads claims: the claims are part of the key */
    assert_int_equal(eval(f, pol, "GET", "/admin/x", "",
                          "{\"groups\":[\"admin\"]}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_int_equal(eval(f, pol, "GET", "/admin/x", "",
                          "{\"groups\":[\"staff\"]}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(res.allow, 0);
    assert_int_equal(eval(f, pol, "GET", "/admin/x", "",
                          "{\"groups\":[\"admin\"]}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.memo, 1);
    assert_int_equal(res.allow, 1);
    assert_int_equal(eval(f, pol, "GET", "/admin/x", "",
                          "{\"groups\":[\"admin\"],\"x\":1}", &res),
                     OAUTH2_OK);
    assert_int_equal(res.memo, 0);
}

/* An absent field and an empty one are different keys. */
static void memo_absent_is_not_empty(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_request_t req;
    oauth2_policy_t *pol =
        load(f, "return require('oauth2.policy').pure(function(req)\n"
                "  return req.host == nil, tostring(req.host) end)\n");

    memset(&req, 0, sizeof(req));
    assert_int_equal(oauth2_policy_eval(&f->ctx, pol, &req, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_int_equal(oauth2_policy_eval(&f->ctx, pol, &req, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 1);
    req.host = "";
    assert_int_equal(oauth2_policy_eval(&f->ctx, pol, &req, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(res.allow, 0);
    assert_int_equal(oauth2_policy_eval(&f->ctx, pol, &req, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 1);
    assert_int_equal(res.allow, 0);
    req.host = NULL;
    assert_int_equal(oauth2_policy_eval(&f->ctx, pol, &req, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 1);
    assert_int_equal(res.allow, 1);
}

static void memo_only_for_pure_runs(void **state)
{
    static const char *const never[] = {
        /* not declared pure: may keep state (states_are_reused) */
        "return function(req) return req.path == '/' end\n",
        /* declared pure, but reads the clock or randomness at run time */
        "return require('oauth2.policy').pure(function(req)\n"
        "  return os.time() > 0 and req.path == '/' end)\n",
        "return require('oauth2.policy').pure(function(req)\n"
        "  return os.clock() >= 0 and req.path == '/' end)\n",
        "return require('oauth2.policy').pure(function(req)\n"
        "  return math.random(1, 2) > 0 and req.path == '/' end)\n",
    };
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_limits_t lim;
    oauth2_policy_t *pol;
    size_t i;
    int k;

    for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        pol = load(f, never[i]);
        for (k = 0; k < 3; k++) {
            assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res),
                             OAUTH2_OK);
            assert_int_equal(res.allow, 1);
            assert_int_equal(res.memo, 0);
        }
        assert_int_equal(oauth2_policy_memo_hits(pol), 0);
    }
    /* an explicit pure function is memoized like routes */
    pol = load(f, "return require('oauth2.policy').pure(function(req)\n"
                  "  return req.path == '/' end)\n");
    eval(f, pol, "GET", "/", NULL, NULL, &res);
    eval(f, pol, "GET", "/", NULL, NULL, &res);
    assert_int_equal(res.memo, 1);
    /* memo=0 turns it off */
    oauth2_policy_limits_default(&lim);
    lim.memo = 0;
    pol = load_lim(f, ROUTES, &lim);
    for (k = 0; k < 3; k++)
        assert_int_equal(eval(f, pol, "GET", "/p/1", "r", NULL, &res),
                         OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(oauth2_policy_memo_hits(pol), 0);
    /* a failed run is never kept: the error (and its log line) repeats */
    pol = load(f, "return require('oauth2.policy').pure(function(req)\n"
                  "  if req.path == '/err' then error('boom') end\n"
                  "  return true end)\n");
    for (k = 0; k < 2; k++) {
        f->loglen = 0;
        f->logbuf[0] = '\0';
        assert_int_equal(eval(f, pol, "GET", "/err", NULL, NULL, &res),
                         OAUTH2_ERROR);
        assert_int_equal(res.allow, 0);
        assert_true(th_logged(f, "OA00513"));
    }
}

/* Each version has its own memo: a reload never replays the old answer. */
static void memo_follows_reload(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol = NULL;
    const char *allow = "return require('oauth2.policy').routes{default="
                        "'allow'}\n";
    const char *deny = "return require('oauth2.policy').routes{default="
                       "'deny'} -- v2\n";
    const char *path = write_named(f, "memo_reload.lua", allow);

    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool, path,
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_OK);
    eval(f, pol, "GET", "/", NULL, NULL, &res);
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 1);
    assert_int_equal(res.allow, 1);
    write_named(f, "memo_reload.lua", deny);
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_OK);
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_int_equal(res.memo, 0);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.version, oauth2_policy_version(pol));
}

/* The view is read lazily: pairs() still sees every field, the metatable is
 * sealed, a kept `req` is dead after its call, a too-large field fails the
 * decision even when the script catches the error. */
static void lazy_view_semantics(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol;
    char *big = apr_palloc(f->pool, 20001);

    pol = load(f, "return function(req)\n"
                  "  local n = {}\n"
                  "  for k in pairs(req) do n[#n + 1] = k end\n"
                  "  table.sort(n)\n"
                  "  return true, table.concat(n, ',')\n"
                  "end\n");
    assert_int_equal(eval(f, pol, "GET", "/", "a", "{\"x\":1}", &res),
                     OAUTH2_OK);
    assert_string_equal(res.reason, "claims,headers,method,path,principal,"
                                    "scopes");
    pol = load(f, "return function(req)\n"
                  "  assert(getmetatable(req) == false)\n"
                  "  assert(not pcall(setmetatable, req, {}))\n"
                  "  req.path = 'mine'\n"
                  "  return req.path == 'mine' and req.method == 'GET'\n"
                  "end\n");
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    pol = load(f, "local kept\n"
                  "return function(req)\n"
                  "  if kept then return kept.path == '/' end\n"
                  "  kept = req\n"
                  "  return true\n"
                  "end\n");
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_ERROR);
    assert_int_equal(res.allow, 0);
    assert_non_null(
        strstr(f->ctx.err.text, "request view used outside its authorize"));
    memset(big, 'z', 20000);
    big[20000] = '\0';
    pol = load(f, "return function(req)\n"
                  "  pcall(function() return req.claims end)\n"
                  "  return true\n"
                  "end\n");
    assert_int_equal(eval(f, pol, "GET", "/", NULL,
                          apr_psprintf(f->pool, "{\"big\":\"%s\"}", big), &res),
                     OAUTH2_ERROR);
    assert_int_equal(res.allow, 0);
    assert_string_equal(res.reason, "policy error: request view too large");
    assert_true(th_logged(f, "OA00512"));
}

/* ---- states -------------------------------------------------------------- */

static void states_are_reused(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol =
        load(f, "local n = 0\n"
                "return function(req)\n"
                "  if req.path == '/err' then error('asked to fail') end\n"
                "  n = n + 1\n"
                "  return true, 'call ' .. n\n"
                "end\n");
    int i;

    assert_int_equal(oauth2_policy_states_created(pol), 1);
    for (i = 1; i <= 50; i++) {
        assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
        assert_int_equal(res.allow, 1);
    }
    /* one state, compiled once, served all 50 */
    assert_string_equal(res.reason, "call 50");
    assert_int_equal(oauth2_policy_states_created(pol), 1);
    /* a state that failed is closed, not reused */
    assert_int_equal(eval(f, pol, "GET", "/err", NULL, NULL, &res),
                     OAUTH2_ERROR);
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_string_equal(res.reason, "call 1");
    assert_int_equal(oauth2_policy_states_created(pol), 2);
}

/* Measured, not asserted: printed for the report. */
static void eval_cost_measured(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol = NULL;
    apr_time_t t0;
    int i, n = 20000;

    oauth2_policy_limits_t lim;
    int memo;

    f->log.level = OAUTH2_LOG_INFO; /* no debug line per decision */
    for (memo = 0; memo <= 1; memo++) {
        oauth2_policy_limits_default(&lim);
        lim.memo = memo ? OAUTH2_POLICY_DEFAULT_MEMO : 0;
        assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                            fixture(f->pool, "routes.lua"),
                                            lib_dir(f->pool), &lim, &pol),
                         OAUTH2_OK);
        t0 = apr_time_now();
        for (i = 0; i < n; i++) {
            eval(f, pol, "GET", "/api/photos/42", "photos.read profile", NULL,
                 &res);
        }
        print_message("policy eval: %.2f us per decision (%d runs, "
                      "routes.lua, %s)\n",
                      (double)(apr_time_now() - t0) / n, n,
                      memo ? "memo on: Lua runs once" : "memo=0: Lua each time");
        assert_int_equal(res.allow, 1);
        assert_int_equal(oauth2_policy_memo_hits(pol), memo ? n - 1 : 0);
    }
}

/* ---- reload -------------------------------------------------------------- */

#define V1 "return function() return true, 'v1' end\n"
#define V2 "return function() return false, 'v2 denies' end\n"

static void reload_activates_only_good_versions(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_result_t res;
    oauth2_policy_t *pol = NULL;
    const char *path = write_named(f, "reload.lua", V1);
    char v1[13], v2[13];

    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool, path,
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_OK);
    strcpy(v1, oauth2_policy_version(pol));
    write_named(f, "reload.lua", V2);
    /* not due yet: the file is only looked at every 5 s of ctx->now */
    f->ctx.now += apr_time_from_sec(1);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_OK);
    assert_string_equal(oauth2_policy_version(pol), v1);
    f->ctx.now += apr_time_from_sec(5);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_OK);
    assert_true(th_logged(f, "OA00505"));
    strcpy(v2, oauth2_policy_version(pol));
    assert_string_not_equal(v1, v2);
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_string_equal(res.reason, "v2 denies");
    assert_string_equal(res.version, v2);

    /* a broken version is refused; v2 stays in force */
    write_named(f, "reload.lua", "return function( -- broken\n");
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_DENIED);
    assert_true(th_logged(f, "OA00504"));
    assert_non_null(strstr(f->ctx.err.text, "reload.lua:2:"));
    assert_string_equal(oauth2_policy_version(pol), v2);
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_string_equal(res.reason, "v2 denies");
    /* ... and not retried until the file changes again */
    f->loglen = 0;
    f->logbuf[0] = '\0';
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_OK);
    assert_false(th_logged(f, "OA00504"));

    /* a version whose own _test.lua fails is refused too */
    write_named(f, "reload_test.lua",
                "return { { name = 'must allow', method = 'GET', path = '/', "
                "expect = 'allow' } }\n");
    write_named(f, "reload.lua", V2 "-- v3\n");
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "reload_test.lua: 1 of 1 cases "
                                            "failed"));
    assert_true(th_logged(f, "OA00522: FAIL"));
    assert_string_equal(oauth2_policy_version(pol), v2);

    /* a version that passes its tests is activated */
    write_named(f, "reload.lua", V1 "-- v4\n");
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_OK);
    assert_int_equal(eval(f, pol, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_int_equal(res.allow, 1);
    assert_string_equal(res.reason, "v1");
}

static void run_tests_counts_cases(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_t *pol = NULL;
    int passed = -1, failed = -1;

    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool,
                                        fixture(f->pool, "routes.lua"),
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_OK);
    assert_int_equal(oauth2_policy_run_tests(
                         &f->ctx, pol, fixture(f->pool, "routes_cases.lua"),
                         &passed, &failed),
                     OAUTH2_OK);
    assert_int_equal(passed, 2);
    assert_int_equal(failed, 1);
    assert_true(th_logged(f, "OA00522: FAIL"));
    assert_true(th_logged(f, "deliberately wrong: expected allow, got deny"));
    /* an unusable test file */
    assert_int_equal(oauth2_policy_run_tests(&f->ctx, pol,
                                             write_src(f, "return 5"), &passed,
                                             &failed),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "must return a list of test"));
    assert_true(th_logged(f, "OA00520"));
    assert_string_equal(oauth2_policy_test_path(f->pool, "/a/b.lua"),
                        "/a/b_test.lua");
}

/* ---- threads ------------------------------------------------------------- */

typedef struct worker_t {
    oauth2_policy_t *pol;
    int allowed;
} worker_t;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *data)
{
    worker_t *w = data;
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_policy_request_t req;
    oauth2_policy_result_t res;
    const char *sc[] = {"photos.read"};
    int i;

    apr_pool_create(&p, NULL);
    oauth2_ctx_init(&ctx, p, NULL, 0);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/api/photos/1";
    req.scopes = sc;
    req.nscopes = 1;
    for (i = 0; i < 300; i++) {
        if (oauth2_policy_eval(&ctx, w->pol, &req, &res) == OAUTH2_OK &&
            res.allow)
            w->allowed++;
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Two processes sharing one version slot (as Apache children share
 * anonymous memory): after v1 -> v2 -> a broken file, the one still on v1
 * refuses every request; the one on v2 keeps v2; a good file brings both
 * back. */
static void behind_a_shared_version_refuses(void **state)
{
    th_fixture_t *f = *state;
    oauth2_policy_shared_t slot;
    oauth2_policy_result_t res;
    oauth2_policy_t *a = NULL, *b = NULL;
    const char *path = write_named(f, "shared.lua", V1);

    memset(&slot, 0, sizeof(slot));
    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool, path,
                                        lib_dir(f->pool), NULL, &a),
                     OAUTH2_OK);
    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool, path,
                                        lib_dir(f->pool), NULL, &b),
                     OAUTH2_OK);
    oauth2_policy_share(a, &slot);
    oauth2_policy_share(b, &slot);
    write_named(f, "shared.lua", V2);
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, a), OAUTH2_OK);
    /* b saw no request while v2 was on disk */
    write_named(f, "shared.lua", "return function( -- broken\n");
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, b), OAUTH2_DENIED);
    assert_true(th_logged(f, "OA00506"));
    assert_int_equal(eval(f, b, "GET", "/", NULL, NULL, &res), OAUTH2_ERROR);
    assert_non_null(strstr(f->ctx.err.text, "older than the one"));
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, a), OAUTH2_DENIED);
    assert_int_equal(eval(f, a, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_string_equal(res.reason, "v2 denies");
    /* fixed: both load it, b answers again */
    write_named(f, "shared.lua", V1 "-- v4\n");
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, b), OAUTH2_OK);
    assert_int_equal(eval(f, b, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
    assert_true(res.allow);
    /* without a slot a process keeps what it has (the old behaviour) */
    oauth2_policy_share(a, NULL);
    write_named(f, "shared.lua", "return function( -- broken again\n");
    f->ctx.now += apr_time_from_sec(6);
    assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, a), OAUTH2_DENIED);
    assert_int_equal(eval(f, a, "GET", "/", NULL, NULL, &res), OAUTH2_OK);
}

static void concurrent_evals_and_reload(void **state)
{
    th_fixture_t *f = *state;
    const char *src = "return require('oauth2.policy').routes{"
                      "{'GET','/api/photos/*', scopes={'photos.read'}}}\n";
    const char *path = write_named(f, "conc.lua", src);
    oauth2_policy_t *pol = NULL;
    apr_thread_t *th[4];
    worker_t w[4];
    apr_status_t rv;
    int i;

    assert_int_equal(oauth2_policy_load(&f->ctx, f->pool, path,
                                        lib_dir(f->pool), NULL, &pol),
                     OAUTH2_OK);
    for (i = 0; i < 4; i++) {
        w[i].pol = pol;
        w[i].allowed = 0;
        assert_int_equal(
            apr_thread_create(&th[i], NULL, worker, &w[i], f->pool),
            APR_SUCCESS);
    }
    /* reload twice while they run: old states retire safely */
    for (i = 0; i < 2; i++) {
        write_named(
            f, "conc.lua",
            apr_psprintf(f->pool, "%s-- %d%s\n", src, i, i ? "xxxxxxxx" : ""));
        f->ctx.now += apr_time_from_sec(6);
        assert_int_equal(oauth2_policy_maybe_reload(&f->ctx, pol), OAUTH2_OK);
    }
    for (i = 0; i < 4; i++) {
        apr_thread_join(&rv, th[i]);
        assert_int_equal(w[i].allowed, 300);
    }
    assert_true(oauth2_policy_states_created(pol) <= 3 * 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, th_setup, th_teardown)
        T(routes_allow_deny_wanted),
        T(glob_edge_cases),
        T(default_deny_and_explicit_allow),
        T(function_script_results),
        T(request_view_is_a_bounded_copy),
        T(sandbox_escapes),
        T(string_metatable_stays_bounded),
        T(infinite_loops_are_stopped),
        T(memory_bombs_hit_the_cap),
        T(pathological_patterns_are_refused),
        T(reasonable_patterns_still_work),
        T(runtime_error_and_wrong_types),
        T(unusable_scripts_are_refused_at_load),
        T(fixture_errors_name_file_and_line),
        T(limits_parse),
        T(memo_replays_pure_decisions),
        T(memo_keys_on_fields_read),
        T(memo_absent_is_not_empty),
        T(memo_only_for_pure_runs),
        T(memo_follows_reload),
        T(lazy_view_semantics),
        T(states_are_reused),
        T(eval_cost_measured),
        T(reload_activates_only_good_versions),
        T(behind_a_shared_version_refuses),
        T(run_tests_counts_cases),
        T(concurrent_evals_and_reload),
#undef T
    };
    int rc;

    strcpy(tmpdir, "/tmp/oauth2-policy-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(tmpdir);
    return rc;
}
