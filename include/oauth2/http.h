/*
 * http.h - outbound HTTP for the core, behind a vtable so unit tests can
 * answer with a fake provider. The real implementation is libcurl with TLS
 * verification always on, a timeout on every call and a response-size cap.
 */
#ifndef OAUTH2_HTTP_H
#define OAUTH2_HTTP_H

#include "oauth2/oauth2.h"

typedef struct oauth2_http_request_t {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *content_type; /* POST body type, e.g. form-urlencoded */
    const char *body;
    size_t body_len;
    const char *authorization;   /* whole Authorization value, or NULL */
    const char *accept;          /* default "application/json" */
    apr_interval_time_t timeout; /* whole call; 0 = the client's default */
    size_t max_response;         /* body cap; 0 = the client's default */
    const char *kind;            /* metrics label: "jwks", "discovery", "token",
                                    "userinfo", "introspection"; NULL = "other" */
} oauth2_http_request_t;

typedef struct oauth2_http_response_t {
    int status;       /* HTTP status; any status is a response */
    const char *body; /* NUL-terminated, in ctx->pool */
    size_t body_len;
    const char *content_type;  /* or NULL */
    const char *cache_control; /* or NULL */
} oauth2_http_response_t;

typedef struct oauth2_http_t oauth2_http_t;

struct oauth2_http_t {
    /*
     * OK when a response arrived (whatever its status); UNAVAILABLE for
     * connect failure, timeout, TLS failure or an oversized body; DENIED for
     * a URL that is not allowed (see oauth2_http_url_allowed). Results live
     * in ctx->pool.
     */
    oauth2_status_t (*send)(oauth2_http_t *http, oauth2_ctx_t *ctx,
                            const oauth2_http_request_t *req,
                            oauth2_http_response_t *resp);
    void *data;
};

typedef struct oauth2_http_opts_t {
    apr_interval_time_t timeout;         /* default 5 s */
    apr_interval_time_t connect_timeout; /* default 2 s */
    size_t max_response;                 /* default 1 MiB */
    const char *ca_file;                 /* NULL: the system store */
} oauth2_http_opts_t;

/*
 * The libcurl client. `opts` may be NULL. Thread-safe: one easy handle per
 * call (a per-thread handle cache may come later). Lives as long as `p`.
 */
oauth2_http_t *oauth2_http_curl_create(apr_pool_t *p,
                                       const oauth2_http_opts_t *opts);

/* Once per process, before threads start (curl_global_init). */
oauth2_status_t oauth2_http_global_init(void);

/* Convenience: http->send(http, ctx, req, resp). */
oauth2_status_t oauth2_http_send(oauth2_http_t *http, oauth2_ctx_t *ctx,
                                 const oauth2_http_request_t *req,
                                 oauth2_http_response_t *resp);

/*
 * Outbound URLs must be https, except http to loopback hosts (127.0.0.0/8,
 * [::1], localhost) for local test setups. 1 if allowed, else 0 with
 * ctx->err saying why.
 */
int oauth2_http_url_allowed(oauth2_ctx_t *ctx, const char *url);

/* "k1=v1&k2=v2" with form-urlencoding; args are key, value pairs, NULL end. */
char *oauth2_http_form_encode(apr_pool_t *p, ...);

#endif /* OAUTH2_HTTP_H */
