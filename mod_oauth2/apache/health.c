/*
 * health.c - `SetHandler oauth2-health`: 200 {"status":"ok",...} when the
 * virtual host's session store answers (a GET of a probe key: a miss is
 * fine) and every configured provider's metadata is loaded or can be
 * fetched now; otherwise 503 {"status":"unavailable","reason":...}. For
 * load balancers and monitoring. Never Cache-able, never reveals a secret
 * (the reason is the core's error text, which holds none).
 */
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <jansson.h>

#include "oauth2_apache.h"
#include "oauth2/store.h"

#define PROBE_KEY "oauth2:health:probe"

/* "ok", "none" (no store configured), or NULL with ctx->err set. */
static const char *store_state(request_rec *r, oauth2_ctx_t *ctx)
{
    oauth2_store_t *st;
    oauth2_status_t rc;
    char *val = NULL;

    if (oauth2_ap_session_store(oauth2_ap_srv_cfg(r->server)) == NULL)
        return "none";
    if ((st = oauth2_ap_rp_store(r)) == NULL) {
        oauth2_err_set(ctx, "the session store cannot be built");
        return NULL;
    }
    rc = oauth2_store_get(ctx, st, PROBE_KEY, &val, NULL);
    if (rc != OAUTH2_OK && rc != OAUTH2_NOT_FOUND)
        return NULL;
    return "ok";
}

/* Every provider's metadata; the first that fails names itself in ctx. */
static int providers_ok(request_rec *r, oauth2_ctx_t *ctx, json_t *out)
{
    oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(r->server);
    apr_hash_index_t *hi;

    if (c == NULL || c->providers == NULL)
        return 1;
    for (hi = apr_hash_first(r->pool, c->providers); hi;
         hi = apr_hash_next(hi)) {
        const oauth2_ap_provider_t *ap = apr_hash_this_val(hi);
        oauth2_provider_meta_t *meta = NULL;
        if (oauth2_ap_rp_meta(r, ctx, ap, &meta) != OAUTH2_OK) {
            char tmp[OAUTH2_ERR_MAX];
            apr_cpystrn(tmp, ctx->err.text, sizeof(tmp));
            oauth2_err_set(ctx, "provider %s: %s", ap->rp.name, tmp);
            return 0;
        }
        json_object_set_new(out, ap->rp.name, json_string("ok"));
    }
    return 1;
}

static int answer(request_rec *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(body);
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    if (text != NULL) {
        if (!r->header_only)
            ap_rprintf(r, "%s\n", text);
        free(text);
    }
    return OK;
}

static int handler(request_rec *r)
{
    oauth2_ctx_t *ctx;
    json_t *provs, *body;
    const char *store;

    if (r->handler == NULL || strcmp(r->handler, "oauth2-health") != 0)
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    ctx = oauth2_ap_request_ctx(r);
    provs = json_object();
    store = store_state(r, ctx);
    if (store == NULL || !providers_ok(r, ctx, provs)) {
        json_decref(provs);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00901) "health: unavailable: %s%s",
                      store == NULL ? "session store: " : "", ctx->err.text);
        return answer(
            r, HTTP_SERVICE_UNAVAILABLE,
            json_pack("{s:s, s:s+}", "status", "unavailable", "reason",
                      store == NULL ? "session store: " : "", ctx->err.text));
    }
    body = json_pack("{s:s, s:s, s:o}", "status", "ok", "store", store,
                     "providers", provs);
    return answer(r, HTTP_OK, body);
}

void oauth2_ap_health_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
}
