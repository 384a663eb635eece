/*
 * fuzz_jws.c - libFuzzer target: compact JWS parse, then verify against a
 * fixed JWKS (the RFC 7515 A.2 RSA, A.3 P-256 and RFC 8037 Ed25519 keys)
 * with every algorithm allowed. Any crash, leak or UB is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>

#include "oauth2/jose.h"

static apr_pool_t *root;
static oauth2_jwks_t *keys;

/* Debian's APR allocates pools with mmap, which LeakSanitizer does not scan:
 * the keys (and the verification contexts prepared with them) are freed by
 * destroying their pool at exit, so nothing long-lived looks leaked. */
static void at_exit(void)
{
    apr_pool_destroy(root);
}

static const char jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":"
    "\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-"
    "4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47"
    "soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R"
    "2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-"
    "DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
    "\"e\":\"AQAB\"},"
    "{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    oauth2_ctx_t ctx;

    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    oauth2_ctx_init(&ctx, root, NULL, apr_time_from_sec(1767225600));
    if (oauth2_jwks_parse(&ctx, root, jwks, strlen(jwks), &keys) != OAUTH2_OK)
        __builtin_trap();
    atexit(at_exit);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_jws_t *jws = NULL;

    apr_pool_create(&p, root);
    oauth2_ctx_init(&ctx, p, NULL, apr_time_from_sec(1767225600));
    if (oauth2_jws_parse(&ctx, (const char *)data, size, &jws) == OAUTH2_OK)
        (void)oauth2_jws_verify(&ctx, jws, keys, OAUTH2_ALG_ALL);
    apr_pool_destroy(p);
    return 0;
}
