/*
 * fuzz_introspect.c - libFuzzer target: an RFC 7662 introspection
 * response (status + body) for an opaque token, through the verifier.
 * Every input uses a fresh token so the verdict cache never answers.
 * A non-200 or non-object answer must never yield a principal.
 */
#include "fuzz_common.h"
#include "oauth2/verify.h"

static oauth2_verifier_t *ver;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const argv[] = {
        "introspect=https://idp.example/introspect", ("issuer=" FZ_ISSUER),
        ("audience=api"), "client_id=rs", "client_secret=s"};
    static unsigned long n;
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_principal_t *pr = NULL;
    oauth2_status_t st;

    fz_init();
    if (ver == NULL) {
        oauth2_ctx_init(&ctx, fz_root, NULL, FZ_NOW);
        if (oauth2_verifier_parse(&ctx, 5, argv, &ver) != OAUTH2_OK)
            abort();
        oauth2_verifier_set_http(ver, &fz_http);
    }
    fz_answer_set(data, size);
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    st = oauth2_verify_token(&ctx, &ver, 1,
                             apr_psprintf(p, "opaque-token-%lu", n++), &pr);
    if (st == OAUTH2_OK && (fz_answer.status != 200 || pr == NULL))
        abort(); /* a failed call turned into a principal */
    apr_pool_destroy(p);
    return 0;
}
