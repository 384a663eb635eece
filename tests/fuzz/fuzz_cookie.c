/*
 * fuzz_cookie.c - libFuzzer target: a Cookie header through the pair
 * iterator and oauth2_cookie_get; the session cookie's value (when sent
 * exactly once) then goes through oauth2_session_parse_cookie, as the
 * adapter does.
 */
#include "fuzz_common.h"
#include "oauth2/reqparse.h"
#include "oauth2/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_cookie_pair_t c;
    oauth2_session_t *s = NULL;
    const char *hdr, *pos, *v = NULL;
    int n = 0, count = 0;

    fz_init();
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    hdr = apr_pstrmemdup(p, (const char *)data, size);
    for (pos = hdr; oauth2_cookie_next(&pos, &c); n++)
        if (c.name + c.name_len > hdr + size ||
            (c.value && c.value + c.value_len > hdr + size))
            abort(); /* a pair outside the header */
    if (oauth2_cookie_get(&ctx, hdr, "oauth2_session", &v, &count) ==
        OAUTH2_OK) {
        if (count != 1)
            abort();
        (void)oauth2_session_parse_cookie(&ctx, "vhost:fz", v, &s);
    }
    apr_pool_destroy(p);
    return 0;
}
