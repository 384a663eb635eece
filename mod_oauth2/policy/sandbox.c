/*
 * sandbox.c - one capped, sandboxed Lua 5.4 state: a counting allocator that
 * enforces the memory cap and charges allocation against the instruction
 * budget, the count/line hook that enforces the budget (also inside
 * coroutines and through pcall), the allow-listed library set with bounded
 * string/table/utf8 functions, and a `require` limited to oauth2.* modules.
 *
 * Owns the lifecycle of a lua_State and its accounting; never decides what a
 * script's result means (bind.c) nor which state serves a request
 * (engine.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "oauth2/log.h"
#include "policy_int.h"

/* The hook fires every HOOK_STEP instructions until the budget trips. */
#define HOOK_STEP 1000
/* Allocation growth costs one instruction per BYTES_PER_UNIT bytes. */
#define BYTES_PER_UNIT 64
/* A pattern-matcher step costs 1/PATTERN_UNITS of an instruction. */
#define PATTERN_UNITS 100
/* Once tripped, only allocations this small succeed (error messages). */
#define TRIPPED_ALLOC_MAX 512
#define REQUIRE_NAME_MAX 96

typedef struct sbx_t {
    size_t used;
    size_t cap;
    long long remaining;
    int armed;
    int tripped;
    int impure; /* clock or randomness read since the last reset */
    char *lib_path;
} sbx_t;

static sbx_t *sbx_of(lua_State *L)
{
    void *ud = NULL;

    lua_getallocf(L, &ud);
    return ud;
}

/*
 * The memory cap and the allocation part of the budget. Refusing returns
 * NULL, which Lua turns into a memory error; the reason is kept in
 * `tripped`, so a script that catches the error with pcall is denied anyway.
 * Shrinking and freeing never fail (Lua relies on that).
 */
static void *sbx_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sbx_t *s = ud;
    size_t old = ptr ? osize : 0;
    void *n;

    if (nsize == 0) {
        free(ptr);
        s->used -= old;
        return NULL;
    }
    if (nsize > old) {
        size_t grow = nsize - old;

        if (grow > s->cap || s->used + grow > s->cap) {
            if (s->tripped == OAUTH2_SBX_OK)
                s->tripped = OAUTH2_SBX_MEMORY;
            return NULL;
        }
        if (s->armed && s->tripped != OAUTH2_SBX_OK && grow > TRIPPED_ALLOC_MAX)
            return NULL;
        if (s->armed) {
            s->remaining -= (long long)(grow / BYTES_PER_UNIT);
            if (s->remaining < 0 && s->tripped == OAUTH2_SBX_OK) {
                s->tripped = OAUTH2_SBX_BUDGET;
                return NULL;
            }
        }
    }
    n = realloc(ptr, nsize);
    if (n == NULL)
        return nsize <= old ? ptr : NULL;
    s->used = s->used - old + nsize;
    return n;
}

/* Never reached by construction (all Lua runs under lua_pcall). */
static int sbx_panic(lua_State *L)
{
    (void)L;
    return 0;
}

static void hook(lua_State *L, lua_Debug *ar);

/*
 * Stop the script: from now on every line and every instruction raises, in
 * this thread at once and in other coroutines at their next count event, so
 * pcall/xpcall/coroutine.resume in the script cannot swallow it. `level` is
 * the stack level whose line the message names.
 */
static int stop(lua_State *L, int level, const char *what)
{
    sbx_t *s = sbx_of(L);

    if (s->tripped == OAUTH2_SBX_OK)
        s->tripped = OAUTH2_SBX_BUDGET;
    lua_sethook(L, hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    luaL_where(L, level);
    lua_pushstring(L, what);
    lua_concat(L, 2);
    return lua_error(L);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    sbx_t *s = sbx_of(L);

    if (!s->armed)
        return;
    if (s->tripped == OAUTH2_SBX_OK) {
        if (ar->event != LUA_HOOKCOUNT)
            return;
        s->remaining -= HOOK_STEP;
        if (s->remaining >= 0)
            return;
        s->tripped = OAUTH2_SBX_BUDGET;
    }
    /* any cap that tripped, even one the script caught, ends the run */
    stop(L, 0,
         s->tripped == OAUTH2_SBX_MEMORY ? "memory cap exceeded"
                                         : "instruction budget exhausted");
}

/* Charge work done inside a C function; raises once the budget is gone. */
static void charge(lua_State *L, double units)
{
    sbx_t *s = sbx_of(L);

    if (!s->armed)
        return;
    if (units >= (double)s->remaining + 1.0) {
        s->remaining = -1;
        stop(L, 1, "instruction budget exhausted");
    }
    s->remaining -= (long long)units;
}

void oauth2_sbx_arm(lua_State *L, long long instructions)
{
    sbx_t *s = sbx_of(L);

    s->remaining = instructions;
    s->armed = 1;
}

void oauth2_sbx_disarm(lua_State *L)
{
    sbx_of(L)->armed = 0;
}

int oauth2_sbx_tripped(lua_State *L)
{
    return sbx_of(L)->tripped;
}

size_t oauth2_sbx_used(lua_State *L)
{
    return sbx_of(L)->used;
}

void oauth2_sbx_pure_reset(lua_State *L)
{
    sbx_of(L)->impure = 0;
}

int oauth2_sbx_impure(lua_State *L)
{
    return sbx_of(L)->impure;
}

int oauth2_sbx_marked_pure(lua_State *L, int idx)
{
    int marked;

    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TFUNCTION)
        return 0;
    lua_getfield(L, LUA_REGISTRYINDEX, "oauth2.pure");
    lua_pushvalue(L, idx);
    marked = lua_rawget(L, -2) == LUA_TBOOLEAN;
    lua_pop(L, 2);
    return marked;
}

/* ---- purity: what makes a decision unfit for the memo ---------------------
 */

/* Wraps os.time, os.clock, math.random(seed): the answer may change between
 * two calls with the same request, so this run's decision is not memoized. */
static int impure_call(lua_State *L)
{
    sbx_of(L)->impure = 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void wrap_impure(lua_State *L, int t, const char *name)
{
    t = lua_absindex(L, t);
    lua_getfield(L, t, name);
    lua_pushcclosure(L, impure_call, 1);
    lua_setfield(L, t, name);
}

/* policy.pure(fn): the script's word that fn answers from `req` alone. */
static int mark_pure(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "oauth2.pure");
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return 1;
}

/* ---- bounded library functions ----------------------------------------- */

enum {
    W_FIND,
    W_MATCH,
    W_GMATCH,
    W_GSUB,
    W_REP,
    W_FORMAT,
    W_LINEAR, /* cost ~ length of the string in argument 1 */
    W_SORT,
    W_SHIFT, /* table.insert / table.remove: shifts #t elements */
    W_MOVE,
    W_CONCAT, /* table.concat(t, sep, i, j): j defaults to #t */
    W_UNPACK  /* table.unpack(t, i, j) */
};

/*
 * Worst case of Lua's backtracking matcher, in matcher steps: every
 * quantifier ('*', '+', '-', '?'), %b and back-reference can multiply the
 * work by the subject length, and an unanchored search tries every start.
 * Over-counting (a '-' inside a set) only makes the bound stricter.
 */
static double pattern_cost(const char *p, size_t m, size_t n, int anchor_ok,
                           int *special)
{
    int q = 0;
    size_t i;
    double e = (double)m + 1.0;

    *special = 0;
    for (i = 0; i < m; i++) {
        char c = p[i];
        if (c == '%' && i + 1 < m) {
            char d = p[++i];
            if (d == 'b' || (d >= '1' && d <= '9'))
                q++;
            *special = 1;
        }
        else if (c == '[') {
            /* a set is one character class: skip to its closing ']' */
            *special = 1;
            if (i + 1 < m && p[i + 1] == '^')
                i++;
            if (i + 1 < m && p[i + 1] == ']')
                i++;
            while (++i < m && p[i] != ']')
                if (p[i] == '%')
                    i++;
        }
        else if (c == '*' || c == '+' || c == '-' || c == '?') {
            q++;
            *special = 1;
        }
        else if (strchr("^$.(", c) != NULL) {
            *special = 1;
        }
    }
    if (!(anchor_ok && m > 0 && p[0] == '^'))
        q++;
    while (q-- > 0 && e < 1e30)
        e *= (double)n + 1.0;
    return e;
}

static double cost_pattern(lua_State *L, int kind)
{
    size_t n, m;
    const char *p;
    int special;
    double e;

    luaL_checklstring(L, 1, &n);
    p = luaL_checklstring(L, 2, &m);
    e = pattern_cost(p, m, n, kind != W_GMATCH, &special);
    if (kind == W_FIND && (!special || lua_toboolean(L, 4)))
        return (double)(n + m) / 8.0 + 1.0; /* plain search: linear */
    return e / PATTERN_UNITS + 1.0;
}

static double cost_rep(lua_State *L)
{
    size_t l, lsep = 0;
    lua_Integer n;

    luaL_checklstring(L, 1, &l);
    n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0)
        return 1.0;
    return (double)n / 8.0 + (double)n * (double)(l + lsep) / BYTES_PER_UNIT;
}

static double cost_format(lua_State *L)
{
    int i, top = lua_gettop(L);
    double c = (double)top;

    for (i = 1; i <= top; i++)
        if (lua_type(L, i) == LUA_TSTRING)
            c += (double)lua_rawlen(L, i) / BYTES_PER_UNIT;
    return c;
}

static double cost_table(lua_State *L, int kind)
{
    double n, i, j;
    int a;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (kind == W_MOVE) {
        i = (double)luaL_checkinteger(L, 2);
        j = (double)luaL_checkinteger(L, 3);
        return j >= i ? j - i + 1.0 : 1.0;
    }
    n = (double)luaL_len(L, 1); /* honours __len: that is what C will use */
    if (kind == W_SORT)
        return n > 1 ? n * log2(n) / 4.0 + 1.0 : 1.0;
    if (kind == W_SHIFT)
        return n / 8.0 + 1.0;
    a = kind == W_CONCAT ? 3 : 2;
    i = (double)luaL_optinteger(L, a, 1);
    j = lua_isnoneornil(L, a + 1) ? n : (double)luaL_checkinteger(L, a + 1);
    return j >= i ? j - i + 1.0 : 1.0;
}

/* A library function wrapped with its cost: upvalue 1 original, 2 kind. */
static int costed(lua_State *L)
{
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    double c;

    switch (kind) {
    case W_REP:
        c = cost_rep(L);
        break;
    case W_FORMAT:
        c = cost_format(L);
        break;
    case W_LINEAR: {
        size_t len;
        luaL_checklstring(L, 1, &len);
        c = (double)len / 8.0 + 1.0;
        break;
    }
    case W_SORT:
    case W_SHIFT:
    case W_MOVE:
    case W_CONCAT:
    case W_UNPACK:
        c = cost_table(L, kind);
        break;
    default:
        c = cost_pattern(L, kind);
        break;
    }
    charge(L, c);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Replace lib[name] (table at -1) by its costed wrapper. */
static void wrap(lua_State *L, const char *name, int kind)
{
    lua_getfield(L, -1, name);
    lua_pushinteger(L, kind);
    lua_pushcclosure(L, costed, 2);
    lua_setfield(L, -2, name);
}

static void bound_string(lua_State *L)
{
    static const struct {
        const char *name;
        int kind;
    } fns[] = {{"find", W_FIND},      {"match", W_MATCH},  {"gmatch", W_GMATCH},
               {"gsub", W_GSUB},      {"rep", W_REP},      {"format", W_FORMAT},
               {"byte", W_LINEAR},    {"upper", W_LINEAR}, {"lower", W_LINEAR},
               {"reverse", W_LINEAR}, {"sub", W_LINEAR}};
    size_t i;

    for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
        wrap(L, fns[i].name, fns[i].kind);
    /* Bytecode can only be produced for `load`, which is gone anyway. */
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
}

static void bound_table(lua_State *L)
{
    wrap(L, "sort", W_SORT);
    wrap(L, "insert", W_SHIFT);
    wrap(L, "remove", W_SHIFT);
    wrap(L, "move", W_MOVE);
    wrap(L, "concat", W_CONCAT);
    wrap(L, "unpack", W_UNPACK);
}

static void bound_math(lua_State *L)
{
    wrap_impure(L, -1, "random");
    wrap_impure(L, -1, "randomseed");
}

static void bound_utf8(lua_State *L)
{
    wrap(L, "len", W_LINEAR);
    wrap(L, "codepoint", W_LINEAR);
    wrap(L, "offset", W_LINEAR);
}

/*
 * Metamethods that could run Lua code with hooks disabled are refused:
 * finalizers run with hooks off (lgc.c GCTM), and an error raised by our
 * hook leaves hooks off for a coroutine's pending __close handlers (run by
 * coroutine.close/wrap). The metatable is installed as a private copy whose
 * __metatable is the caller's table, so adding __gc/__close to it later
 * has no effect. A table's metatable can therefore be set only once.
 */
static int safe_setmetatable(lua_State *L)
{
    int n = 0;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_settop(L, 2);
        lua_newtable(L); /* 3: the copy */
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            if (lua_type(L, -2) == LUA_TSTRING &&
                (!strcmp(lua_tostring(L, -2), "__gc") ||
                 !strcmp(lua_tostring(L, -2), "__close")))
                return luaL_error(L, "%s metamethods are not allowed",
                                  lua_tostring(L, -2));
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, 3);
            n++;
        }
        charge(L, n);
        lua_pushliteral(L, "__metatable");
        if (lua_rawget(L, 3) == LUA_TNIL) {
            lua_pushliteral(L, "__metatable");
            lua_pushvalue(L, 2);
            lua_rawset(L, 3);
        }
        lua_pop(L, 1);
        lua_replace(L, 2);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/*
 * xpcall whose handler runs after the unwinding, as an ordinary call: a
 * message handler called while the error is raised would run with hooks
 * off when the error came from our hook. No traceback at the error point.
 */
static int safe_xpcall(lua_State *L)
{
    int n = lua_gettop(L);

    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_insert(L, 1); /* h f h args */
    lua_remove(L, 3); /* h f args */
    if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }
    lua_call(L, 1, 1); /* h(err) */
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* coroutine.create that sets our hook on the new thread explicitly. */
static int safe_cocreate(lua_State *L)
{
    lua_State *co;

    luaL_checktype(L, 1, LUA_TFUNCTION);
    co = lua_newthread(L);
    lua_sethook(co, hook, lua_gethookmask(L), lua_gethookcount(L));
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    return 1;
}

/* ---- require: oauth2.* modules from the library path only -------------- */

/* "oauth2.x" or "oauth2.x.y": lower-case letters, digits, '_' per part. */
static int module_name_ok(const char *name, size_t len)
{
    size_t i;
    int part = 0;

    if (len <= 7 || len > REQUIRE_NAME_MAX || strncmp(name, "oauth2.", 7))
        return 0;
    for (i = 7; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (part == 0)
                return 0;
            part = 0;
        }
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            part++;
        }
        else {
            return 0;
        }
    }
    return part > 0;
}

/* Push a fresh _ENV (reads fall through to the base) and set it as the
 * first upvalue of the chunk below it. */
static void set_env(lua_State *L)
{
    lua_newtable(L);
    lua_newtable(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "oauth2.base");
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    if (lua_setupvalue(L, -2, 1) == NULL)
        lua_pop(L, 1);
}

/*
 * require(name): only oauth2.* names, mapped to LIB/oauth2/<name>.lua, text
 * only, in its own _ENV, run once per state and cached. No package.path,
 * no C modules, no '..' (the name grammar has no way to express it).
 */
static int sbx_require(lua_State *L)
{
    sbx_t *s = sbx_of(L);
    size_t len, i;
    const char *name = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;

    if (!module_name_ok(name, len))
        return luaL_error(L, "module '%s' not allowed: only oauth2.* modules",
                          name);
    lua_getfield(L, LUA_REGISTRYINDEX, "oauth2.loaded");
    if (lua_getfield(L, -1, name) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, s->lib_path);
    luaL_addchar(&b, '/');
    for (i = 0; i < len; i++)
        luaL_addchar(&b, name[i] == '.' ? '/' : name[i]);
    luaL_addstring(&b, ".lua");
    luaL_pushresult(&b);
    if (luaL_loadfilex(L, lua_tostring(L, -1), "t") != LUA_OK)
        return luaL_error(L, "module '%s': %s", name, lua_tostring(L, -1));
    set_env(L);
    lua_pushvalue(L, 1);
    lua_pushcfunction(L, mark_pure); /* `local name, mark_pure = ...` */
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, name);
    return 1;
}

/* ---- state setup --------------------------------------------------------- */

static const char *const base_names[] = {
    "assert",   "error",  "ipairs",       "next",     "pairs",    "pcall",
    "rawequal", "rawget", "rawlen",       "select",   "tonumber", "tostring",
    "type",     "xpcall", "getmetatable", "_VERSION", NULL};

/* Copy the allow-listed globals into the base table at -1. */
static void copy_base(lua_State *L)
{
    int i;

    for (i = 0; base_names[i] != NULL; i++) {
        lua_getglobal(L, base_names[i]);
        lua_setfield(L, -2, base_names[i]);
    }
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setfield(L, -2, "setmetatable");
    lua_pushcfunction(L, safe_xpcall);
    lua_setfield(L, -2, "xpcall");
    lua_pushcfunction(L, sbx_require);
    lua_setfield(L, -2, "require");
}

/* getmetatable("") returns a stand-in {__index = string}: the real string
 * metatable cannot be given a __close (closable strings) or changed. */
static void protect_string_mt(lua_State *L)
{
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_createtable(L, 0, 1);
    lua_getfield(L, -2, "__index");
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
}

/* Open library `name` (not as a global), bound it, store it in base. */
static void add_lib(lua_State *L, const char *name, lua_CFunction open,
                    void (*bound)(lua_State *))
{
    luaL_requiref(L, name, open, 0);
    if (bound != NULL)
        bound(L);
    lua_setfield(L, -2, name);
}

static void add_os_coroutine(lua_State *L)
{
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_createtable(L, 0, 2);
    lua_getfield(L, -2, "time");
    lua_setfield(L, -2, "time");
    lua_getfield(L, -2, "clock");
    lua_setfield(L, -2, "clock");
    wrap_impure(L, -1, "time");
    wrap_impure(L, -1, "clock");
    lua_setfield(L, -3, "os");
    lua_pop(L, 1);
    luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 0);
    lua_pushcfunction(L, safe_cocreate);
    lua_setfield(L, -2, "create");
    lua_setfield(L, -2, "coroutine");
}

/* Runs under lua_pcall: an allocation failure here is an error, not a
 * panic. Leaves the base and the module cache in the registry. */
static int setup(lua_State *L)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    lua_pop(L, 1);
    lua_newtable(L); /* base */
    copy_base(L);
    add_lib(L, LUA_STRLIBNAME, luaopen_string, bound_string);
    add_lib(L, LUA_TABLIBNAME, luaopen_table, bound_table);
    add_lib(L, LUA_MATHLIBNAME, luaopen_math, bound_math);
    add_lib(L, LUA_UTF8LIBNAME, luaopen_utf8, bound_utf8);
    add_os_coroutine(L);
    protect_string_mt(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "oauth2.base");
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "oauth2.loaded");
    lua_newtable(L); /* functions declared pure, weakly held */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "oauth2.pure");
    /* The real globals keep nothing a script could reach anyway. */
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    lua_pushnil(L);
    lua_setglobal(L, "load");
    lua_pushnil(L);
    lua_setglobal(L, "collectgarbage");
    return 0;
}

lua_State *oauth2_sbx_open(oauth2_ctx_t *ctx, const char *lib_path,
                           size_t mem_cap)
{
    sbx_t *s = calloc(1, sizeof(*s));
    lua_State *L = NULL;

    if (s == NULL)
        goto fail;
    s->cap = mem_cap;
    s->lib_path = strdup(lib_path ? lib_path : OAUTH2_POLICY_LIB_DIR);
    if (s->lib_path == NULL)
        goto fail;
    L = lua_newstate(sbx_alloc, s);
    if (L == NULL)
        goto fail;
    lua_atpanic(L, sbx_panic);
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_STEP);
    lua_pushcfunction(L, setup);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        oauth2_err_set(ctx, "policy sandbox setup failed: %s",
                       s->tripped == OAUTH2_SBX_MEMORY ? "memory cap too small"
                                                       : lua_tostring(L, -1));
        oauth2_sbx_close(L);
        return NULL;
    }
    return L;
fail:
    oauth2_err_set(ctx, "policy sandbox: out of memory");
    if (s != NULL)
        free(s->lib_path);
    free(s);
    return NULL;
}

void oauth2_sbx_close(lua_State *L)
{
    sbx_t *s;

    if (L == NULL)
        return;
    s = sbx_of(L);
    s->armed = 0;
    lua_close(L);
    free(s->lib_path);
    free(s);
}

int oauth2_sbx_load(lua_State *L, const char *buf, size_t len,
                    const char *chunkname)
{
    int rc = luaL_loadbufferx(L, buf, len, chunkname, "t");

    if (rc != LUA_OK)
        return rc;
    set_env(L);
    return LUA_OK;
}
