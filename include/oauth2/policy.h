/*
 * policy.h - the Lua 5.4 authorization policy engine: load a policy script
 * into capped, sandboxed interpreter states, evaluate a request view against
 * it, and hot-reload it when the file changes. Plain C on APR, jansson and
 * Lua: never includes an httpd header. The Apache adapter maps
 * OAuth2Policy / OAuth2PolicyLimits / Require oauth2-policy onto this API;
 * the `oauth2-policy` CLI uses it offline.
 *
 * Failing closed: every path that is not an explicit allow from the script
 * (Lua error, instruction budget or memory cap exhausted, wrong result type,
 * unusable request view) leaves res->allow == 0.
 */
#ifndef OAUTH2_POLICY_H
#define OAUTH2_POLICY_H

#include <stddef.h>
#include <jansson.h>

#include "oauth2/oauth2.h"

#define OAUTH2_POLICY_DEFAULT_INSTRUCTIONS 200000
#define OAUTH2_POLICY_DEFAULT_MEMORY (4 * 1024 * 1024)
#define OAUTH2_POLICY_DEFAULT_STATES 16
#define OAUTH2_POLICY_DEFAULT_RELOAD_SEC 5
#define OAUTH2_POLICY_DEFAULT_MEMO 1024

#ifndef OAUTH2_POLICY_LIB_DIR
#define OAUTH2_POLICY_LIB_DIR "/usr/local/share/mod_oauth2/lua"
#endif

/* Caps for one policy; fill with oauth2_policy_limits_default(). */
typedef struct oauth2_policy_limits_t {
    long long instructions; /* VM instructions per decision (and per load) */
    size_t memory;          /* bytes per interpreter state */
    int max_idle_states;    /* idle states kept per policy version */
    int reload_interval;    /* seconds between file checks; 0 = never */
    int self_test;          /* run POLICY_test.lua on load/reload if present */
    unsigned memo;          /* decisions memoized per version; 0 = off */
} oauth2_policy_limits_t;

void oauth2_policy_limits_default(oauth2_policy_limits_t *lim);

/*
 * Parse "instructions=200000 memory=4M [states=16] [reload=5] [memo=1024]"
 * (the OAuth2PolicyLimits syntax) over the values already in *lim. Sizes
 * take a K/M/G suffix. DENIED with ctx->err naming the bad word.
 */
oauth2_status_t oauth2_policy_limits_parse(oauth2_ctx_t *ctx, const char *spec,
                                           oauth2_policy_limits_t *lim);

typedef struct oauth2_policy_header_t {
    const char *name; /* lower-cased by the binding */
    const char *value;
} oauth2_policy_header_t;

/*
 * The request as a policy sees it. Everything is copied into the script's
 * state, never referenced. `path` is the raw, undecoded path without the
 * query string (r->unparsed_uri's path in the adapter), so that the helper
 * can refuse ambiguous encodings instead of guessing. NULL strings are
 * absent fields.
 */
typedef struct oauth2_policy_request_t {
    const char *method;
    const char *path;
    const char *host;
    const char *query;
    const oauth2_policy_header_t *headers; /* selected headers */
    size_t nheaders;
    const char *const *scopes; /* granted scopes */
    size_t nscopes;
    const json_t *claims; /* object or NULL; borrowed for the call */
    const char *sub;
    const char *client_id;
    const char *principal; /* "bearer" or "session" */
} oauth2_policy_request_t;

/* A decision; strings live in ctx->pool. */
typedef struct oauth2_policy_result_t {
    int allow;           /* 1 only on an explicit allow */
    const char *reason;  /* for the log; never NULL after eval */
    const char **wanted; /* scopes that would have allowed: 403 scope= */
    size_t nwanted;
    const char *rule;         /* matched route, or NULL */
    const char *version;      /* first 12 hex of the script's SHA-256 */
    apr_interval_time_t usec; /* wall time of the decision */
    int memo;                 /* replayed from the decision memo */
} oauth2_policy_result_t;

typedef struct oauth2_policy_t oauth2_policy_t;

/*
 * Read, compile and shape-check the script at `path` (must return a function
 * authorize(req) or policy.routes{...}) in a fresh sandboxed state, then run
 * PATH_test.lua beside it when limits->self_test is set and the file exists.
 * `lib_path` is the directory holding oauth2/policy.lua (NULL: the compiled-in
 * OAUTH2_POLICY_LIB_DIR). The policy and all its states live until
 * `owner_pool` is cleared. DENIED with "file:line: message" in ctx->err when
 * the script is unusable (configtest prints it); ERROR when it cannot be read.
 */
oauth2_status_t oauth2_policy_load(oauth2_ctx_t *ctx, apr_pool_t *owner_pool,
                                   const char *path, const char *lib_path,
                                   const oauth2_policy_limits_t *limits,
                                   oauth2_policy_t **out);

/*
 * Decide on one request; thread-safe. OK: the script decided and
 * res->allow says how. ERROR: the script failed (Lua error, budget, memory
 * cap, wrong result type, request view too large): res->allow == 0,
 * res->reason and ctx->err say why, and a numbered line was logged. The
 * adapter maps ERROR like mod_lua's AUTHZ_GENERAL_ERROR (500), never allow.
 */
oauth2_status_t oauth2_policy_eval(oauth2_ctx_t *ctx, oauth2_policy_t *policy,
                                   const oauth2_policy_request_t *req,
                                   oauth2_policy_result_t *res);

/*
 * At most every limits.reload_interval seconds of ctx->now, stat the file;
 * when mtime or size changed, load the new version (compile, shape, self
 * test) and activate it only if all pass. OK when nothing changed or the new
 * version is active; DENIED when a new version was refused (logged, the old
 * one stays in force). States of a retired version are closed when their
 * evaluations end.
 */
oauth2_status_t oauth2_policy_maybe_reload(oauth2_ctx_t *ctx,
                                           oauth2_policy_t *policy);

/*
 * One decision as a single-line JSON object, for OAuth2PolicyLog and for
 * comparing an OAuth2PolicyShadow policy: policy, version, method, path,
 * host, sub, client_id, principal, decision ("allow", "deny" or "error"
 * when `st` is not OK), reason, rule, wanted, usec. Never includes claims,
 * headers or tokens. Result in `p`.
 */
const char *oauth2_policy_decision_json(apr_pool_t *p,
                                        const oauth2_policy_t *policy,
                                        const oauth2_policy_request_t *req,
                                        const oauth2_policy_result_t *res,
                                        oauth2_status_t st);

/*
 * Where the processes sharing one policy (Apache children) record the
 * version the last successful load or reload made current: memory shared
 * across fork (the adapter uses anonymous shared memory), zeroed by the
 * caller. Reloads are per process; with a slot, a process whose reload is
 * refused while it still holds an older version than the slot names denies
 * every request (eval ERROR) until the file loads again, instead of
 * enforcing that older version. Without a slot (NULL, the default) the
 * process keeps whatever it has.
 */
typedef struct oauth2_policy_shared_t {
    volatile apr_uint32_t seq; /* odd while being written */
    volatile char sha[13];
} oauth2_policy_shared_t;

/* Attach slot and record this process's current version in it. */
void oauth2_policy_share(oauth2_policy_t *policy, oauth2_policy_shared_t *slot);

/* First 12 hex digits of the active script's SHA-256. */
const char *oauth2_policy_version(const oauth2_policy_t *policy);

/* The script path given to oauth2_policy_load. */
const char *oauth2_policy_path(const oauth2_policy_t *policy);

/*
 * Decisions answered from the memo so far. A version whose authorize is
 * declared pure (policy.routes{...} or policy.pure(fn)) keeps up to
 * limits.memo decisions, each under the values of the request fields it
 * read; a request with the same values gets the same decision without
 * running Lua. A run that read os.time/os.clock/math.random, failed, or
 * read fields too large to key is never kept.
 */
unsigned long oauth2_policy_memo_hits(const oauth2_policy_t *policy);

/* Interpreter states created so far (for tests and the status page). */
unsigned long oauth2_policy_states_created(const oauth2_policy_t *policy);

/*
 * Run the cases of `test_path` (a Lua file returning a list of
 * { name=, method=, path=, scopes={}, claims={}, expect="allow"|"deny",
 *   wanted={} } tables) against the active version. Failures are logged
 * (one numbered line each) and counted. OK when the file ran (even with
 * failures), DENIED when it is unusable.
 */
oauth2_status_t oauth2_policy_run_tests(oauth2_ctx_t *ctx,
                                        oauth2_policy_t *policy,
                                        const char *test_path, int *passed,
                                        int *failed);

/* PATH with ".lua" replaced by "_test.lua" (or appended), in `p`. */
const char *oauth2_policy_test_path(apr_pool_t *p, const char *path);

#endif /* OAUTH2_POLICY_H */
