/*
 * http.c - the libcurl implementation of oauth2_http_t (see http.h), the
 * outbound URL policy and form encoding. Every call has a total and a
 * connect timeout, TLS verification on, http/https only, no redirects, and
 * a response-size cap enforced while the body streams in. Never logs a body
 * or an Authorization value; URLs only escaped.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <curl/curl.h>

#include "oauth2/http.h"
#include "oauth2/log.h"
#include "oauth2/metrics.h"

#define DEFAULT_TIMEOUT apr_time_from_sec(5)
#define DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(2)
#define DEFAULT_MAX_RESPONSE (1024 * 1024)
#define MAX_URL_LEN 4096
#define MAX_HEADER_VALUE 1024

typedef struct client_t {
    oauth2_http_t base;
    oauth2_http_opts_t opts;
} client_t;

/* What the callbacks fill while one transfer runs. */
typedef struct xfer_t {
    char *buf; /* malloc'd, freed by the caller at end: */
    size_t len;
    size_t cap;
    size_t max;
    int too_big;
    apr_pool_t *pool;
    const char *content_type;
    const char *cache_control;
} xfer_t;

oauth2_status_t oauth2_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? OAUTH2_OK
                                                             : OAUTH2_ERROR;
}

oauth2_status_t oauth2_http_send(oauth2_http_t *http, oauth2_ctx_t *ctx,
                                 const oauth2_http_request_t *req,
                                 oauth2_http_response_t *resp)
{
    apr_time_t t0 = oauth2_metric_start(ctx);
    oauth2_status_t rc = http->send(http, ctx, req, resp);

    oauth2_metric(ctx, OAUTH2_METRIC_HTTP, req->kind, rc,
                  oauth2_metric_since(t0));
    return rc;
}

/* ---- URL policy ---------------------------------------------------- */

static int is_loopback_v4(const char *h, size_t n)
{
    unsigned int oct[4];
    size_t i = 0;
    int k;

    for (k = 0; k < 4; k++) {
        size_t digits = 0;
        oct[k] = 0;
        while (i < n && h[i] >= '0' && h[i] <= '9' && digits < 3) {
            oct[k] = oct[k] * 10 + (unsigned int)(h[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || oct[k] > 255)
            return 0;
        if (k < 3) {
            if (i >= n || h[i] != '.')
                return 0;
            i++;
        }
    }
    return i == n && oct[0] == 127;
}

static int is_loopback_host(const char *h, size_t n)
{
    if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
        return 1;
    if (n == 5 && memcmp(h, "[::1]", 5) == 0)
        return 1;
    return is_loopback_v4(h, n);
}

/* Splits "host[:port]" of an authority; 0 with ctx->err on a bad form. */
static int check_authority(oauth2_ctx_t *ctx, const char *a, size_t n,
                           size_t *hostlen)
{
    const char *colon;
    size_t h, i;

    if (memchr(a, '@', n) != NULL) {
        oauth2_err_set(ctx, "URL must not carry userinfo");
        return 0;
    }
    if (n > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (rb == NULL) {
            oauth2_err_set(ctx, "URL has an unterminated IPv6 literal");
            return 0;
        }
        h = (size_t)(rb - a) + 1;
    }
    else {
        colon = memchr(a, ':', n);
        h = colon ? (size_t)(colon - a) : n;
    }
    if (h == 0 || (a[0] == '[' && h <= 2)) {
        oauth2_err_set(ctx, "URL has no host");
        return 0;
    }
    if (h < n) {
        if (a[h] != ':' || h + 1 == n || n - h - 1 > 5) {
            oauth2_err_set(ctx, "URL has a bad port");
            return 0;
        }
        for (i = h + 1; i < n; i++) {
            if (a[i] < '0' || a[i] > '9') {
                oauth2_err_set(ctx, "URL has a bad port");
                return 0;
            }
        }
    }
    *hostlen = h;
    return 1;
}

int oauth2_http_url_allowed(oauth2_ctx_t *ctx, const char *url)
{
    const char *a;
    size_t i, n, hostlen;
    int https;

    if (url == NULL || *url == '\0') {
        oauth2_err_set(ctx, "URL is empty");
        return 0;
    }
    for (i = 0; url[i] != '\0'; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            oauth2_err_set(ctx, "URL contains whitespace, control or "
                                "non-ASCII bytes");
            return 0;
        }
        if (i >= MAX_URL_LEN) {
            oauth2_err_set(ctx, "URL longer than %d bytes", MAX_URL_LEN);
            return 0;
        }
    }
    if (strncasecmp(url, "https://", 8) == 0) {
        https = 1;
        a = url + 8;
    }
    else if (strncasecmp(url, "http://", 7) == 0) {
        https = 0;
        a = url + 7;
    }
    else {
        oauth2_err_set(ctx, "URL scheme must be https (or http to loopback)");
        return 0;
    }
    n = strcspn(a, "/?#");
    if (!check_authority(ctx, a, n, &hostlen))
        return 0;
    if (!https && !is_loopback_host(a, hostlen)) {
        oauth2_err_set(ctx, "plain http only to loopback hosts: %s",
                       oauth2_log_escape(ctx->pool, a, hostlen));
        return 0;
    }
    return 1;
}

/* ---- form encoding ------------------------------------------------- */

static void form_escape(char **o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            *(*o)++ = (char)c;
        }
        else if (c == ' ') {
            *(*o)++ = '+';
        }
        else {
            *(*o)++ = '%';
            *(*o)++ = hex[c >> 4];
            *(*o)++ = hex[c & 0xf];
        }
    }
}

/*
 * Pairs whose value is NULL are skipped (optional parameters); a NULL key
 * ends the list. Everything but unreserved bytes is %XX, space is '+'.
 */
char *oauth2_http_form_encode(apr_pool_t *p, ...)
{
    va_list ap;
    const char *k, *v;
    size_t need = 1;
    char *out, *o;

    va_start(ap, p);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (v != NULL)
            need += 3 * (strlen(k) + strlen(v)) + 2;
    }
    va_end(ap);
    out = o = apr_palloc(p, need);
    va_start(ap, p);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (v == NULL)
            continue;
        if (o != out)
            *o++ = '&';
        form_escape(&o, k);
        *o++ = '=';
        form_escape(&o, v);
    }
    va_end(ap);
    *o = '\0';
    return out;
}

/* ---- libcurl transfer ---------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer_t *x = userp;
    size_t n = size * nmemb;

    if (n > x->max || x->len > x->max - n) {
        x->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t ncap = x->cap ? x->cap : 4096;
        char *nb;
        while (ncap < x->len + n + 1)
            ncap *= 2;
        nb = realloc(x->buf, ncap);
        if (nb == NULL)
            return 0;
        x->buf = nb;
        x->cap = ncap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    return n;
}

/* A header value without the name, leading blanks or trailing CR/LF. */
static const char *header_value(apr_pool_t *p, const char *line, size_t n,
                                size_t namelen)
{
    const char *v = line + namelen;
    size_t vl = n - namelen;

    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
                      v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (vl > MAX_HEADER_VALUE)
        vl = MAX_HEADER_VALUE;
    return apr_pstrmemdup(p, v, vl);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    xfer_t *x = userp;
    size_t n = size * nmemb;

    /* A new status line (after 100 Continue) starts a new header set. */
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        x->content_type = NULL;
        x->cache_control = NULL;
    }
    else if (n > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
        x->content_type = header_value(x->pool, line, n, 13);
    }
    else if (n > 14 && strncasecmp(line, "Cache-Control:", 14) == 0) {
        x->cache_control = header_value(x->pool, line, n, 14);
    }
    return n;
}

static struct curl_slist *
build_headers(apr_pool_t *p, const oauth2_http_request_t *req, int *ok)
{
    struct curl_slist *h = NULL, *t;
    const char *lines[4];
    int i, n = 0;

    lines[n++] = apr_pstrcat(
        p, "Accept: ", req->accept ? req->accept : "application/json", NULL);
    lines[n++] = "Expect:"; /* no 100-continue round trip */
    if (req->content_type != NULL)
        lines[n++] = apr_pstrcat(p, "Content-Type: ", req->content_type, NULL);
    if (req->authorization != NULL)
        lines[n++] =
            apr_pstrcat(p, "Authorization: ", req->authorization, NULL);
    *ok = 1;
    for (i = 0; i < n; i++) {
        if (strpbrk(lines[i], "\r\n") != NULL ||
            (t = curl_slist_append(h, lines[i])) == NULL) {
            *ok = 0;
            break;
        }
        h = t;
    }
    return h;
}

static long ms(apr_interval_time_t t)
{
    return t < 1000 ? 1L : (long)(t / 1000);
}

static int setup_easy(CURL *c, const client_t *cl,
                      const oauth2_http_request_t *req, xfer_t *x,
                      struct curl_slist *hdrs)
{
    apr_interval_time_t to = req->timeout ? req->timeout : cl->opts.timeout;
    int rc = 0;

    rc |= curl_easy_setopt(c, CURLOPT_URL, req->url);
    rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                           (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    /* 0 ms would mean "no timeout" to libcurl: never below 1 ms. */
    rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms(to));
    rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                           ms(cl->opts.connect_timeout));
    /* Refuses early when Content-Length announces too much; the write
     * callback still enforces the cap for chunked or lying responses. */
    rc |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    rc |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    rc |= curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "mod_oauth2/" OAUTH2_VERSION);
    if (cl->opts.ca_file != NULL)
        rc |= curl_easy_setopt(c, CURLOPT_CAINFO, cl->opts.ca_file);
    if (strcmp(req->method, "POST") == 0) {
        rc |=
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                               (curl_off_t)(req->body ? req->body_len : 0));
    }
    else {
        rc |= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    return rc == 0;
}

static oauth2_status_t check_request(oauth2_ctx_t *ctx,
                                     const oauth2_http_request_t *req)
{
    if (req->method == NULL ||
        (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)) {
        oauth2_err_set(ctx, "HTTP method must be GET or POST");
        return OAUTH2_ERROR;
    }
    if (!oauth2_http_url_allowed(ctx, req->url)) {
        oauth2_log_warn(ctx, OAUTH2_LOGNO(00200) "outbound URL refused: %s",
                        ctx->err.text);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

static oauth2_status_t curl_send(oauth2_http_t *http, oauth2_ctx_t *ctx,
                                 const oauth2_http_request_t *req,
                                 oauth2_http_response_t *resp)
{
    client_t *cl = http->data;
    xfer_t x;
    CURL *c = NULL;
    struct curl_slist *hdrs = NULL;
    oauth2_status_t st;
    CURLcode rc;
    long code = 0;
    int ok;
    apr_time_t t0 = apr_time_now(); /* elapsed time for the log only */

    memset(resp, 0, sizeof(*resp));
    memset(&x, 0, sizeof(x));
    x.pool = ctx->pool;
    x.max = req->max_response ? req->max_response : cl->opts.max_response;
    if ((st = check_request(ctx, req)) != OAUTH2_OK)
        return st;
    st = OAUTH2_ERROR;
    c = curl_easy_init();
    hdrs = build_headers(ctx->pool, req, &ok);
    if (c == NULL || !ok || !setup_easy(c, cl, req, &x, hdrs)) {
        oauth2_err_set(ctx, "cannot set up the HTTP request");
        goto end;
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        if (x.too_big || rc == CURLE_FILESIZE_EXCEEDED)
            oauth2_err_set(ctx, "HTTP response larger than %lu bytes",
                           (unsigned long)x.max);
        else
            oauth2_err_set(ctx, "HTTP request failed: %s",
                           curl_easy_strerror(rc));
        oauth2_log_warn(
            ctx, OAUTH2_LOGNO(00201) "%s %s: %s", req->method,
            oauth2_log_escape(ctx->pool, req->url, strlen(req->url)),
            ctx->err.text);
        st = OAUTH2_UNAVAILABLE;
        goto end;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    resp->status = (int)code;
    resp->body = x.buf ? apr_pstrmemdup(ctx->pool, x.buf, x.len) : "";
    resp->body_len = x.len;
    resp->content_type = x.content_type;
    resp->cache_control = x.cache_control;
    oauth2_log_debug(ctx,
                     OAUTH2_LOGNO(00202) "%s %s: status %d, %lu bytes, "
                                         "%ld ms",
                     req->method,
                     oauth2_log_escape(ctx->pool, req->url, strlen(req->url)),
                     resp->status, (unsigned long)x.len,
                     (long)((apr_time_now() - t0) / 1000));
    st = OAUTH2_OK;
end:
    if (c != NULL)
        curl_easy_cleanup(c);
    if (hdrs != NULL)
        curl_slist_free_all(hdrs);
    free(x.buf);
    return st;
}

oauth2_http_t *oauth2_http_curl_create(apr_pool_t *p,
                                       const oauth2_http_opts_t *opts)
{
    client_t *cl = apr_pcalloc(p, sizeof(*cl));

    if (opts != NULL)
        cl->opts = *opts;
    if (cl->opts.timeout <= 0)
        cl->opts.timeout = DEFAULT_TIMEOUT;
    if (cl->opts.connect_timeout <= 0)
        cl->opts.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    if (cl->opts.max_response == 0)
        cl->opts.max_response = DEFAULT_MAX_RESPONSE;
    if (cl->opts.ca_file != NULL)
        cl->opts.ca_file = apr_pstrdup(p, cl->opts.ca_file);
    cl->base.send = curl_send;
    cl->base.data = cl;
    return &cl->base;
}
