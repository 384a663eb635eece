/*
 * metrics.c - hands core events to the embedder's metrics sink (metrics.h).
 * Owns no counters and no storage: aggregation is the embedder's job.
 */
#include "oauth2/metrics.h"

void oauth2_metric(const oauth2_ctx_t *ctx, oauth2_metric_kind_t kind,
                   const char *label, oauth2_status_t status,
                   apr_interval_time_t usec)
{
    struct oauth2_metric_t m;

    if (ctx == NULL || ctx->metrics == NULL)
        return;
    m.kind = kind;
    m.label = label ? label : "other";
    m.status = status;
    m.usec = usec < 0 ? 0 : usec;
    ctx->metrics(ctx->metrics_data, &m);
}

apr_time_t oauth2_metric_start(const oauth2_ctx_t *ctx)
{
    return ctx != NULL && ctx->metrics != NULL ? apr_time_now() : 0;
}

apr_interval_time_t oauth2_metric_since(apr_time_t start)
{
    return start == 0 ? 0 : apr_time_now() - start;
}
