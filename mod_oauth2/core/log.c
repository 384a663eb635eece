/*
 * log.c - formats core log messages into the context's pool and hands them
 * to the embedder's sink. Also the two helpers that make untrusted bytes
 * and secrets safe to print. Never decides where a line goes.
 */
#include <stdarg.h>
#include <string.h>

#include <apr_strings.h>

#include "oauth2/log.h"
#include "oauth2/util.h"

#define ESCAPE_MAX_INPUT 256

int oauth2_log_enabled(const oauth2_ctx_t *ctx, oauth2_log_level_t level)
{
    return ctx != NULL && ctx->log != NULL && ctx->log->sink != NULL &&
           level <= ctx->log->level;
}

void oauth2_log_write(const oauth2_ctx_t *ctx, const char *file, int line,
                      oauth2_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    /* Checked before formatting: debug lines cost nothing when off. */
    if (!oauth2_log_enabled(ctx, level))
        return;
    va_start(ap, fmt);
    msg = apr_pvsprintf(ctx->pool, fmt, ap);
    va_end(ap);
    ctx->log->sink(ctx->log->data, file, line, level, msg);
}

const char *oauth2_log_escape(apr_pool_t *p, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n, i, o = 0;
    char *out;

    if (s == NULL)
        return "(null)";
    n = len > ESCAPE_MAX_INPUT ? ESCAPE_MAX_INPUT : len;
    out = apr_palloc(p, n * 4 + 4);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        }
        else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }
    if (n < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

const char *oauth2_log_redact(apr_pool_t *p, const char *secret, size_t len)
{
    unsigned char md[OAUTH2_SHA256_LEN];

    if (secret == NULL)
        return "<none>";
    if (!oauth2_sha256(secret, len, md))
        return "<redacted>";
    return apr_psprintf(p, "sha256:%02x%02x%02x%02x", md[0], md[1], md[2],
                        md[3]);
}
