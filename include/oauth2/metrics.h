/*
 * metrics.h - the core's metrics sink: like the log sink, a callback the
 * embedder supplies in the context (ctx->metrics, ctx->metrics_data). The
 * core reports a handful of events (outbound HTTP calls, store operations,
 * verified-token cache lookups) and never counts or aggregates itself; the
 * Apache adapter adds them to shared memory (apache/metrics.c). NULL sink =
 * nothing is measured (and no clock is read).
 */
#ifndef OAUTH2_METRICS_H
#define OAUTH2_METRICS_H

#include "oauth2/oauth2.h"

typedef enum {
    OAUTH2_METRIC_HTTP = 0,   /* outbound call: label = endpoint kind */
    OAUTH2_METRIC_STORE,      /* store operation: label = get/set/del/touch */
    OAUTH2_METRIC_TOKEN_CACHE /* verified-token cache: OK = hit, else miss */
} oauth2_metric_kind_t;

/*
 * One event. `label` is a static string from a small fixed set (never
 * client bytes); `status` is the operation's result; `usec` its duration
 * (0 when the kind has none).
 */
struct oauth2_metric_t {
    oauth2_metric_kind_t kind;
    const char *label;
    oauth2_status_t status;
    apr_interval_time_t usec;
};

/* Report one event to ctx's sink, if any. Never fails, never allocates. */
void oauth2_metric(const oauth2_ctx_t *ctx, oauth2_metric_kind_t kind,
                   const char *label, oauth2_status_t status,
                   apr_interval_time_t usec);

/*
 * Wall-clock start of a measured operation: apr_time_now() when ctx has a
 * sink, else 0 (so unmeasured calls never read the clock). Durations are
 * real elapsed time, which ctx->now (the request's fixed time) cannot give.
 */
apr_time_t oauth2_metric_start(const oauth2_ctx_t *ctx);

/* Elapsed microseconds since `start` (0 when start is 0). */
apr_interval_time_t oauth2_metric_since(apr_time_t start);

#endif /* OAUTH2_METRICS_H */
