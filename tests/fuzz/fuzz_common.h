/*
 * fuzz_common.h - shared by the libFuzzer targets that feed provider
 * responses: a root pool, and a fake oauth2_http_t that answers every URL
 * with the current fuzz input (status and body), except the JWKS URL,
 * which gets a fixed key set. Header-only: each target is one binary.
 */
#ifndef OAUTH2_FUZZ_COMMON_H
#define OAUTH2_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "oauth2/http.h"

#define FZ_NOW apr_time_from_sec(1767225600)
#define FZ_ISSUER "https://idp.example"
#define FZ_JWKS_URL "https://idp.example/jwks"

/* The RFC 7515 A.3 P-256 public key. */
static const char fz_jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

static apr_pool_t *fz_root;
static struct {
    int status;
    const char *body;
    size_t len;
} fz_answer;

static inline oauth2_status_t fz_send(oauth2_http_t *http, oauth2_ctx_t *ctx,
                                      const oauth2_http_request_t *req,
                                      oauth2_http_response_t *resp)
{
    (void)http;
    memset(resp, 0, sizeof(*resp));
    if (strcmp(req->url, FZ_JWKS_URL) == 0) {
        resp->status = 200;
        resp->body = fz_jwks;
        resp->body_len = sizeof(fz_jwks) - 1;
        return OAUTH2_OK;
    }
    resp->status = fz_answer.status;
    resp->body = apr_pstrmemdup(ctx->pool, fz_answer.body, fz_answer.len);
    resp->body_len = fz_answer.len;
    resp->content_type = "application/json";
    return OAUTH2_OK;
}

static oauth2_http_t fz_http = {fz_send, NULL};

/* First byte picks the HTTP status (mostly 200), the rest is the body. */
static inline void fz_answer_set(const uint8_t *data, size_t size)
{
    static const int st[] = {200, 200, 200, 400, 401, 500};
    fz_answer.status = size ? st[data[0] % 6] : 200;
    fz_answer.body = size ? (const char *)data + 1 : "";
    fz_answer.len = size ? size - 1 : 0;
}

/*
 * Debian's APR takes pool memory from mmap, which LeakSanitizer does not
 * scan: keys cached for the whole run would look leaked at exit unless the
 * root pool (and the cleanups that free them) goes first.
 */
static void fz_fini(void)
{
    apr_pool_destroy(fz_root);
    fz_root = NULL;
}

static inline void fz_init(void)
{
    if (fz_root == NULL) {
        apr_initialize();
        apr_pool_create(&fz_root, NULL);
        atexit(fz_fini);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* OAUTH2_FUZZ_COMMON_H */
