/*
 * oauth2.h - the vocabulary every core and policy module shares: the result
 * type, the per-call context (pool, log sink, clock, error buffer) and the
 * version. Plain C on APR: never includes an httpd header.
 */
#ifndef OAUTH2_OAUTH2_H
#define OAUTH2_OAUTH2_H

#include <apr_pools.h>
#include <apr_time.h>

#define OAUTH2_VERSION "0.1.0"

/*
 * One result vocabulary. A miss is not an error, and "down" is not "deny":
 * no code path may turn UNAVAILABLE or ERROR into an allow.
 */
typedef enum {
    OAUTH2_OK = 0,
    OAUTH2_DENIED,      /* the input is bad or not allowed: 401/403 */
    OAUTH2_NOT_FOUND,   /* a lookup missed; callers decide what it means */
    OAUTH2_UNAVAILABLE, /* a dependency the decision needs is down: 503 */
    OAUTH2_ERROR        /* our own fault (config, allocation): 500 */
} oauth2_status_t;

#define OAUTH2_ERR_MAX 160

/* Fixed buffer so that reporting an error never allocates. */
typedef struct oauth2_err_t {
    char text[OAUTH2_ERR_MAX];
} oauth2_err_t;

typedef struct oauth2_log_t oauth2_log_t;

/* Metrics sink (see metrics.h): one event per call; NULL = not measured. */
struct oauth2_metric_t;
typedef void (*oauth2_metrics_fn)(void *data, const struct oauth2_metric_t *m);

/*
 * Every core entry point takes a context first. `now` is injected so unit
 * tests run on a fixed clock; `pool` owns the results of the call (the
 * request pool in the adapter).
 */
typedef struct oauth2_ctx_t {
    apr_pool_t *pool;
    const oauth2_log_t *log; /* may be NULL: nothing is logged */
    apr_time_t now;
    oauth2_err_t err;
    oauth2_metrics_fn metrics; /* may be NULL: nothing is measured */
    void *metrics_data;
} oauth2_ctx_t;

/* Fill a context; `log` may be NULL; no metrics sink (set it after). */
void oauth2_ctx_init(oauth2_ctx_t *ctx, apr_pool_t *pool,
                     const oauth2_log_t *log, apr_time_t now);

/* Record why the last call failed, truncated to OAUTH2_ERR_MAX - 1 bytes. */
void oauth2_err_set(oauth2_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "ok", "denied", "not found", "unavailable", "error". */
const char *oauth2_status_str(oauth2_status_t status);

#endif /* OAUTH2_OAUTH2_H */
