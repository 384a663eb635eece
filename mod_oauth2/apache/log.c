/*
 * log.c - routes the core's log lines into Apache's error log with our
 * module index (so `LogLevel oauth2:debug` works) and the core's own file
 * and line, and builds the per-request and per-server contexts that carry
 * that sink. Formats nothing itself: the text arrives formatted and is
 * passed as "%s".
 */
#include "oauth2_apache.h"

static int ap_level(oauth2_log_level_t level)
{
    switch (level) {
    case OAUTH2_LOG_ERROR:
        return APLOG_ERR;
    case OAUTH2_LOG_WARN:
        return APLOG_WARNING;
    case OAUTH2_LOG_NOTICE:
        return APLOG_NOTICE;
    case OAUTH2_LOG_INFO:
        return APLOG_INFO;
    case OAUTH2_LOG_DEBUG:
        return APLOG_DEBUG;
    case OAUTH2_LOG_TRACE:
        break;
    }
    return APLOG_TRACE1;
}

/* The most verbose core level that Apache would still print at `aplevel`. */
static oauth2_log_level_t core_level(int aplevel)
{
    if (aplevel >= APLOG_TRACE1)
        return OAUTH2_LOG_TRACE;
    if (aplevel >= APLOG_DEBUG)
        return OAUTH2_LOG_DEBUG;
    if (aplevel >= APLOG_INFO)
        return OAUTH2_LOG_INFO;
    if (aplevel >= APLOG_NOTICE)
        return OAUTH2_LOG_NOTICE;
    if (aplevel >= APLOG_WARNING)
        return OAUTH2_LOG_WARN;
    return OAUTH2_LOG_ERROR;
}

static void request_sink(void *data, const char *file, int line,
                         oauth2_log_level_t level, const char *msg)
{
    ap_log_rerror_(file, line, APLOG_MODULE_INDEX, ap_level(level), 0,
                   (const request_rec *)data, "%s", msg);
}

static void server_sink(void *data, const char *file, int line,
                        oauth2_log_level_t level, const char *msg)
{
    ap_log_error_(file, line, APLOG_MODULE_INDEX, ap_level(level), 0,
                  (const server_rec *)data, "%s", msg);
}

oauth2_ctx_t *oauth2_ap_request_ctx(request_rec *r)
{
    oauth2_ctx_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    oauth2_log_t *log = apr_pcalloc(r->pool, sizeof(*log));

    log->sink = request_sink;
    log->data = r;
    log->level =
        core_level(ap_get_request_module_loglevel(r, APLOG_MODULE_INDEX));
    oauth2_ctx_init(ctx, r->pool, log,
                    r->request_time ? r->request_time : apr_time_now());
    oauth2_ap_metrics_attach(ctx);
    return ctx;
}

oauth2_ctx_t *oauth2_ap_server_ctx(server_rec *s, apr_pool_t *p)
{
    oauth2_ctx_t *ctx = apr_pcalloc(p, sizeof(*ctx));
    oauth2_log_t *log = apr_pcalloc(p, sizeof(*log));

    log->sink = server_sink;
    log->data = s;
    log->level =
        core_level(ap_get_server_module_loglevel(s, APLOG_MODULE_INDEX));
    oauth2_ctx_init(ctx, p, log, apr_time_now());
    return ctx;
}
