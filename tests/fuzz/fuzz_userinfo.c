/*
 * fuzz_userinfo.c - libFuzzer target: a userinfo response (status + body)
 * through oauth2_rp_userinfo with an expected `sub`, then the identity
 * claim lookup the adapter does on it.
 */
#include "fuzz_common.h"
#include "oauth2/rp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const oauth2_rp_provider_t prov = {
        .name = "fz", .client_id = "client", .scope = "openid", .userinfo = 1};
    static const oauth2_provider_meta_t meta = {
        .issuer = FZ_ISSUER,
        .authorization_endpoint = FZ_ISSUER "/auth",
        .token_endpoint = FZ_ISSUER "/token",
        .userinfo_endpoint = FZ_ISSUER "/userinfo"};
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    json_t *ui = NULL;
    const char *sub;

    fz_init();
    fz_answer_set(data, size);
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    if (oauth2_rp_userinfo(&ctx, &fz_http, &prov, &meta, "at", "alice", &ui) ==
        OAUTH2_OK) {
        sub = oauth2_rp_claim_text(p, ui, "sub");
        if (sub == NULL || strcmp(sub, "alice") != 0)
            abort(); /* accepted userinfo for another subject */
        (void)oauth2_rp_claim_text(p, ui, "address.country");
        (void)oauth2_rp_claim_text(p, ui, "a.b.c.d");
    }
    apr_pool_destroy(p);
    return 0;
}
