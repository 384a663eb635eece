/*
 * fake_http.h - a header-only fake oauth2_http_t for unit tests: canned
 * responses looked up by exact method + URL, a call counter, and the last
 * request seen (copied into the fake's pool). Header-only (static inline)
 * so only the tests that include it carry it; helpers.c stays unchanged.
 *
 *   th_fake_http_t fh;
 *   th_fake_http_init(&fh, f->pool);
 *   th_fake_http_add(&fh, "GET", "https://idp/jwks", 200, "{...}");
 *   th_fake_http_add_status(&fh, "GET", "https://idp/down",
 * OAUTH2_UNAVAILABLE); oauth2_http_send(&fh.base, &f->ctx, &req, &resp);
 *
 * Unknown URLs give UNAVAILABLE with ctx->err "fake: no response for ...".
 * Disallowed URLs (oauth2_http_url_allowed) give DENIED, like the real one.
 */
#ifndef OAUTH2_TEST_FAKE_HTTP_H
#define OAUTH2_TEST_FAKE_HTTP_H

#include <string.h>

#include <apr_strings.h>

#include "oauth2/http.h"

#define TH_FAKE_HTTP_MAX 32

typedef struct th_fake_http_entry_t {
    const char *method;
    const char *url;
    oauth2_status_t result; /* OK: answer with the fields below */
    int status;
    const char *body;
    const char *content_type;
    const char *cache_control;
    int calls;
} th_fake_http_entry_t;

typedef struct th_fake_http_t {
    oauth2_http_t base;
    apr_pool_t *pool;
    th_fake_http_entry_t entries[TH_FAKE_HTTP_MAX];
    int n;
    int calls;                  /* all sends, matched or not */
    oauth2_http_request_t last; /* copy of the last request */
} th_fake_http_t;

static inline oauth2_status_t
th_fake_http_send(oauth2_http_t *http, oauth2_ctx_t *ctx,
                  const oauth2_http_request_t *req,
                  oauth2_http_response_t *resp)
{
    th_fake_http_t *fh = http->data;
    int i;

    memset(resp, 0, sizeof(*resp));
    fh->calls++;
    fh->last = *req;
    fh->last.url = apr_pstrdup(fh->pool, req->url);
    fh->last.body =
        req->body ? apr_pstrmemdup(fh->pool, req->body, req->body_len) : NULL;
    fh->last.authorization = apr_pstrdup(fh->pool, req->authorization);
    if (!oauth2_http_url_allowed(ctx, req->url))
        return OAUTH2_DENIED;
    for (i = 0; i < fh->n; i++) {
        th_fake_http_entry_t *e = &fh->entries[i];
        if (strcmp(e->method, req->method) != 0 || strcmp(e->url, req->url))
            continue;
        e->calls++;
        if (e->result != OAUTH2_OK) {
            oauth2_err_set(ctx, "fake: %s", oauth2_status_str(e->result));
            return e->result;
        }
        resp->status = e->status;
        resp->body = apr_pstrdup(ctx->pool, e->body ? e->body : "");
        resp->body_len = strlen(resp->body);
        resp->content_type = e->content_type;
        resp->cache_control = e->cache_control;
        return OAUTH2_OK;
    }
    oauth2_err_set(ctx, "fake: no response for %s %s", req->method, req->url);
    return OAUTH2_UNAVAILABLE;
}

static inline void th_fake_http_init(th_fake_http_t *fh, apr_pool_t *p)
{
    memset(fh, 0, sizeof(*fh));
    fh->pool = p;
    fh->base.send = th_fake_http_send;
    fh->base.data = fh;
}

/* Answer method+url with status/body (content type application/json). */
static inline th_fake_http_entry_t *
th_fake_http_add(th_fake_http_t *fh, const char *method, const char *url,
                 int status, const char *body)
{
    th_fake_http_entry_t *e;

    if (fh->n >= TH_FAKE_HTTP_MAX)
        return NULL;
    e = &fh->entries[fh->n++];
    memset(e, 0, sizeof(*e));
    e->method = method;
    e->url = url;
    e->result = OAUTH2_OK;
    e->status = status;
    e->body = body;
    e->content_type = "application/json";
    return e;
}

/* Fail method+url with `result` (UNAVAILABLE, ERROR...) instead. */
static inline th_fake_http_entry_t *
th_fake_http_add_status(th_fake_http_t *fh, const char *method, const char *url,
                        oauth2_status_t result)
{
    th_fake_http_entry_t *e = th_fake_http_add(fh, method, url, 0, NULL);

    if (e != NULL)
        e->result = result;
    return e;
}

#endif /* OAUTH2_TEST_FAKE_HTTP_H */
