/*
 * metrics.c - `SetHandler oauth2-metrics`: counters and latency histograms
 * aggregated over all Apache processes, served in the Prometheus text
 * format (version 0.0.4).
 *
 * Storage: one anonymous shared-memory segment created in post_config,
 * before the children fork, so every child maps the same table. A series
 * (metric + label set) owns one slot, found by hashing and linear probing
 * and claimed with a compare-and-swap; counts are added with APR atomics.
 * No lock and no allocation on the hot path; a full table drops the event
 * and counts it in oauth2_metrics_dropped_total. The segment lives in
 * pconf: a restart starts from zero, which Prometheus treats as a reset.
 *
 * Also the core's metrics sink (metrics.h events -> series) and the
 * adapter's one-line instrumentation calls (sign-ins, bearer verdicts,
 * policy decisions). Never records a client-supplied string: label values
 * are static reasons or names from the configuration.
 */
#include <string.h>

#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <http_protocol.h>

#include "oauth2_apache.h"
#include "oauth2/metrics.h"

#define SLOTS 512
#define LABELS_MAX 120
#define BUCKETS 11
#define CLAIM_SPINS 1000

enum { FREE = 0, CLAIMING = 1, READY = 2 };

/* Histogram upper bounds in microseconds; +Inf is the count. */
static const apr_uint64_t bounds[BUCKETS] = {1000,   2500,    5000,   10000,
                                             25000,  50000,   100000, 250000,
                                             500000, 1000000, 2500000};
static const char *const bound_text[BUCKETS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",   "0.25",   "0.5",   "1",    "2.5"};

typedef enum {
    M_SIGNIN_STARTED = 0,
    M_SIGNIN_COMPLETED,
    M_SIGNIN_FAILED,
    M_BEARER,
    M_POLICY,
    M_STORE_ERRORS,
    M_STORE_SECONDS,
    M_HTTP_ERRORS,
    M_HTTP_SECONDS,
    M_TOKEN_CACHE,
    M_COUNT
} metric_t;

typedef struct def_t {
    const char *name;
    int histogram;
    const char *help;
} def_t;

static const def_t defs[M_COUNT] = {
    {"oauth2_signins_started_total", 0,
     "Browser sign-ins sent to a provider, by provider."},
    {"oauth2_signins_completed_total", 0,
     "Sign-ins that ended with a new session, by provider."},
    {"oauth2_signins_failed_total", 0, "Sign-ins that failed, by reason."},
    {"oauth2_bearer_verdicts_total", 0,
     "Bearer-token decisions, by result (ok or the reason for refusing)."},
    {"oauth2_policy_decisions_total", 0,
     "Require oauth2-policy decisions, by virtual host and result."},
    {"oauth2_store_errors_total", 0,
     "Session store operations that failed (unavailable or error), by op."},
    {"oauth2_store_duration_seconds", 1,
     "Session store operation latency, by op."},
    {"oauth2_http_client_errors_total", 0,
     "Outbound HTTP calls without a response, by endpoint kind."},
    {"oauth2_http_client_duration_seconds", 1,
     "Outbound HTTP call latency, by endpoint kind."},
    {"oauth2_token_cache_lookups_total", 0,
     "Verified-token cache lookups, by result (hit or miss)."},
};

typedef struct slot_t {
    volatile apr_uint32_t state;
    apr_uint32_t metric;
    char labels[LABELS_MAX];
    volatile apr_uint64_t count;
    volatile apr_uint64_t sum_usec;
    volatile apr_uint64_t bucket[BUCKETS];
} slot_t;

typedef struct table_t {
    volatile apr_uint64_t dropped;
    slot_t slot[SLOTS];
} table_t;

/* Set in post_config (the parent), inherited by every child. */
static table_t *table;

/* ---- the shared table --------------------------------------------------- */

static apr_uint32_t hash(metric_t m, const char *labels)
{
    apr_uint32_t h = 2166136261u ^ (apr_uint32_t)m;

    for (; *labels; labels++)
        h = (h ^ (unsigned char)*labels) * 16777619u;
    return h;
}

/* Wait (bounded) for a slot another process is filling in. */
static int settled(slot_t *s)
{
    int i;

    for (i = 0; i < CLAIM_SPINS; i++)
        if (apr_atomic_read32(&s->state) == READY)
            return 1;
    return 0;
}

/*
 * The slot of (m, labels), claimed when new. NULL (the event is dropped and
 * counted) when the table is full, or when a slot stays half-claimed by a
 * descheduled process: probing past it could create a duplicate series.
 */
static slot_t *series(metric_t m, const char *labels)
{
    apr_uint32_t i, h = hash(m, labels);
    slot_t *s;

    for (i = 0; i < SLOTS; i++) {
        s = &table->slot[(h + i) % SLOTS];
        if (apr_atomic_read32(&s->state) == FREE &&
            apr_atomic_cas32(&s->state, CLAIMING, FREE) == FREE) {
            s->metric = (apr_uint32_t)m;
            apr_cpystrn(s->labels, labels, sizeof(s->labels));
            apr_atomic_set32(&s->state, READY);
            return s;
        }
        if (!settled(s))
            break;
        if (s->metric == (apr_uint32_t)m && strcmp(s->labels, labels) == 0)
            return s;
    }
    apr_atomic_inc64(&table->dropped);
    return NULL;
}

static void bump(slot_t *s, metric_t m, apr_uint64_t usec)
{
    int b;

    apr_atomic_inc64(&s->count);
    if (!defs[m].histogram)
        return;
    apr_atomic_add64(&s->sum_usec, usec);
    for (b = 0; b < BUCKETS && usec > bounds[b]; b++)
        ;
    if (b < BUCKETS)
        apr_atomic_inc64(&s->bucket[b]);
}

static void add(metric_t m, const char *labels, apr_uint64_t usec)
{
    slot_t *s;

    if (table != NULL && (s = series(m, labels)) != NULL)
        bump(s, m, usec);
}

/*
 * add() for a call site that counts the same series again and again: *hint
 * keeps the slot found last time, so the hash and the probe run once. The
 * hint is checked before use (in this table, ready, same series): a stale or
 * foreign one only costs a lookup.
 */
static void add_hinted(void **hint, metric_t m, const char *labels,
                       apr_uint64_t usec)
{
    slot_t *s = *(slot_t *volatile *)hint;

    if (table == NULL)
        return;
    if (s == NULL || s < table->slot || s >= table->slot + SLOTS ||
        apr_atomic_read32(&s->state) != READY || s->metric != (apr_uint32_t)m ||
        strcmp(s->labels, labels) != 0) {
        if ((s = series(m, labels)) == NULL)
            return;
        apr_atomic_xchgptr((volatile void **)hint, s);
    }
    bump(s, m, usec);
}

/*
 * `key="value"` into buf, the value escaped as the text format wants
 * (backslash, quote, newline) and cut to fit. Values are never client
 * bytes, but configuration names may hold anything.
 */
static const char *label(char *buf, size_t n, const char *key,
                         const char *value)
{
    size_t o = strlen(key);

    if (o + 6 > n) /* keys are ours and short: never */
        o = 0;
    memcpy(buf, key, o);
    buf[o++] = '=';
    buf[o++] = '"';
    for (; value && *value && o + 4 < n; value++) {
        if (*value == '\\' || *value == '"' || *value == '\n') {
            buf[o++] = '\\';
            buf[o++] = *value == '\n' ? 'n' : *value;
        }
        else
            buf[o++] = *value;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static void count1(metric_t m, const char *key, const char *value)
{
    char buf[LABELS_MAX];

    add(m, label(buf, sizeof(buf), key, value), 0);
}

/* ---- the core's sink ---------------------------------------------------- */

static int failed_status(oauth2_status_t st)
{
    return st == OAUTH2_UNAVAILABLE || st == OAUTH2_ERROR;
}

static void core_sink(void *data, const struct oauth2_metric_t *m)
{
    char buf[LABELS_MAX];

    (void)data;
    switch (m->kind) {
    case OAUTH2_METRIC_HTTP:
        label(buf, sizeof(buf), "endpoint", m->label);
        add(M_HTTP_SECONDS, buf, (apr_uint64_t)m->usec);
        if (failed_status(m->status))
            add(M_HTTP_ERRORS, buf, 0);
        break;
    case OAUTH2_METRIC_STORE:
        label(buf, sizeof(buf), "op", m->label);
        add(M_STORE_SECONDS, buf, (apr_uint64_t)m->usec);
        if (failed_status(m->status))
            add(M_STORE_ERRORS, buf, 0);
        break;
    case OAUTH2_METRIC_TOKEN_CACHE: {
        static void *hint[2];
        int hit = m->status == OAUTH2_OK;

        add_hinted(&hint[hit], M_TOKEN_CACHE,
                   hit ? "result=\"hit\"" : "result=\"miss\"", 0);
        break;
    }
    }
}

void oauth2_ap_metrics_attach(oauth2_ctx_t *ctx)
{
    if (table != NULL) {
        ctx->metrics = core_sink;
        ctx->metrics_data = NULL;
    }
}

/* ---- adapter instrumentation ------------------------------------------- */

void oauth2_ap_metrics_signin_started(request_rec *r, const char *provider)
{
    (void)r;
    count1(M_SIGNIN_STARTED, "provider", provider);
}

void oauth2_ap_metrics_signin_completed(request_rec *r, const char *provider)
{
    (void)r;
    count1(M_SIGNIN_COMPLETED, "provider", provider);
}

void oauth2_ap_metrics_signin_failed(request_rec *r, const char *reason)
{
    (void)r;
    count1(M_SIGNIN_FAILED, "reason", reason);
}

/* The reason of a failed callback, from the status it answers with. */
void oauth2_ap_metrics_signin_failed_status(request_rec *r, int status)
{
    oauth2_ap_metrics_signin_failed(
        r, status == HTTP_BAD_REQUEST           ? "invalid_callback"
           : status == HTTP_FORBIDDEN           ? "refused"
           : status == HTTP_BAD_GATEWAY         ? "provider_unavailable"
           : status == HTTP_SERVICE_UNAVAILABLE ? "store_unavailable"
                                                : "error");
}

void oauth2_ap_metrics_bearer(request_rec *r, const char *result)
{
    (void)r;
    count1(M_BEARER, "result", result);
}

void oauth2_ap_metrics_bearer_status(request_rec *r, oauth2_status_t st)
{
    static const char *const labels[] = {
        "result=\"ok\"", "result=\"invalid_token\"", "result=\"unavailable\"",
        "result=\"error\""};
    static void *hint[4];
    int i = st == OAUTH2_OK                                 ? 0
            : st == OAUTH2_DENIED || st == OAUTH2_NOT_FOUND ? 1
            : st == OAUTH2_UNAVAILABLE                      ? 2
                                                            : 3;

    (void)r;
    add_hinted(&hint[i], M_BEARER, labels[i], 0);
}

const char *oauth2_ap_metrics_policy_labels(apr_pool_t *p, server_rec *s,
                                            int allow)
{
    char buf[LABELS_MAX], host[64];
    const char *name = s->server_hostname;
    size_t o;

    apr_snprintf(host, sizeof(host), "%s:%u", name ? name : "",
                 (unsigned)s->port);
    label(buf, sizeof(buf) - 24, "vhost", host);
    o = strlen(buf);
    label(buf + o, sizeof(buf) - o, ",result", allow ? "allow" : "deny");
    return apr_pstrdup(p, buf);
}

void oauth2_ap_metrics_policy_add(const char *labels, void **hint)
{
    add_hinted(hint, M_POLICY, labels, 0);
}

/* ---- the handler ------------------------------------------------------- */

static void render_histogram(request_rec *r, const def_t *d, slot_t *s)
{
    apr_uint64_t cum = 0;
    const char *sep = s->labels[0] ? "," : "";
    int b;

    for (b = 0; b < BUCKETS; b++) {
        cum += apr_atomic_read64(&s->bucket[b]);
        ap_rprintf(r, "%s_bucket{%s%sle=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   d->name, s->labels, sep, bound_text[b], cum);
    }
    ap_rprintf(r, "%s_bucket{%s%sle=\"+Inf\"} %" APR_UINT64_T_FMT "\n", d->name,
               s->labels, sep, apr_atomic_read64(&s->count));
    ap_rprintf(r, "%s_sum{%s} %.6f\n", d->name, s->labels,
               (double)apr_atomic_read64(&s->sum_usec) / 1e6);
    ap_rprintf(r, "%s_count{%s} %" APR_UINT64_T_FMT "\n", d->name, s->labels,
               apr_atomic_read64(&s->count));
}

static void render(request_rec *r)
{
    int m, i;

    for (m = 0; m < M_COUNT; m++) {
        const def_t *d = &defs[m];
        ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
                   d->histogram ? "histogram" : "counter");
        for (i = 0; i < SLOTS; i++) {
            slot_t *s = &table->slot[i];
            if (apr_atomic_read32(&s->state) != READY ||
                s->metric != (apr_uint32_t)m)
                continue;
            if (d->histogram)
                render_histogram(r, d, s);
            else
                ap_rprintf(r, "%s{%s} %" APR_UINT64_T_FMT "\n", d->name,
                           s->labels, apr_atomic_read64(&s->count));
        }
    }
    ap_rprintf(r,
               "# HELP oauth2_metrics_dropped_total Events not counted "
               "because the series table was full.\n"
               "# TYPE oauth2_metrics_dropped_total counter\n"
               "oauth2_metrics_dropped_total %" APR_UINT64_T_FMT "\n",
               apr_atomic_read64(&table->dropped));
}

static int handler(request_rec *r)
{
    if (r->handler == NULL || strcmp(r->handler, "oauth2-metrics") != 0)
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if (table == NULL)
        return HTTP_SERVICE_UNAVAILABLE;
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only)
        render(r);
    return OK;
}

/* The table, before the children fork; once per (re)start. */
static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    apr_shm_t *shm = NULL;
    apr_status_t rv;

    (void)plog;
    (void)ptemp;
    table = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    apr_atomic_init(pconf);
    rv = apr_shm_create(&shm, sizeof(table_t), NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     OAUTH2_LOGNO(00900) "metrics: cannot create the "
                                         "shared table (%" APR_SIZE_T_FMT
                                         " bytes); metrics are off",
                     sizeof(table_t));
        return OK;
    }
    table = apr_shm_baseaddr_get(shm);
    memset(table, 0, sizeof(*table));
    return OK;
}

void oauth2_ap_metrics_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
}
