/*
 * sha256.c - oauth2_sha256 and its hex form. The verdict cache key and the
 * session store key are hashed on every request, and OpenSSL 3.0's EVP
 * digests allocate their provider state on every EVP_DigestInit_ex2, even
 * on a reused context. The low-level SHA256_* interface keeps its state on
 * the stack and skips the provider dispatch: nothing is allocated outside
 * the caller's pool. It is deprecated since 3.0 but still built (Debian
 * builds it); EVP is used where it is not, and when the process runs with
 * FIPS properties (the low-level code is outside the FIPS provider).
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <string.h>

#include <openssl/configuration.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#ifndef OPENSSL_NO_DEPRECATED_3_0
#include <openssl/sha.h>
#define HAVE_LOW_LEVEL_SHA256 1
#endif

#include "oauth2/util.h"

static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;
static int sha256_evp = 1;

static void choose_sha256(void)
{
#ifdef HAVE_LOW_LEVEL_SHA256
    sha256_evp = EVP_default_properties_is_fips_enabled(NULL);
#endif
}

int oauth2_sha256(const void *data, size_t len,
                  unsigned char out[OAUTH2_SHA256_LEN])
{
    unsigned int n = 0;
    int evp = 1;

    if (CRYPTO_THREAD_run_once(&sha256_once, choose_sha256) == 1)
        evp = sha256_evp;
#ifdef HAVE_LOW_LEVEL_SHA256
    if (!evp) {
        SHA256_CTX c;
        int ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, data, len) == 1 &&
                 SHA256_Final(out, &c) == 1;

        OPENSSL_cleanse(&c, sizeof(c));
        if (ok)
            return 1;
    }
#endif
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 &&
        n == OAUTH2_SHA256_LEN)
        return 1;
    /* Only on allocation failure inside OpenSSL: callers fail closed. */
    memset(out, 0, OAUTH2_SHA256_LEN);
    return 0;
}

char *oauth2_sha256_hex(apr_pool_t *p, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[OAUTH2_SHA256_LEN];
    char *out;
    int i;

    if (!oauth2_sha256(data, len, md))
        return NULL;
    out = apr_palloc(p, OAUTH2_SHA256_LEN * 2 + 1);
    for (i = 0; i < OAUTH2_SHA256_LEN; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[OAUTH2_SHA256_LEN * 2] = '\0';
    return out;
}
