/*
 * fuzz_session_plain.c - libFuzzer target: a session record's plaintext
 * (v1 JSON or v2 length-prefixed tokens + JSON) through
 * oauth2_session_decode, which fuzz_session cannot reach past AES-GCM.
 * Nothing may crash, leak or read out of bounds; what decodes must encode
 * and decode again to the same fields.
 */
#include <stdint.h>
#include <string.h>

#include <apr_general.h>
#include <openssl/crypto.h>

#include "oauth2/session.h"
#include "../../mod_oauth2/core/session_plain.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static int same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_session_t *s = NULL, *t = NULL;
    unsigned char *pt = NULL;
    size_t len = 0;

    apr_pool_create(&p, root);
    oauth2_ctx_init(&ctx, p, NULL, apr_time_from_sec(1767225600));
    if (oauth2_session_new(&ctx, "fuzz", &s) == OAUTH2_OK &&
        oauth2_session_decode(&ctx, s, data, size) == OAUTH2_OK &&
        oauth2_session_encode(&ctx, s, &pt, &len) == OAUTH2_OK) {
        if (oauth2_session_new(&ctx, "fuzz", &t) != OAUTH2_OK ||
            oauth2_session_decode(&ctx, t, pt, len) != OAUTH2_OK ||
            !same(s->sub, t->sub) || !same(s->provider, t->provider) ||
            !same(s->sid, t->sid) || !same(s->id_token, t->id_token) ||
            !same(s->access_token, t->access_token) ||
            !same(s->refresh_token, t->refresh_token) ||
            s->created != t->created || s->expires_at != t->expires_at ||
            s->last_access != t->last_access ||
            !json_equal(s->claims, t->claims))
            __builtin_trap();
        OPENSSL_clear_free(pt, len);
    }
    apr_pool_destroy(p);
    return 0;
}
