/*
 * fuzz_authz_header.c - libFuzzer target: an Authorization header value
 * through oauth2_bearer_parse. A token it returns must be non-empty and
 * free of the separators that delimit it.
 */
#include "fuzz_common.h"
#include "oauth2/reqparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    const char *tok = NULL;

    fz_init();
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    if (oauth2_bearer_parse(&ctx, apr_pstrmemdup(p, (const char *)data, size),
                            &tok) == OAUTH2_OK &&
        (tok == NULL || *tok == '\0' || strpbrk(tok, " \t,") != NULL))
        abort();
    apr_pool_destroy(p);
    return 0;
}
