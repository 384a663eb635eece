/*
 * sha256.c - oauth2_sha256 and its hex form. The verdict cache key and the
 * session store key are hashed on every request, and OpenSSL 3.0's EVP
 * digests allocate their provider state on every EVP_DigestInit_ex2, even
 * on a reused context. The low-level SHA256_* interface keeps its state on
 * the stack and skips the provider dispatch: nothing is allocated outside
 * the caller's pool. It is deprecated since 3.0 but still built (Debian
 * builds it). It is used only when SHA-256 would come from OpenSSL's own
 * "default" provider anyway; under FIPS (or any other provider), or where
 * the low-level interface is not built, EVP is used, with the algorithm
 * fetched once and one digest context per thread.
 */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif

#include <pthread.h>
#include <string.h>

#include <openssl/macros.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#ifndef OPENSSL_NO_DEPRECATED_3_0
#include <openssl/sha.h>
#define HAVE_LOW_LEVEL_SHA256 1
#endif

#include "oauth2/util.h"

static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256_md;
static int sha256_low;
static pthread_key_t sha256_ctx_key;
static int sha256_ctx_key_ok;

static void free_md_ctx(void *c)
{
    EVP_MD_CTX_free(c);
}

static void choose_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_ctx_key_ok = pthread_key_create(&sha256_ctx_key, free_md_ctx) == 0;
#ifdef HAVE_LOW_LEVEL_SHA256
    sha256_low =
        sha256_md != NULL &&
        strcmp(OSSL_PROVIDER_get0_name(EVP_MD_get0_provider(sha256_md)),
               "default") == 0;
#endif
}

/* Whether this process hashes without allocating (the low-level path). */
int oauth2_sha256_on_stack(void)
{
    return CRYPTO_THREAD_run_once(&sha256_once, choose_sha256) == 1 &&
           sha256_low;
}

/* This thread's EVP context, created on first use; NULL when short. */
static EVP_MD_CTX *thread_md_ctx(void)
{
    EVP_MD_CTX *c;

    if (!sha256_ctx_key_ok)
        return NULL;
    if ((c = pthread_getspecific(sha256_ctx_key)) != NULL)
        return c;
    if ((c = EVP_MD_CTX_new()) != NULL &&
        pthread_setspecific(sha256_ctx_key, c) != 0) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    return c;
}

int oauth2_sha256(const void *data, size_t len,
                  unsigned char out[OAUTH2_SHA256_LEN])
{
    EVP_MD_CTX *c = NULL;
    unsigned int n = 0;
    int once = CRYPTO_THREAD_run_once(&sha256_once, choose_sha256) == 1;

#ifdef HAVE_LOW_LEVEL_SHA256
    if (once && sha256_low) {
        SHA256_CTX s;
        int ok = SHA256_Init(&s) == 1 && SHA256_Update(&s, data, len) == 1 &&
                 SHA256_Final(out, &s) == 1;

        OPENSSL_cleanse(&s, sizeof(s));
        if (ok)
            return 1;
    }
#endif
    if (once && sha256_md != NULL)
        c = thread_md_ctx();
    if (c != NULL && EVP_DigestInit_ex2(c, sha256_md, NULL) == 1 &&
        EVP_DigestUpdate(c, data, len) == 1 &&
        EVP_DigestFinal_ex(c, out, &n) == 1 && n == OAUTH2_SHA256_LEN)
        return 1;
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
