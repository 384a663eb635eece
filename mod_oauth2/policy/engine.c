/*
 * engine.c - policy versions and their interpreter states: load a script
 * (compile, shape check, self test), hand out a compiled state per
 * evaluation from a mutex-protected free list, turn every failure into a
 * logged deny, and hot-reload a changed file only when the new version is
 * usable. Versions ("generations") are retired safely: a state goes back to
 * its own version's free list, or is closed when that version is retired.
 *
 * Owns versions, states and timing; never builds Lua values (bind.c) nor
 * configures the interpreter (sandbox.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "oauth2/log.h"
#include "oauth2/util.h"
#include "memo_int.h"
#include "policy_int.h"

#define SCRIPT_MAX (1024 * 1024)

typedef struct gen_t gen_t;

typedef struct vstate_t {
    lua_State *L;
    gen_t *gen;
    int pure; /* its authorize function was declared pure */
    struct vstate_t *next;
} vstate_t;

/* One compiled version of the script. Guarded by the policy's mutex. */
struct gen_t {
    char *src;
    size_t len;
    char sha[13];
    apr_time_t mtime;
    apr_off_t size;
    vstate_t *idle;
    int nidle;
    int busy;    /* states checked out */
    int retired; /* no longer current: free when busy and idle are 0 */
    int pure;    /* authorize declared pure: decisions may be memoized */
    oauth2_memo_t *memo; /* NULL unless pure and limits.memo > 0 */
};

struct oauth2_policy_t {
    apr_pool_t *pool;
    apr_thread_mutex_t *mutex;
    const char *path;
    const char *chunkname; /* "@path": Lua messages read "path:line:" */
    const char *lib_path;
    oauth2_policy_limits_t lim;
    gen_t *cur;
    char sha[13]; /* the current version, readable without the lock */
    apr_time_t next_check;
    apr_time_t bad_mtime; /* a refused version is not retried until changed */
    apr_off_t bad_size;
    unsigned long created;
    unsigned long memo_hits;
    /* fields any memoized decision read: read without the lock to build
     * key parts before taking it (a stale value only costs a miss) */
    volatile apr_uint32_t memo_union;
    oauth2_policy_shared_t *shared; /* NULL: reloads purely per process */
    volatile apr_uint32_t behind;   /* refused while older than shared */
};

void oauth2_policy_limits_default(oauth2_policy_limits_t *lim)
{
    lim->instructions = OAUTH2_POLICY_DEFAULT_INSTRUCTIONS;
    lim->memory = OAUTH2_POLICY_DEFAULT_MEMORY;
    lim->max_idle_states = OAUTH2_POLICY_DEFAULT_STATES;
    lim->reload_interval = OAUTH2_POLICY_DEFAULT_RELOAD_SEC;
    lim->self_test = 1;
    lim->memo = OAUTH2_POLICY_DEFAULT_MEMO;
}

/* Decimal with an optional K/M/G suffix (x1024) within [min, max]. */
static int parse_size(const char *s, long long min, long long max,
                      long long *out)
{
    char *end = NULL;
    long long v, mult = 1;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == 'K' || *end == 'k')
        mult = 1024LL, end++;
    else if (*end == 'M' || *end == 'm')
        mult = 1024LL * 1024, end++;
    else if (*end == 'G' || *end == 'g')
        mult = 1024LL * 1024 * 1024, end++;
    if (*end != '\0' || v > max / mult || v * mult < min)
        return -1;
    *out = v * mult;
    return 0;
}

oauth2_status_t oauth2_policy_limits_parse(oauth2_ctx_t *ctx, const char *spec,
                                           oauth2_policy_limits_t *lim)
{
    char *copy = apr_pstrdup(ctx->pool, spec ? spec : ""), *last = NULL, *w;
    long long v;

    for (w = apr_strtok(copy, " \t", &last); w != NULL;
         w = apr_strtok(NULL, " \t", &last)) {
        char *eq = strchr(w, '=');
        const char *val = eq ? eq + 1 : NULL;
        if (eq != NULL)
            *eq = '\0';
        if (!strcmp(w, "instructions") &&
            !parse_size(val, 1000, 1000000000LL, &v))
            lim->instructions = v;
        else if (!strcmp(w, "memory") &&
                 !parse_size(val, 256 * 1024, 1024LL * 1024 * 1024, &v))
            lim->memory = (size_t)v;
        else if (!strcmp(w, "states") && !parse_size(val, 1, 1024, &v))
            lim->max_idle_states = (int)v;
        else if (!strcmp(w, "reload") && !parse_size(val, 0, 86400, &v))
            lim->reload_interval = (int)v;
        else if (!strcmp(w, "memo") && !parse_size(val, 0, 65536, &v))
            lim->memo = (unsigned)v;
        else {
            oauth2_err_set(ctx,
                           "bad policy limit '%s%s%s' (instructions=1000.."
                           "1e9, memory=256K..1G, states=1..1024, "
                           "reload=0..86400, memo=0..65536)",
                           w, val ? "=" : "", val ? val : "");
            return OAUTH2_DENIED;
        }
    }
    return OAUTH2_OK;
}

/* ---- versions and states ------------------------------------------------- */

static void gen_free(gen_t *g)
{
    while (g->idle != NULL) {
        vstate_t *vs = g->idle;
        g->idle = vs->next;
        oauth2_sbx_close(vs->L);
        free(vs);
    }
    oauth2_memo_free(g->memo);
    free(g->src);
    free(g);
}

typedef struct compile_t {
    const oauth2_policy_t *pol;
    const gen_t *gen;
    int pure;
} compile_t;

/* Protected: compile the source, run its top level within the budget, and
 * keep the authorize function (a routes table from the helper is already a
 * function) in the registry. */
static int compile_cfn(lua_State *L)
{
    compile_t *c = lua_touserdata(L, 1);

    lua_settop(L, 0);
    if (oauth2_sbx_load(L, c->gen->src, c->gen->len, c->pol->chunkname) !=
        LUA_OK)
        return lua_error(L);
    oauth2_sbx_arm(L, c->pol->lim.instructions);
    lua_call(L, 0, 1);
    oauth2_sbx_disarm(L);
    if (lua_type(L, -1) != LUA_TFUNCTION)
        return luaL_error(L,
                          "%s: script returned %s; expected policy.routes{...} "
                          "or a function authorize(req)",
                          c->pol->path, luaL_typename(L, -1));
    c->pure = oauth2_sbx_marked_pure(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, OAUTH2_SBX_AUTHORIZE);
    return 0;
}

static lua_State *compile_state(oauth2_ctx_t *ctx, oauth2_policy_t *pol,
                                const gen_t *gen, int *pure)
{
    compile_t c = {pol, gen, 0};
    lua_State *L = oauth2_sbx_open(ctx, pol->lib_path, pol->lim.memory);
    int tripped;

    if (L == NULL)
        return NULL;
    lua_pushcfunction(L, compile_cfn);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
        lua_settop(L, 0);
        *pure = c.pure;
        return L;
    }
    oauth2_sbx_disarm(L);
    tripped = oauth2_sbx_tripped(L);
    if (tripped == OAUTH2_SBX_MEMORY)
        oauth2_err_set(ctx,
                       "%s: memory cap of %lu bytes exceeded while loading",
                       pol->path, (unsigned long)pol->lim.memory);
    else if (lua_type(L, -1) == LUA_TSTRING) {
        const char *msg = lua_tostring(L, -1);
        /* `return policy.routes{...}` is a tail call: Lua cannot name the
         * line, so at least name the file (the message names the route) */
        int named = strncmp(msg, pol->path, strlen(pol->path)) == 0 ||
                    strstr(msg, ".lua:") != NULL;
        oauth2_err_set(ctx, "%s%s%s%s", named ? "" : pol->path,
                       named ? "" : ": ", msg,
                       tripped == OAUTH2_SBX_BUDGET ? " (while loading)" : "");
    }
    else
        oauth2_err_set(ctx, "%s: error object is a %s value", pol->path,
                       luaL_typename(L, -1));
    oauth2_sbx_close(L);
    return NULL;
}

/*
 * Give back a state: to its version's free list when it is reusable and
 * the version is still current, otherwise closed. A retired version is
 * freed by whoever gives back its last state.
 */
static void release(oauth2_policy_t *pol, vstate_t *vs, int reusable)
{
    gen_t *g = vs->gen, *dead = NULL;

    apr_thread_mutex_lock(pol->mutex);
    g->busy--;
    if (vs->L != NULL && reusable && !g->retired &&
        g->nidle < pol->lim.max_idle_states) {
        lua_settop(vs->L, 0);
        vs->next = g->idle;
        g->idle = vs;
        g->nidle++;
        vs = NULL;
    }
    if (g->retired && g->busy == 0)
        dead = g;
    apr_thread_mutex_unlock(pol->mutex);
    if (vs != NULL) {
        oauth2_sbx_close(vs->L);
        free(vs);
    }
    if (dead != NULL)
        gen_free(dead);
}

/* A compiled state of `gen` (NULL: the current version); never a new state
 * when an idle one exists. NULL with ctx->err when compiling failed. */
static vstate_t *checkout(oauth2_ctx_t *ctx, oauth2_policy_t *pol, gen_t *gen)
{
    vstate_t *vs = NULL;

    apr_thread_mutex_lock(pol->mutex);
    if (gen == NULL)
        gen = pol->cur;
    gen->busy++;
    if (gen->idle != NULL) {
        vs = gen->idle;
        gen->idle = vs->next;
        gen->nidle--;
    }
    apr_thread_mutex_unlock(pol->mutex);
    if (vs != NULL)
        return vs;
    vs = calloc(1, sizeof(*vs));
    if (vs == NULL) {
        oauth2_err_set(ctx, "policy: out of memory");
        apr_thread_mutex_lock(pol->mutex);
        gen->busy--;
        apr_thread_mutex_unlock(pol->mutex);
        return NULL;
    }
    vs->gen = gen;
    vs->L = compile_state(ctx, pol, gen, &vs->pure);
    if (vs->L == NULL) {
        release(pol, vs, 0);
        return NULL;
    }
    apr_thread_mutex_lock(pol->mutex);
    pol->created++;
    apr_thread_mutex_unlock(pol->mutex);
    return vs;
}

/* ---- evaluation ---------------------------------------------------------- */

enum { STAGE_BIND, STAGE_SCRIPT, STAGE_RESULT };

typedef struct run_t {
    const oauth2_policy_request_t *req;
    oauth2_policy_result_t *res;
    apr_pool_t *p;
    long long budget;
    int stage;
    const char *why;
    oauth2_bind_view_t *view;
} run_t;

/* Protected: bind the request, call authorize within the budget, read the
 * result with raw access. */
static int run_cfn(lua_State *L)
{
    run_t *r = lua_touserdata(L, 1);

    lua_settop(L, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, OAUTH2_SBX_AUTHORIZE);
    r->view = oauth2_bind_request(L, r->req);
    r->stage = STAGE_SCRIPT;
    oauth2_sbx_arm(L, r->budget);
    lua_call(L, 1, LUA_MULTRET);
    oauth2_sbx_disarm(L);
    r->stage = STAGE_RESULT;
    if (lua_gettop(L) == 0)
        r->why = "authorize returned nothing";
    else if (oauth2_bind_result(L, 1, r->p, r->res, &r->why) != 0 &&
             r->why == NULL)
        r->why = "unusable result";
    return 0;
}

/* Log and record a failed evaluation: always a deny. */
static oauth2_status_t fail(oauth2_ctx_t *ctx, const oauth2_policy_t *pol,
                            oauth2_policy_result_t *res, const char *kind)
{
    res->allow = 0;
    res->nwanted = 0;
    res->wanted = NULL;
    res->reason = apr_psprintf(ctx->pool, "policy error: %s", kind);
    (void)pol;
    return OAUTH2_ERROR;
}

static oauth2_status_t classify(oauth2_ctx_t *ctx, const oauth2_policy_t *pol,
                                lua_State *L, int rc, const run_t *r,
                                int view_failed)
{
    int tripped = oauth2_sbx_tripped(L);
    const char *msg = NULL;

    if (rc != LUA_OK && lua_type(L, -1) == LUA_TSTRING)
        msg = oauth2_log_escape(ctx->pool, lua_tostring(L, -1),
                                lua_rawlen(L, -1));
    else if (rc != LUA_OK)
        msg = apr_psprintf(ctx->pool, "%s: error object is a %s value",
                           pol->path, luaL_typename(L, -1));
    if (tripped == OAUTH2_SBX_BUDGET) {
        if (msg != NULL && strstr(msg, "instruction budget") != NULL)
            oauth2_err_set(ctx, "%s", msg);
        else /* the allocator refused: the message is Lua's memory error */
            oauth2_err_set(ctx,
                           "%s: instruction budget exhausted by "
                           "allocations",
                           pol->path);
        oauth2_log_error(
            ctx,
            OAUTH2_LOGNO(00510) "policy %s denied: "
                                "instruction budget of %ld exhausted: %s",
            pol->path, (long)pol->lim.instructions, ctx->err.text);
        return fail(ctx, pol, r->res, "instruction budget exhausted");
    }
    if (tripped == OAUTH2_SBX_MEMORY) {
        oauth2_err_set(ctx, "%s", msg ? msg : "not enough memory");
        oauth2_log_error(ctx,
                         OAUTH2_LOGNO(00511) "policy %s denied: memory "
                                             "cap of %lu bytes exceeded: %s",
                         pol->path, (unsigned long)pol->lim.memory,
                         ctx->err.text);
        return fail(ctx, pol, r->res, "memory cap exceeded");
    }
    /* a field too large to copy, even if the script caught the error */
    if (view_failed || (rc != LUA_OK && r->stage == STAGE_BIND)) {
        oauth2_err_set(ctx, "%s",
                       msg ? msg : "request view: a field was too large");
        oauth2_log_error(ctx, OAUTH2_LOGNO(00512) "policy %s denied: %s",
                         pol->path, ctx->err.text);
        return fail(ctx, pol, r->res, "request view too large");
    }
    if (rc != LUA_OK) {
        oauth2_err_set(ctx, "%s", msg);
        oauth2_log_error(ctx,
                         OAUTH2_LOGNO(00513) "policy %s denied: script "
                                             "error: %s",
                         pol->path, ctx->err.text);
        return fail(ctx, pol, r->res, "script error");
    }
    if (r->why != NULL) {
        oauth2_err_set(ctx, "%s: %s", pol->path, r->why);
        oauth2_log_error(ctx,
                         OAUTH2_LOGNO(00514) "policy %s denied: wrong "
                                             "result type: %s",
                         pol->path, r->why);
        return fail(ctx, pol, r->res, "wrong result type");
    }
    return OAUTH2_OK;
}

static void log_decision(oauth2_ctx_t *ctx, const oauth2_policy_t *pol,
                         const oauth2_policy_request_t *req,
                         const oauth2_policy_result_t *res)
{
    const char *m = req->method ? req->method : "-";
    const char *path = req->path ? req->path : "-";

    if (!oauth2_log_enabled(ctx, OAUTH2_LOG_DEBUG))
        return; /* three escapes per request otherwise, for nothing */
    oauth2_log_debug(
        ctx,
        OAUTH2_LOGNO(00516) "policy %s [%s] %s %s: %s "
                            "(%s)%s%s in %ld us%s",
        pol->path, res->version, oauth2_log_escape(ctx->pool, m, strlen(m)),
        oauth2_log_escape(ctx->pool, path, strlen(path)),
        res->allow ? "allow" : "deny",
        oauth2_log_escape(ctx->pool, res->reason, strlen(res->reason)),
        res->rule ? " rule " : "", res->rule ? res->rule : "", (long)res->usec,
        res->memo ? " (memo)" : "");
}

/* Keep a pure decision under the fields it read (the gen is checked out). */
static void memo_keep(oauth2_ctx_t *ctx, oauth2_policy_t *pol, gen_t *gen,
                      oauth2_memo_fields_t *f,
                      const oauth2_policy_request_t *req, unsigned mask,
                      const oauth2_policy_result_t *res)
{
    unsigned kept;

    oauth2_memo_fields_add(ctx->pool, f, req, mask);
    apr_thread_mutex_lock(pol->mutex);
    kept = oauth2_memo_put(gen->memo, f, mask, res);
    if (kept != 0)
        apr_atomic_set32(&pol->memo_union,
                         apr_atomic_read32(&pol->memo_union) | kept);
    apr_thread_mutex_unlock(pol->mutex);
}

static oauth2_status_t eval_gen(oauth2_ctx_t *ctx, oauth2_policy_t *pol,
                                gen_t *gen, const oauth2_policy_request_t *req,
                                oauth2_policy_result_t *res,
                                oauth2_memo_fields_t *f)
{
    apr_time_t t0 = apr_time_now();
    run_t r = {req,        res,  ctx->pool, pol->lim.instructions,
               STAGE_BIND, NULL, NULL};
    vstate_t *vs;
    oauth2_status_t st;
    unsigned mask;
    int rc, view_failed, impure;

    memset(res, 0, sizeof(*res));
    vs = checkout(ctx, pol, gen);
    if (vs == NULL) {
        oauth2_log_error(ctx,
                         OAUTH2_LOGNO(00515) "policy %s denied: no "
                                             "usable state: %s",
                         pol->path, ctx->err.text);
        return fail(ctx, pol, res, "policy unusable");
    }
    res->version = apr_pstrdup(ctx->pool, vs->gen->sha);
    oauth2_sbx_pure_reset(vs->L);
    lua_pushcfunction(vs->L, run_cfn);
    lua_pushlightuserdata(vs->L, &r);
    rc = lua_pcall(vs->L, 1, 0, 0);
    oauth2_sbx_disarm(vs->L);
    mask = oauth2_bind_end(r.view, &view_failed);
    impure = oauth2_sbx_impure(vs->L);
    st = classify(ctx, pol, vs->L, rc, &r, view_failed);
    res->usec = apr_time_now() - t0;
    if (st == OAUTH2_OK && f != NULL && vs->pure && !impure &&
        vs->gen->memo != NULL)
        memo_keep(ctx, pol, vs->gen, f, req, mask, res);
    /* A state that failed may hold half-updated script data: close it. */
    release(pol, vs, st == OAUTH2_OK);
    if (st == OAUTH2_OK)
        log_decision(ctx, pol, req, res);
    return st;
}

oauth2_status_t oauth2_policy_eval(oauth2_ctx_t *ctx, oauth2_policy_t *policy,
                                   const oauth2_policy_request_t *req,
                                   oauth2_policy_result_t *res)
{
    oauth2_memo_fields_t f;
    apr_time_t t0;
    unsigned want;
    int hit = 0;

    if (apr_atomic_read32(&policy->behind)) {
        memset(res, 0, sizeof(*res));
        oauth2_err_set(ctx,
                       "policy %s: version %s is older than the one "
                       "other processes enforce, and the file does not "
                       "load (OA00506)",
                       policy->path, policy->sha);
        oauth2_log_debug(ctx, OAUTH2_LOGNO(00507) "%s", ctx->err.text);
        return OAUTH2_ERROR;
    }
    if (policy->lim.memo == 0)
        return eval_gen(ctx, policy, NULL, req, res, NULL);
    t0 = apr_time_now();
    memset(&f, 0, sizeof(f));
    want = apr_atomic_read32(&policy->memo_union);
    if (want != 0)
        oauth2_memo_fields_add(ctx->pool, &f, req, want);
    memset(res, 0, sizeof(*res));
    apr_thread_mutex_lock(policy->mutex);
    if (want != 0 && policy->cur->memo != NULL &&
        oauth2_memo_get(policy->cur->memo, &f, ctx->pool, res)) {
        res->version = apr_pstrdup(ctx->pool, policy->cur->sha);
        policy->memo_hits++;
        hit = 1;
    }
    apr_thread_mutex_unlock(policy->mutex);
    if (!hit)
        return eval_gen(ctx, policy, NULL, req, res, &f);
    res->memo = 1;
    res->usec = apr_time_now() - t0;
    log_decision(ctx, policy, req, res);
    return OAUTH2_OK;
}

unsigned long oauth2_policy_memo_hits(const oauth2_policy_t *policy)
{
    return policy->memo_hits;
}

const char *oauth2_policy_version(const oauth2_policy_t *policy)
{
    return policy->sha;
}

/* Client bytes that are not UTF-8 are logged escaped. */
static void json_set_str(apr_pool_t *p, json_t *o, const char *k, const char *v)
{
    json_t *j;

    if (v == NULL)
        return;
    j = json_string(v);
    if (j == NULL)
        j = json_string(oauth2_log_escape(p, v, strlen(v)));
    json_object_set_new(o, k, j);
}

const char *oauth2_policy_decision_json(apr_pool_t *p,
                                        const oauth2_policy_t *policy,
                                        const oauth2_policy_request_t *req,
                                        const oauth2_policy_result_t *res,
                                        oauth2_status_t st)
{
    json_t *o = json_object(), *w = json_array();
    char *text;
    const char *out;
    size_t i;

    json_set_str(p, o, "policy", policy->path);
    json_set_str(p, o, "version", res->version);
    json_set_str(p, o, "method", req->method);
    json_set_str(p, o, "path", req->path);
    json_set_str(p, o, "host", req->host);
    json_set_str(p, o, "sub", req->sub);
    json_set_str(p, o, "client_id", req->client_id);
    json_set_str(p, o, "principal", req->principal);
    json_set_str(p, o, "decision",
                 st != OAUTH2_OK ? "error"
                 : res->allow    ? "allow"
                                 : "deny");
    json_set_str(p, o, "reason", res->reason);
    json_set_str(p, o, "rule", res->rule);
    for (i = 0; i < res->nwanted; i++)
        json_array_append_new(w, json_string(res->wanted[i]));
    json_object_set_new(o, "wanted", w);
    json_object_set_new(o, "usec", json_integer((json_int_t)res->usec));
    if (res->memo)
        json_object_set_new(o, "memo", json_true());
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    out = text ? apr_pstrdup(p, text) : "{}";
    free(text);
    json_decref(o);
    return out;
}

const char *oauth2_policy_path(const oauth2_policy_t *policy)
{
    return policy->path;
}

unsigned long oauth2_policy_states_created(const oauth2_policy_t *policy)
{
    return policy->created;
}

/* ---- self tests ---------------------------------------------------------- */

typedef struct tcase_t {
    const char *name;
    oauth2_policy_request_t req;
    const char *expect; /* "allow", "deny" or "error" */
    const char **wanted;
    int nwanted;        /* -1: not checked */
    const char *reason; /* substring the reason must contain, or NULL */
} tcase_t;

typedef struct tfile_t {
    const char *path;
    const char *chunkname;
    const char *src;
    size_t len;
    long long budget;
    apr_pool_t *p;
    tcase_t *cases;
    int ncases;
} tfile_t;

static const char *case_str(lua_State *L, int t, const char *key, int i,
                            apr_pool_t *p)
{
    const char *s = NULL;
    int ty = lua_getfield(L, t, key);

    if (ty == LUA_TSTRING)
        s = apr_pstrdup(p, lua_tostring(L, -1));
    else if (ty != LUA_TNIL)
        luaL_error(L, "case %d: %s must be a string", i, key);
    lua_pop(L, 1);
    return s;
}

/* A list of strings at t[key] into a NULL-terminated array; -1 if absent. */
static int case_list(lua_State *L, int t, const char *key, int i, apr_pool_t *p,
                     const char ***out)
{
    lua_Integer k, n = 0;

    if (lua_getfield(L, t, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return -1;
    }
    if (lua_istable(L, -1))
        n = (lua_Integer)lua_rawlen(L, -1);
    if (!lua_istable(L, -1) || n > 256)
        luaL_error(L, "case %d: %s must be a list of strings", i, key);
    *out = apr_pcalloc(p, sizeof(char *) * ((size_t)n + 1));
    for (k = 1; k <= n; k++) {
        if (lua_rawgeti(L, -1, k) != LUA_TSTRING)
            luaL_error(L, "case %d: %s must be a list of strings", i, key);
        (*out)[k - 1] = apr_pstrdup(p, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return (int)n;
}

static apr_status_t json_cleanup(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

static json_t *own_json(apr_pool_t *p, json_t *j)
{
    apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    return j;
}

static void case_claims(lua_State *L, int t, int i, tcase_t *c, apr_pool_t *p)
{
    json_t *j;

    if (lua_getfield(L, t, "claims") != LUA_TNIL) {
        j = oauth2_bind_to_json(L, -1, 1);
        if (!json_is_object(j)) {
            json_decref(j);
            luaL_error(L, "case %d: claims must be a table of claims", i);
        }
        c->req.claims = own_json(p, j);
    }
    lua_pop(L, 1);
}

static void read_case(lua_State *L, tfile_t *tf, int i, tcase_t *c)
{
    int t = lua_gettop(L), n;
    const char **scopes = NULL;

    if (!lua_istable(L, t))
        luaL_error(L, "case %d is not a table", i);
    c->name = case_str(L, t, "name", i, tf->p);
    if (c->name == NULL)
        c->name = apr_psprintf(tf->p, "case %d", i);
    c->req.method = case_str(L, t, "method", i, tf->p);
    c->req.path = case_str(L, t, "path", i, tf->p);
    c->req.host = case_str(L, t, "host", i, tf->p);
    c->req.query = case_str(L, t, "query", i, tf->p);
    c->req.sub = case_str(L, t, "sub", i, tf->p);
    c->req.client_id = case_str(L, t, "client_id", i, tf->p);
    c->req.principal = case_str(L, t, "principal", i, tf->p);
    c->reason = case_str(L, t, "reason", i, tf->p);
    c->expect = case_str(L, t, "expect", i, tf->p);
    if (c->expect == NULL ||
        (strcmp(c->expect, "allow") && strcmp(c->expect, "deny") &&
         strcmp(c->expect, "error")))
        luaL_error(
            L, "case %d: expect must be \"allow\", \"deny\" or \"error\"", i);
    n = case_list(L, t, "scopes", i, tf->p, &scopes);
    c->req.scopes = scopes;
    c->req.nscopes = n < 0 ? 0 : (size_t)n;
    c->nwanted = case_list(L, t, "wanted", i, tf->p, &c->wanted);
    case_claims(L, t, i, c, tf->p);
}

/* Protected: run the test file (it returns the list of cases) and copy the
 * cases into C structures. */
static int cases_cfn(lua_State *L)
{
    tfile_t *tf = lua_touserdata(L, 1);
    int i;

    lua_settop(L, 0);
    if (oauth2_sbx_load(L, tf->src, tf->len, tf->chunkname) != LUA_OK)
        return lua_error(L);
    oauth2_sbx_arm(L, tf->budget);
    lua_call(L, 0, 1);
    oauth2_sbx_disarm(L);
    if (!lua_istable(L, 1))
        return luaL_error(L, "%s: must return a list of test cases", tf->path);
    tf->ncases = (int)lua_rawlen(L, 1);
    if (tf->ncases > 10000)
        return luaL_error(L, "%s: too many cases", tf->path);
    tf->cases = apr_pcalloc(tf->p, sizeof(tcase_t) * ((size_t)tf->ncases + 1));
    for (i = 1; i <= tf->ncases; i++) {
        lua_rawgeti(L, 1, i);
        read_case(L, tf, i, &tf->cases[i - 1]);
        lua_pop(L, 1);
    }
    return 0;
}

/* Read a whole script (at most SCRIPT_MAX bytes) into `p`, with its mtime
 * and size from the same open file. */
static oauth2_status_t read_script(oauth2_ctx_t *ctx, apr_pool_t *p,
                                   const char *path, char **buf, size_t *len,
                                   apr_finfo_t *fi)
{
    apr_file_t *f = NULL;
    apr_status_t rv;
    apr_size_t n;
    char msg[120];

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(fi, APR_FINFO_MTIME | APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS && fi->size > SCRIPT_MAX) {
        oauth2_err_set(ctx, "%s: larger than %d bytes", path, SCRIPT_MAX);
        apr_file_close(f);
        return OAUTH2_DENIED;
    }
    if (rv == APR_SUCCESS) {
        n = (apr_size_t)fi->size;
        *buf = apr_palloc(p, n + 1);
        rv = apr_file_read_full(f, *buf, n, &n);
        if (rv == APR_EOF && n == 0)
            rv = APR_SUCCESS;
        (*buf)[n] = '\0';
        *len = n;
    }
    if (f != NULL)
        apr_file_close(f);
    if (rv != APR_SUCCESS) {
        oauth2_err_set(ctx, "cannot read %s: %s", path,
                       apr_strerror(rv, msg, sizeof(msg)));
        return OAUTH2_ERROR;
    }
    return OAUTH2_OK;
}

static int same_list(const char **a, size_t na, const char **b, int nb)
{
    size_t i;
    int k, found;

    if ((int)na != nb)
        return 0;
    for (i = 0; i < na; i++) {
        for (found = 0, k = 0; k < nb && !found; k++)
            found = strcmp(a[i], b[k]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* Did case `c` get the verdict it expects? `st` is the eval status. */
static int case_passed(const tcase_t *c, oauth2_status_t st,
                       const oauth2_policy_result_t *res)
{
    const char *got = st != OAUTH2_OK ? "error" : res->allow ? "allow" : "deny";

    if (strcmp(got, c->expect) != 0)
        return 0;
    if (c->nwanted >= 0 &&
        !same_list(res->wanted, res->nwanted, c->wanted, c->nwanted))
        return 0;
    return c->reason == NULL || strstr(res->reason, c->reason) != NULL;
}

static oauth2_status_t load_cases(oauth2_ctx_t *ctx, oauth2_policy_t *pol,
                                  tfile_t *tf)
{
    apr_finfo_t fi;
    char *src = NULL;
    lua_State *L;
    oauth2_status_t st;
    int rc;

    st = read_script(ctx, tf->p, tf->path, &src, &tf->len, &fi);
    if (st != OAUTH2_OK)
        return st;
    tf->src = src;
    tf->chunkname = apr_pstrcat(tf->p, "@", tf->path, NULL);
    tf->budget = pol->lim.instructions * 10;
    L = oauth2_sbx_open(ctx, pol->lib_path, pol->lim.memory);
    if (L == NULL)
        return OAUTH2_ERROR;
    lua_pushcfunction(L, cases_cfn);
    lua_pushlightuserdata(L, tf);
    rc = lua_pcall(L, 1, 0, 0);
    if (rc != LUA_OK)
        oauth2_err_set(ctx, "%s",
                       lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                      : "test file failed");
    oauth2_sbx_close(L);
    return rc == LUA_OK ? OAUTH2_OK : OAUTH2_DENIED;
}

static oauth2_status_t run_tests_gen(oauth2_ctx_t *ctx, oauth2_policy_t *pol,
                                     gen_t *gen, const char *test_path,
                                     int *passed, int *failed)
{
    tfile_t tf;
    oauth2_policy_result_t res;
    oauth2_status_t st;
    int i;

    memset(&tf, 0, sizeof(tf));
    tf.path = test_path;
    tf.p = ctx->pool;
    *passed = *failed = 0;
    if ((st = load_cases(ctx, pol, &tf)) != OAUTH2_OK) {
        oauth2_log_error(ctx,
                         OAUTH2_LOGNO(00520) "policy tests %s unusable: "
                                             "%s",
                         test_path, ctx->err.text);
        return OAUTH2_DENIED;
    }
    for (i = 0; i < tf.ncases; i++) {
        const tcase_t *c = &tf.cases[i];
        st = eval_gen(ctx, pol, gen, &c->req, &res, NULL);
        if (case_passed(c, st, &res)) {
            (*passed)++;
            oauth2_log_debug(ctx, OAUTH2_LOGNO(00521) "PASS %s: %s", test_path,
                             c->name);
            continue;
        }
        (*failed)++;
        oauth2_log_warn(ctx,
                        OAUTH2_LOGNO(00522) "FAIL %s: %s: expected %s, "
                                            "got %s (%s)%s",
                        test_path, c->name, c->expect,
                        st != OAUTH2_OK ? "error"
                        : res.allow     ? "allow"
                                        : "deny",
                        res.reason,
                        c->nwanted >= 0 ? " [wanted scopes checked]" : "");
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_policy_run_tests(oauth2_ctx_t *ctx,
                                        oauth2_policy_t *policy,
                                        const char *test_path, int *passed,
                                        int *failed)
{
    return run_tests_gen(ctx, policy, NULL, test_path, passed, failed);
}

const char *oauth2_policy_test_path(apr_pool_t *p, const char *path)
{
    size_t n = strlen(path);

    if (n > 4 && strcmp(path + n - 4, ".lua") == 0)
        return apr_pstrcat(p, apr_pstrmemdup(p, path, n - 4), "_test.lua",
                           NULL);
    return apr_pstrcat(p, path, "_test.lua", NULL);
}

/* ---- load and reload ----------------------------------------------------- */

static void sha12(const char *src, size_t len, char out[13])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[OAUTH2_SHA256_LEN];
    int i;

    if (!oauth2_sha256(src, len, md)) {
        strcpy(out, "000000000000");
        return;
    }
    for (i = 0; i < 6; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[12] = '\0';
}

/* Run the version's own test file if it has one; DENIED if any case fails. */
static oauth2_status_t self_test(oauth2_ctx_t *ctx, oauth2_policy_t *pol,
                                 gen_t *gen)
{
    const char *tp = oauth2_policy_test_path(ctx->pool, pol->path);
    apr_finfo_t fi;
    int passed = 0, failed = 0;

    if (!pol->lim.self_test ||
        apr_stat(&fi, tp, APR_FINFO_TYPE, ctx->pool) != APR_SUCCESS)
        return OAUTH2_OK;
    if (run_tests_gen(ctx, pol, gen, tp, &passed, &failed) != OAUTH2_OK)
        return OAUTH2_DENIED; /* ctx->err says why */
    if (failed > 0) {
        oauth2_err_set(ctx, "%s: %d of %d cases failed", tp, failed,
                       passed + failed);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/*
 * Read, compile and self-test the file as a new, not yet current version.
 * On OK *out holds one compiled idle state; otherwise nothing is left over.
 */
static oauth2_status_t prepare_gen(oauth2_ctx_t *ctx, oauth2_policy_t *pol,
                                   gen_t **out)
{
    apr_finfo_t fi;
    char *buf = NULL;
    size_t len = 0;
    gen_t *g;
    vstate_t *vs;
    oauth2_status_t st;

    st = read_script(ctx, ctx->pool, pol->path, &buf, &len, &fi);
    if (st != OAUTH2_OK)
        return st;
    g = calloc(1, sizeof(*g));
    if (g == NULL || (g->src = malloc(len + 1)) == NULL) {
        free(g);
        oauth2_err_set(ctx, "policy: out of memory");
        return OAUTH2_ERROR;
    }
    memcpy(g->src, buf, len + 1);
    g->len = len;
    g->mtime = fi.mtime;
    g->size = fi.size;
    sha12(buf, len, g->sha);
    if ((vs = checkout(ctx, pol, g)) == NULL) {
        gen_free(g);
        return OAUTH2_DENIED;
    }
    /* every state of a version compiles the same source: ask the first */
    g->pure = vs->pure;
    if (g->pure)
        g->memo = oauth2_memo_create(pol->lim.memo);
    release(pol, vs, 1);
    if ((st = self_test(ctx, pol, g)) != OAUTH2_OK) {
        gen_free(g);
        return st;
    }
    *out = g;
    return OAUTH2_OK;
}

static apr_status_t policy_cleanup(void *data)
{
    oauth2_policy_t *pol = data;

    /* The owner pool goes away after every evaluation has ended. */
    if (pol->cur != NULL)
        gen_free(pol->cur);
    free(pol);
    return APR_SUCCESS;
}

oauth2_status_t oauth2_policy_load(oauth2_ctx_t *ctx, apr_pool_t *owner_pool,
                                   const char *path, const char *lib_path,
                                   const oauth2_policy_limits_t *limits,
                                   oauth2_policy_t **out)
{
    oauth2_policy_t *pol;
    apr_pool_t *p;
    gen_t *g = NULL;
    oauth2_status_t st;

    if (apr_pool_create(&p, owner_pool) != APR_SUCCESS) {
        oauth2_err_set(ctx, "policy: cannot create pool");
        return OAUTH2_ERROR;
    }
    /* malloc'd, not pooled: it points at malloc'd versions and states, and
     * leak checkers do not scan APR's (mmap'd) pool memory */
    pol = calloc(1, sizeof(*pol));
    if (pol == NULL) {
        oauth2_err_set(ctx, "policy: out of memory");
        apr_pool_destroy(p);
        return OAUTH2_ERROR;
    }
    pol->pool = p;
    pol->path = apr_pstrdup(p, path);
    pol->chunkname = apr_pstrcat(p, "@", path, NULL);
    pol->lib_path = apr_pstrdup(p, lib_path ? lib_path : OAUTH2_POLICY_LIB_DIR);
    if (limits != NULL)
        pol->lim = *limits;
    else
        oauth2_policy_limits_default(&pol->lim);
    if (apr_thread_mutex_create(&pol->mutex, APR_THREAD_MUTEX_DEFAULT, p) !=
        APR_SUCCESS) {
        oauth2_err_set(ctx, "policy: cannot create mutex");
        apr_pool_destroy(p);
        free(pol);
        return OAUTH2_ERROR;
    }
    if ((st = prepare_gen(ctx, pol, &g)) != OAUTH2_OK) {
        oauth2_log_error(ctx, OAUTH2_LOGNO(00501) "policy %s not loaded: %s",
                         path, ctx->err.text);
        apr_pool_destroy(p);
        free(pol);
        return st;
    }
    pol->cur = g;
    memcpy(pol->sha, g->sha, sizeof(pol->sha));
    pol->next_check = ctx->now + apr_time_from_sec(pol->lim.reload_interval);
    apr_pool_cleanup_register(p, pol, policy_cleanup, apr_pool_cleanup_null);
    oauth2_log_notice(ctx, OAUTH2_LOGNO(00502) "policy %s loaded, version %s",
                      path, g->sha);
    *out = pol;
    return OAUTH2_OK;
}

/* ---- the version shared by the processes (oauth2_policy_share) ---------- */

#define SPIN_MAX 100000

static void shared_write(oauth2_policy_shared_t *s, const char *sha)
{
    apr_uint32_t v;
    int i;

    for (i = 0; i < SPIN_MAX; i++) {
        v = apr_atomic_read32(&s->seq);
        if (!(v & 1) && apr_atomic_cas32(&s->seq, v + 1, v) == v)
            break;
    }
    for (i = 0; i < (int)sizeof(s->sha); i++)
        s->sha[i] = sha[i];
    apr_atomic_set32(&s->seq, (apr_atomic_read32(&s->seq) | 1) + 1);
}

/* 0 when no consistent copy could be read (a writer died mid-write). */
static int shared_read(const oauth2_policy_shared_t *s,
                       char out[sizeof(s->sha)])
{
    apr_uint32_t a, b;
    int i, n;

    for (n = 0; n < SPIN_MAX; n++) {
        a = apr_atomic_read32((volatile apr_uint32_t *)&s->seq);
        for (i = 0; i < (int)sizeof(s->sha); i++)
            out[i] = s->sha[i];
        b = apr_atomic_read32((volatile apr_uint32_t *)&s->seq);
        if (!(a & 1) && a == b) {
            out[sizeof(s->sha) - 1] = '\0';
            return 1;
        }
    }
    strcpy(out, "unknown");
    return 0;
}

void oauth2_policy_share(oauth2_policy_t *policy, oauth2_policy_shared_t *slot)
{
    policy->shared = slot;
    if (slot != NULL)
        shared_write(slot, policy->sha);
}

/* Make `g` current; the old version is retired and freed by its last user. */
static void activate(oauth2_policy_t *pol, gen_t *g)
{
    gen_t *old;
    vstate_t *idle;

    apr_thread_mutex_lock(pol->mutex);
    old = pol->cur;
    pol->cur = g;
    memcpy(pol->sha, g->sha, sizeof(pol->sha));
    if (pol->shared != NULL)
        shared_write(pol->shared, pol->sha);
    apr_atomic_set32(&pol->behind, 0);
    old->retired = 1;
    idle = old->idle;
    old->idle = NULL;
    old->nidle = 0;
    if (old->busy > 0)
        old = NULL; /* release() frees it */
    apr_thread_mutex_unlock(pol->mutex);
    while (idle != NULL) {
        vstate_t *vs = idle;
        idle = vs->next;
        oauth2_sbx_close(vs->L);
        free(vs);
    }
    if (old != NULL)
        gen_free(old);
}

/* Is it time to look at the file, and has it changed? */
static int changed(oauth2_ctx_t *ctx, oauth2_policy_t *pol)
{
    apr_finfo_t fi;
    int due, same;

    apr_thread_mutex_lock(pol->mutex);
    due = pol->lim.reload_interval > 0 && ctx->now >= pol->next_check;
    if (due)
        pol->next_check =
            ctx->now + apr_time_from_sec(pol->lim.reload_interval);
    apr_thread_mutex_unlock(pol->mutex);
    if (!due)
        return 0;
    if (apr_stat(&fi, pol->path, APR_FINFO_MTIME | APR_FINFO_SIZE, ctx->pool) !=
        APR_SUCCESS) {
        oauth2_log_warn(ctx,
                        OAUTH2_LOGNO(00503) "policy %s: cannot stat "
                                            "the file; keeping version %s",
                        pol->path, pol->sha);
        return 0;
    }
    apr_thread_mutex_lock(pol->mutex);
    same = (fi.mtime == pol->cur->mtime && fi.size == pol->cur->size) ||
           (fi.mtime == pol->bad_mtime && fi.size == pol->bad_size);
    apr_thread_mutex_unlock(pol->mutex);
    return !same;
}

oauth2_status_t oauth2_policy_maybe_reload(oauth2_ctx_t *ctx,
                                           oauth2_policy_t *policy)
{
    gen_t *g = NULL;
    oauth2_status_t st;

    if (!changed(ctx, policy))
        return OAUTH2_OK;
    st = prepare_gen(ctx, policy, &g);
    if (st != OAUTH2_OK) {
        apr_finfo_t fi;
        if (apr_stat(&fi, policy->path, APR_FINFO_MTIME | APR_FINFO_SIZE,
                     ctx->pool) == APR_SUCCESS) {
            apr_thread_mutex_lock(policy->mutex);
            policy->bad_mtime = fi.mtime;
            policy->bad_size = fi.size;
            apr_thread_mutex_unlock(policy->mutex);
        }
        oauth2_log_error(ctx,
                         OAUTH2_LOGNO(00504) "policy %s: new version "
                                             "refused, keeping %s: %s",
                         policy->path, policy->sha, ctx->err.text);
        if (policy->shared != NULL) {
            char latest[sizeof(policy->shared->sha)];

            if (!shared_read(policy->shared, latest) ||
                strcmp(latest, policy->sha) != 0) {
                apr_atomic_set32(&policy->behind, 1);
                oauth2_log_error(
                    ctx,
                    OAUTH2_LOGNO(00506) "policy %s: this process still "
                                        "enforces %s, other processes %s, "
                                        "and the file does not load: every "
                                        "request is refused until it does",
                    policy->path, policy->sha, latest);
            }
        }
        return OAUTH2_DENIED;
    }
    activate(policy, g); /* g stays current: only a later reload frees it */
    oauth2_log_notice(ctx, OAUTH2_LOGNO(00505) "policy %s reloaded, version %s",
                      policy->path, policy->sha);
    return OAUTH2_OK;
}
