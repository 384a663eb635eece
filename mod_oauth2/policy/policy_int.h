/*
 * policy_int.h - declarations shared by the policy engine's own files
 * (engine.c, sandbox.c, bind.c). Not a public interface: the adapter and the
 * CLI use include/oauth2/policy.h only.
 */
#ifndef OAUTH2_POLICY_INT_H
#define OAUTH2_POLICY_INT_H

#include <lua.h>
#include <lauxlib.h>

#include "oauth2/policy.h"

/* Why a sandboxed run was stopped; sticky until the state is closed. */
#define OAUTH2_SBX_OK 0
#define OAUTH2_SBX_BUDGET 1
#define OAUTH2_SBX_MEMORY 2

/* The registry key of the compiled authorize function. */
#define OAUTH2_SBX_AUTHORIZE "oauth2.authorize"

/*
 * A new capped, sandboxed state: counting allocator with `mem_cap` bytes,
 * allow-listed libraries, bounded string/table functions, our `require`
 * restricted to oauth2.* modules below `lib_path`, instruction hook
 * installed (unarmed). NULL with ctx->err set on failure.
 */
lua_State *oauth2_sbx_open(oauth2_ctx_t *ctx, const char *lib_path,
                           size_t mem_cap);

/* Close the state and free its accounting. NULL is a no-op. */
void oauth2_sbx_close(lua_State *L);

/*
 * Compile `len` bytes of text (never bytecode) named `chunkname` ("@file")
 * and push the chunk with its own _ENV (a fresh table whose __index is the
 * allow-listed base). Returns a lua status; on error the message is pushed.
 */
int oauth2_sbx_load(lua_State *L, const char *buf, size_t len,
                    const char *chunkname);

/* Start / stop counting `instructions` for the code that runs next. */
void oauth2_sbx_arm(lua_State *L, long long instructions);
void oauth2_sbx_disarm(lua_State *L);

/* OAUTH2_SBX_OK, _BUDGET or _MEMORY: did a cap trip since the open? */
int oauth2_sbx_tripped(lua_State *L);

/* Bytes currently allocated by the state. */
size_t oauth2_sbx_used(lua_State *L);

/* Purity, for the decision memo: reset before a decision, then ask whether
 * the run read the clock or randomness (os.time, os.clock, math.random). */
void oauth2_sbx_pure_reset(lua_State *L);
int oauth2_sbx_impure(lua_State *L);

/* Was the function at `idx` declared pure (policy.pure, policy.routes)? */
int oauth2_sbx_marked_pure(lua_State *L, int idx);

/* Fields of the request view: bits of the mask of what a decision read. */
#define OAUTH2_VIEW_METHOD 0x001u
#define OAUTH2_VIEW_PATH 0x002u
#define OAUTH2_VIEW_HOST 0x004u
#define OAUTH2_VIEW_QUERY 0x008u
#define OAUTH2_VIEW_SUB 0x010u
#define OAUTH2_VIEW_CLIENT_ID 0x020u
#define OAUTH2_VIEW_PRINCIPAL 0x040u
#define OAUTH2_VIEW_HEADERS 0x080u
#define OAUTH2_VIEW_SCOPES 0x100u
#define OAUTH2_VIEW_CLAIMS 0x200u
#define OAUTH2_VIEW_NFIELDS 10

/* The string a scalar field is bound as (defaults applied), or NULL. */
const char *oauth2_bind_scalar(const oauth2_policy_request_t *req,
                               unsigned bit);

typedef struct oauth2_bind_view_t oauth2_bind_view_t;

/*
 * Push the request view as the `req` table. Its fields are copied into the
 * state on first read (bounded: depth, members and string sizes), and each
 * read is recorded, so a decision knows which fields it depended on. A read
 * that is too large raises a Lua error and marks the view failed, even if
 * the script catches the error. Valid until oauth2_bind_end(); a `req`
 * kept by the script past that raises on every read. Run it in protected
 * mode.
 */
oauth2_bind_view_t *oauth2_bind_request(lua_State *L,
                                        const oauth2_policy_request_t *req);

/* End the view: the mask of fields read; *failed when a read was too large. */
unsigned oauth2_bind_end(oauth2_bind_view_t *v, int *failed);

/*
 * Read an authorize() result at stack indexes [first, top] into `res`
 * (allow, reason, wanted, rule; strings copied into `p`). Accepted shapes:
 * a table from policy.allow/deny/routes ({verdict=, reason=, wanted=,
 * rule=}) or (boolean, reason, wanted). Returns 0, or -1 with `*why` set
 * when the result has the wrong type. Raw access only: no metamethod runs.
 */
int oauth2_bind_result(lua_State *L, int first, apr_pool_t *p,
                       oauth2_policy_result_t *res, const char **why);

/*
 * Convert the Lua value at `idx` (a test case's claims) into JSON, bounded
 * in depth; NULL when it cannot be represented. Caller owns the result.
 */
json_t *oauth2_bind_to_json(lua_State *L, int idx, int depth);

#endif /* OAUTH2_POLICY_INT_H */
