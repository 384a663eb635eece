/*
 * log.h - the core's logging: a sink callback supplied by the embedder
 * (Apache adapter, CLI, tests), numbered messages, and the helpers that keep
 * client bytes and secrets out of log files in readable form.
 */
#ifndef OAUTH2_LOG_H
#define OAUTH2_LOG_H

#include <stddef.h>
#include "oauth2/oauth2.h"

typedef enum {
    OAUTH2_LOG_ERROR = 0,
    OAUTH2_LOG_WARN,
    OAUTH2_LOG_NOTICE,
    OAUTH2_LOG_INFO,
    OAUTH2_LOG_DEBUG,
    OAUTH2_LOG_TRACE
} oauth2_log_level_t;

/* `msg` is already formatted; the sink must print it as data ("%s"). */
typedef void (*oauth2_log_sink_fn)(void *data, const char *file, int line,
                                   oauth2_log_level_t level, const char *msg);

struct oauth2_log_t {
    oauth2_log_sink_fn sink;
    void *data;
    oauth2_log_level_t level; /* messages above this level are not formatted */
};

/*
 * Numbered messages, APLOGNO style: every line at debug or above carries a
 * number that is never reused. Ranges per area are listed in
 * tests/tools/lognos.txt; tests/tools/check_lognos.sh enforces uniqueness.
 */
#define OAUTH2_LOGNO(n) "OA" #n ": "

void oauth2_log_write(const oauth2_ctx_t *ctx, const char *file, int line,
                      oauth2_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* True when a message at `level` would reach the sink: skip costly work. */
int oauth2_log_enabled(const oauth2_ctx_t *ctx, oauth2_log_level_t level);

#define oauth2_log_error(ctx, ...)                                             \
    oauth2_log_write((ctx), __FILE__, __LINE__, OAUTH2_LOG_ERROR, __VA_ARGS__)
#define oauth2_log_warn(ctx, ...)                                              \
    oauth2_log_write((ctx), __FILE__, __LINE__, OAUTH2_LOG_WARN, __VA_ARGS__)
#define oauth2_log_notice(ctx, ...)                                            \
    oauth2_log_write((ctx), __FILE__, __LINE__, OAUTH2_LOG_NOTICE, __VA_ARGS__)
#define oauth2_log_info(ctx, ...)                                              \
    oauth2_log_write((ctx), __FILE__, __LINE__, OAUTH2_LOG_INFO, __VA_ARGS__)
#define oauth2_log_debug(ctx, ...)                                             \
    oauth2_log_write((ctx), __FILE__, __LINE__, OAUTH2_LOG_DEBUG, __VA_ARGS__)
#define oauth2_log_trace(ctx, ...)                                             \
    oauth2_log_write((ctx), __FILE__, __LINE__, OAUTH2_LOG_TRACE, __VA_ARGS__)

/*
 * Copy untrusted bytes for a log line: printable ASCII stays, everything
 * else (and '"' and '\\') becomes \xNN; cut after 256 input bytes with "...".
 * NULL gives "(null)". Result in `p`.
 */
const char *oauth2_log_escape(apr_pool_t *p, const char *s, size_t len);

/*
 * Name a secret without revealing it: "sha256:<first 8 hex of SHA-256>",
 * or "<none>" for NULL. Tokens, codes, cookies and passwords are logged
 * only through this.
 */
const char *oauth2_log_redact(apr_pool_t *p, const char *secret, size_t len);

#endif /* OAUTH2_LOG_H */
