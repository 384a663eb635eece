/*
 * ctx.c - the per-call context and its error buffer. Owns nothing but the
 * formatting of error text; never allocates.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "oauth2/oauth2.h"

void oauth2_ctx_init(oauth2_ctx_t *ctx, apr_pool_t *pool,
                     const oauth2_log_t *log, apr_time_t now)
{
    ctx->pool = pool;
    ctx->log = log;
    ctx->now = now;
    ctx->err.text[0] = '\0';
    ctx->metrics = NULL;
    ctx->metrics_data = NULL;
}

void oauth2_err_set(oauth2_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    /* vsnprintf truncates and always terminates: the buffer is fixed. */
    vsnprintf(ctx->err.text, sizeof(ctx->err.text), fmt, ap);
    va_end(ap);
}

const char *oauth2_status_str(oauth2_status_t status)
{
    switch (status) {
    case OAUTH2_OK:
        return "ok";
    case OAUTH2_DENIED:
        return "denied";
    case OAUTH2_NOT_FOUND:
        return "not found";
    case OAUTH2_UNAVAILABLE:
        return "unavailable";
    case OAUTH2_ERROR:
        return "error";
    }
    return "unknown";
}
