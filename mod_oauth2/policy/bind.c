/*
 * bind.c - the boundary between C and a policy script: the request view and
 * its claims (json_t) become Lua tables, copied field by field on first read
 * (bounded in depth, member count and string size; the reads are recorded
 * for the decision memo), and an authorize() result becomes an
 * oauth2_policy_result_t. Never hands a script a pointer, never runs a
 * metamethod while reading a result, never decides what is allowed.
 */
#include <string.h>

#include <apr_strings.h>

#include "policy_int.h"

#define BIND_STR_MAX 16384    /* any single string copied into the state */
#define BIND_DEPTH_MAX 8      /* claim nesting */
#define BIND_MEMBERS_MAX 1024 /* claim members + elements, over the tree */
#define BIND_LIST_MAX 256     /* headers, scopes */
#define WANTED_MAX 32

static void push_str(lua_State *L, const char *what, const char *s, size_t n)
{
    if (n > BIND_STR_MAX)
        luaL_error(L, "request view: %s too large (%d bytes)", what, (int)n);
    lua_pushlstring(L, s, n);
}

static void push_json(lua_State *L, const json_t *j, int depth, int *left)
{
    const char *k;
    json_t *v;
    size_t i;

    if (--*left < 0)
        luaL_error(L, "request view: claims have too many members");
    if (depth > BIND_DEPTH_MAX)
        luaL_error(L, "request view: claims nested too deeply");
    luaL_checkstack(L, 4, "claims");
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        lua_createtable(L, 0, (int)json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            push_json(L, v, depth + 1, left);
            lua_setfield(L, -2, k);
        }
        break;
    case JSON_ARRAY:
        lua_createtable(L, (int)json_array_size(j), 0);
        json_array_foreach(j, i, v)
        {
            push_json(L, v, depth + 1, left);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case JSON_STRING:
        push_str(L, "claim", json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(j));
        break;
    default: /* null: absent */
        lua_pushnil(L);
        break;
    }
}

/* Header names lower-cased, values copied; later duplicates win. */
static void push_headers(lua_State *L, const oauth2_policy_request_t *req)
{
    size_t i, j, n;
    luaL_Buffer b;

    if (req->nheaders > BIND_LIST_MAX)
        luaL_error(L, "request view: too many headers");
    lua_createtable(L, 0, (int)req->nheaders);
    for (i = 0; i < req->nheaders; i++) {
        const oauth2_policy_header_t *h = &req->headers[i];
        if (h->name == NULL || h->value == NULL)
            continue;
        n = strlen(h->name);
        if (n > 256)
            luaL_error(L, "request view: header name too large");
        luaL_buffinit(L, &b);
        for (j = 0; j < n; j++) {
            char c = h->name[j];
            luaL_addchar(&b, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
        }
        luaL_pushresult(&b);
        push_str(L, "header", h->value, strlen(h->value));
        lua_rawset(L, -3);
    }
}

/* ---- the lazy request view ------------------------------------------------
 */

struct oauth2_bind_view_t {
    const oauth2_policy_request_t *req; /* NULL outside a decision */
    const void *proxy;                  /* the `req` table of this decision */
    unsigned mask;                      /* fields read */
    int left;                           /* claim members still allowed */
    int failed;                         /* a read was too large */
};

static const struct {
    const char *name;
    unsigned bit;
} fields[OAUTH2_VIEW_NFIELDS] = {
    {"method", OAUTH2_VIEW_METHOD},
    {"path", OAUTH2_VIEW_PATH},
    {"host", OAUTH2_VIEW_HOST},
    {"query", OAUTH2_VIEW_QUERY},
    {"sub", OAUTH2_VIEW_SUB},
    {"client_id", OAUTH2_VIEW_CLIENT_ID},
    {"principal", OAUTH2_VIEW_PRINCIPAL},
    {"headers", OAUTH2_VIEW_HEADERS},
    {"scopes", OAUTH2_VIEW_SCOPES},
    {"claims", OAUTH2_VIEW_CLAIMS},
};

const char *oauth2_bind_scalar(const oauth2_policy_request_t *req, unsigned bit)
{
    switch (bit) {
    case OAUTH2_VIEW_METHOD:
        return req->method ? req->method : "GET";
    case OAUTH2_VIEW_PATH:
        return req->path ? req->path : "/";
    case OAUTH2_VIEW_HOST:
        return req->host;
    case OAUTH2_VIEW_QUERY:
        return req->query;
    case OAUTH2_VIEW_SUB:
        return req->sub;
    case OAUTH2_VIEW_CLIENT_ID:
        return req->client_id;
    case OAUTH2_VIEW_PRINCIPAL:
        return req->principal;
    default:
        return NULL;
    }
}

static void push_scopes(lua_State *L, const oauth2_policy_request_t *req)
{
    size_t i;

    if (req->nscopes > BIND_LIST_MAX)
        luaL_error(L, "request view: too many scopes");
    lua_createtable(L, 0, (int)req->nscopes);
    for (i = 0; i < req->nscopes; i++) {
        if (req->scopes[i] == NULL || req->scopes[i][0] == '\0')
            continue;
        push_str(L, "scope", req->scopes[i], strlen(req->scopes[i]));
        lua_pushboolean(L, 1);
        lua_rawset(L, -3);
    }
}

/* Push field `i` of the view (nil when absent) and record the read. */
static void push_field(lua_State *L, oauth2_bind_view_t *v, int i)
{
    const oauth2_policy_request_t *req = v->req;
    unsigned bit = fields[i].bit;
    const char *s;

    v->failed = 1; /* until the copy is complete: a caught error still fails */
    switch (bit) {
    case OAUTH2_VIEW_HEADERS:
        push_headers(L, req);
        break;
    case OAUTH2_VIEW_SCOPES:
        push_scopes(L, req);
        break;
    case OAUTH2_VIEW_CLAIMS:
        if (req->claims != NULL && json_is_object(req->claims))
            push_json(L, req->claims, 1, &v->left);
        else
            lua_newtable(L);
        break;
    default:
        if ((s = oauth2_bind_scalar(req, bit)) != NULL)
            push_str(L, fields[i].name, s, strlen(s));
        else
            lua_pushnil(L);
    }
    v->failed = 0;
    v->mask |= bit;
}

static oauth2_bind_view_t *live_view(lua_State *L)
{
    oauth2_bind_view_t *v = lua_touserdata(L, lua_upvalueindex(1));

    if (v->req == NULL || lua_topointer(L, 1) != v->proxy)
        luaL_error(L, "request view used outside its authorize call");
    return v;
}

/* __index(req, key): copy the field in on first read; later reads are raw. */
static int view_index(lua_State *L)
{
    oauth2_bind_view_t *v = live_view(L);
    const char *k;
    int i;

    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    k = lua_tostring(L, 2);
    for (i = 0; i < OAUTH2_VIEW_NFIELDS; i++) {
        if (strcmp(k, fields[i].name) != 0)
            continue;
        luaL_checkstack(L, 8, "request view");
        push_field(L, v, i);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
        return 1;
    }
    return 0;
}

/* __pairs(req): every field is read, then the table iterates as usual. */
static int view_pairs(lua_State *L)
{
    oauth2_bind_view_t *v = live_view(L);
    int i;

    luaL_checkstack(L, 8, "request view");
    for (i = 0; i < OAUTH2_VIEW_NFIELDS; i++) {
        lua_pushstring(L, fields[i].name);
        if (lua_rawget(L, 1) == LUA_TNIL) {
            lua_pop(L, 1);
            push_field(L, v, i);
            lua_setfield(L, 1, fields[i].name);
        }
        else {
            lua_pop(L, 1);
        }
    }
    lua_pushvalue(L, lua_upvalueindex(2)); /* next */
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

#define VIEW_KEY "oauth2.view"

/* The per-state view record and its metatable, made on first use. */
static oauth2_bind_view_t *view_of(lua_State *L)
{
    oauth2_bind_view_t *v;

    if (lua_getfield(L, LUA_REGISTRYINDEX, VIEW_KEY) == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        v = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return v; /* the metatable stays on the stack */
    }
    lua_pop(L, 1);
    lua_createtable(L, 1, 3);
    v = lua_newuserdatauv(L, sizeof(*v), 0);
    memset(v, 0, sizeof(*v));
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, 1); /* keeps the record alive with the state */
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, view_index, 1);
    lua_setfield(L, -3, "__index");
    lua_getfield(L, LUA_REGISTRYINDEX, "oauth2.base");
    lua_getfield(L, -1, "next");
    lua_remove(L, -2);
    lua_pushcclosure(L, view_pairs, 2);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0); /* getmetatable(req) == false; no setmetatable */
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, VIEW_KEY);
    return v;
}

oauth2_bind_view_t *oauth2_bind_request(lua_State *L,
                                        const oauth2_policy_request_t *req)
{
    oauth2_bind_view_t *v = view_of(L); /* pushes the metatable */

    lua_createtable(L, 0, 4);
    lua_insert(L, -2);
    lua_setmetatable(L, -2);
    v->req = req;
    v->proxy = lua_topointer(L, -1);
    v->mask = 0;
    v->left = BIND_MEMBERS_MAX;
    v->failed = 0;
    return v;
}

unsigned oauth2_bind_end(oauth2_bind_view_t *v, int *failed)
{
    if (v == NULL) {
        *failed = 0;
        return 0;
    }
    v->req = NULL;
    v->proxy = NULL;
    *failed = v->failed;
    return v->mask;
}

/* ---- results ------------------------------------------------------------- */

/* RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E (safe in scope="..."). */
static int scope_token_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 128)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e)
            return 0;
    }
    return 1;
}

static const char *raw_string(lua_State *L, int tidx, const char *key,
                              size_t *len, int *bad)
{
    const char *s = NULL;

    lua_pushstring(L, key);
    switch (lua_rawget(L, tidx)) {
    case LUA_TSTRING:
        s = lua_tolstring(L, -1, len);
        break;
    case LUA_TNIL:
        break;
    default:
        *bad = 1;
    }
    lua_pop(L, 1); /* the string stays reachable from the table */
    return s;
}

/* Copy the list of scope strings at `idx` (a table or nil) into res. */
static int read_wanted(lua_State *L, int idx, apr_pool_t *p,
                       oauth2_policy_result_t *res, const char **why)
{
    lua_Integer i, n;

    if (lua_isnoneornil(L, idx))
        return 0;
    if (lua_type(L, idx) != LUA_TTABLE) {
        *why = "wanted scopes must be a list of strings";
        return -1;
    }
    n = (lua_Integer)lua_rawlen(L, idx);
    if (n > WANTED_MAX) {
        *why = "too many wanted scopes";
        return -1;
    }
    res->wanted = apr_pcalloc(p, sizeof(char *) * ((size_t)n + 1));
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING) {
            *why = "wanted scopes must be a list of strings";
            return -1;
        }
        s = lua_tolstring(L, -1, &len);
        if (!scope_token_ok(s, len)) {
            *why = "wanted scope is not a valid scope token";
            return -1;
        }
        res->wanted[res->nwanted++] = apr_pstrmemdup(p, s, len);
        lua_pop(L, 1);
    }
    return 0;
}

static int read_table(lua_State *L, int t, apr_pool_t *p,
                      oauth2_policy_result_t *res, const char **why)
{
    size_t n = 0;
    int bad = 0;
    const char *v = raw_string(L, t, "verdict", &n, &bad);
    const char *s;

    if (v != NULL && strcmp(v, "allow") == 0)
        res->allow = 1;
    else if (v == NULL || strcmp(v, "deny") != 0) {
        *why = "result table has no verdict \"allow\" or \"deny\"";
        return -1;
    }
    if ((s = raw_string(L, t, "reason", &n, &bad)) != NULL)
        res->reason = apr_pstrmemdup(p, s, n > 512 ? 512 : n);
    if ((s = raw_string(L, t, "rule", &n, &bad)) != NULL)
        res->rule = apr_pstrmemdup(p, s, n > 512 ? 512 : n);
    if (bad) {
        *why = "result reason/rule must be strings";
        return -1;
    }
    lua_pushliteral(L, "wanted");
    lua_rawget(L, t);
    return read_wanted(L, lua_gettop(L), p, res, why);
}

int oauth2_bind_result(lua_State *L, int first, apr_pool_t *p,
                       oauth2_policy_result_t *res, const char **why)
{
    int rc;

    res->allow = 0;
    res->nwanted = 0;
    res->wanted = NULL;
    if (lua_type(L, first) == LUA_TTABLE) {
        rc = read_table(L, first, p, res, why);
    }
    else if (lua_type(L, first) == LUA_TBOOLEAN) {
        res->allow = lua_toboolean(L, first);
        if (lua_type(L, first + 1) == LUA_TSTRING)
            res->reason = apr_pstrdup(p, lua_tostring(L, first + 1));
        else if (!lua_isnoneornil(L, first + 1)) {
            *why = "reason must be a string";
            rc = -1;
            goto end;
        }
        rc = read_wanted(L, first + 2, p, res, why);
    }
    else {
        *why = apr_psprintf(p,
                            "authorize returned %s; expected a boolean or "
                            "policy.allow/deny",
                            luaL_typename(L, first));
        rc = -1;
    }
end:
    if (rc != 0)
        res->allow = 0;
    else if (res->reason == NULL)
        res->reason = res->allow ? "allowed by policy" : "denied by policy";
    return rc;
}

/* ---- Lua → JSON (test cases) --------------------------------------------- */

static json_t *table_to_json(lua_State *L, int idx, int depth)
{
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);
    json_t *out;

    if (n > 0) {
        out = json_array();
        for (i = 1; i <= n && out != NULL; i++) {
            lua_rawgeti(L, idx, i);
            if (json_array_append_new(out,
                                      oauth2_bind_to_json(L, -1, depth + 1))) {
                json_decref(out);
                out = NULL;
            }
            lua_pop(L, 1);
        }
        return out;
    }
    out = json_object();
    lua_pushnil(L);
    while (out != NULL && lua_next(L, idx) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING ||
            json_object_set_new(out, lua_tostring(L, -2),
                                oauth2_bind_to_json(L, -1, depth + 1))) {
            json_decref(out);
            out = NULL;
            lua_pop(L, 1);
            break;
        }
        lua_pop(L, 1);
    }
    return out;
}

json_t *oauth2_bind_to_json(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    if (depth > BIND_DEPTH_MAX)
        return NULL;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return json_stringn(s, n);
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        return json_real(lua_tonumber(L, idx));
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TTABLE:
        luaL_checkstack(L, 4, "claims");
        return table_to_json(L, idx, depth);
    default:
        return NULL;
    }
}
