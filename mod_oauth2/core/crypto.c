/*
 * crypto.c - HKDF-SHA256 and AES-256-GCM seal/open (see crypto.h) on
 * OpenSSL 3 EVP. Owns the sealed-value format and the key-ring order; never
 * stores keys (derived keys live on the stack and are cleansed) and never
 * logs plaintext, keys or passphrases.
 */
#include <string.h>

#include <apr_strings.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "oauth2/crypto.h"
#include "oauth2/util.h"

#define PREFIX_LEN (sizeof(OAUTH2_CRYPTO_PREFIX) - 1)
#define OVERHEAD (OAUTH2_CRYPTO_IV_LEN + OAUTH2_CRYPTO_TAG_LEN)
#define NOT_AUTHENTIC                                                          \
    "sealed value does not authenticate (tampered, truncated, wrong key or "   \
    "context)"

/*
 * HKDF and AES-256-GCM fetched from the default provider once per process.
 * OpenSSL 3 resolves EVP_KDF_fetch() and the legacy EVP_aes_256_gcm() handle
 * through the provider store on every call (a locked lookup), which cost
 * more than the derivation itself on each session request. The fetched
 * objects are immutable and thread-safe; they live until exit. NULL after a
 * failed fetch: callers then report an error, never skip the crypto.
 */
static CRYPTO_ONCE algs_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_KDF *hkdf_alg;
static EVP_CIPHER *gcm_alg;

static void fetch_algs(void)
{
    hkdf_alg = EVP_KDF_fetch(NULL, "HKDF", NULL);
    gcm_alg = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static int algs_ready(void)
{
    return CRYPTO_THREAD_run_once(&algs_once, fetch_algs) == 1 &&
           hkdf_alg != NULL && gcm_alg != NULL;
}

oauth2_status_t oauth2_crypto_hkdf(oauth2_ctx_t *ctx, const void *ikm,
                                   size_t ikmlen, const void *salt,
                                   size_t saltlen, const char *info,
                                   unsigned char *out, size_t outlen)
{
    EVP_KDF_CTX *kc = NULL;
    OSSL_PARAM params[5], *p = params;
    oauth2_status_t st = OAUTH2_ERROR;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
                                             ikmlen);
    if (salt != NULL && saltlen > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                 (void *)salt, saltlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *)(info ? info : ""),
                                             info ? strlen(info) : 0);
    *p = OSSL_PARAM_construct_end();
    if (!algs_ready() || (kc = EVP_KDF_CTX_new(hkdf_alg)) == NULL ||
        EVP_KDF_derive(kc, out, outlen, params) != 1) {
        oauth2_err_set(ctx, "HKDF-SHA256 failed");
        goto end;
    }
    st = OAUTH2_OK;
end:
    EVP_KDF_CTX_free(kc);
    return st;
}

oauth2_status_t oauth2_crypto_aead_seal(oauth2_ctx_t *ctx,
                                        const unsigned char *key,
                                        const void *aad, size_t aadlen,
                                        const void *pt, size_t ptlen,
                                        char **out)
{
    EVP_CIPHER_CTX *c = NULL;
    unsigned char *buf, *iv, *ct, *tag;
    int n = 0, fin = 0;
    oauth2_status_t st = OAUTH2_ERROR;

    if (ptlen > OAUTH2_CRYPTO_MAX_SEALED) {
        oauth2_err_set(ctx, "plaintext too long to seal");
        return OAUTH2_ERROR;
    }
    buf = apr_palloc(ctx->pool, ptlen + OVERHEAD);
    iv = buf;
    ct = buf + OAUTH2_CRYPTO_IV_LEN;
    tag = ct + ptlen;
    if (RAND_bytes(iv, OAUTH2_CRYPTO_IV_LEN) != 1) {
        oauth2_err_set(ctx, "no randomness for the IV");
        return OAUTH2_UNAVAILABLE;
    }
    if (!algs_ready() || (c = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_EncryptInit_ex2(c, gcm_alg, key, iv, NULL) != 1 ||
        (aadlen > 0 && EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_EncryptUpdate(c, ct, &n, pt, (int)ptlen) != 1 ||
        EVP_EncryptFinal_ex(c, ct + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, OAUTH2_CRYPTO_TAG_LEN,
                            tag) != 1) {
        oauth2_err_set(ctx, "AES-256-GCM seal failed");
        goto end;
    }
    *out = apr_pstrcat(ctx->pool, OAUTH2_CRYPTO_PREFIX,
                       oauth2_b64url_encode(ctx->pool, buf, ptlen + OVERHEAD),
                       NULL);
    st = OAUTH2_OK;
end:
    EVP_CIPHER_CTX_free(c);
    return st;
}

/* "v1." + base64url → raw bytes in the pool; DENIED with a reason. */
static oauth2_status_t decode_sealed(oauth2_ctx_t *ctx, const char *in,
                                     size_t inlen, unsigned char **raw,
                                     size_t *rawlen)
{
    size_t n = 0;

    if (in == NULL || inlen > OAUTH2_CRYPTO_MAX_SEALED) {
        oauth2_err_set(ctx, "sealed value missing or too long");
        return OAUTH2_DENIED;
    }
    if (inlen < PREFIX_LEN ||
        memcmp(in, OAUTH2_CRYPTO_PREFIX, PREFIX_LEN) != 0) {
        oauth2_err_set(ctx, "sealed value has an unknown version");
        return OAUTH2_DENIED;
    }
    if (oauth2_b64url_decode(ctx, in + PREFIX_LEN, inlen - PREFIX_LEN, raw,
                             &n) != OAUTH2_OK) {
        oauth2_err_set(ctx, "sealed value is not base64url");
        return OAUTH2_DENIED;
    }
    if (n < OVERHEAD) {
        oauth2_err_set(ctx, "sealed value too short");
        return OAUTH2_DENIED;
    }
    *rawlen = n;
    return OAUTH2_OK;
}

/* Decrypt decoded bytes; DENIED when the tag does not verify. */
static oauth2_status_t gcm_open(oauth2_ctx_t *ctx, const unsigned char *key,
                                const void *aad, size_t aadlen,
                                const unsigned char *raw, size_t rawlen,
                                unsigned char **pt, size_t *ptlen)
{
    EVP_CIPHER_CTX *c = NULL;
    size_t ctlen = rawlen - OVERHEAD;
    const unsigned char *ct = raw + OAUTH2_CRYPTO_IV_LEN;
    unsigned char *buf = apr_palloc(ctx->pool, ctlen + 1);
    int n = 0, fin = 0;
    oauth2_status_t st = OAUTH2_DENIED;

    if (!algs_ready() || (c = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_DecryptInit_ex2(c, gcm_alg, key, raw, NULL) != 1 ||
        (aadlen > 0 && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
        EVP_DecryptUpdate(c, buf, &n, ct, (int)ctlen) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, OAUTH2_CRYPTO_TAG_LEN,
                            (void *)(ct + ctlen)) != 1 ||
        EVP_DecryptFinal_ex(c, buf + n, &fin) != 1) {
        /* Unauthenticated plaintext never leaves this function. */
        OPENSSL_cleanse(buf, ctlen + 1);
        oauth2_err_set(ctx, NOT_AUTHENTIC);
        goto end;
    }
    buf[ctlen] = '\0';
    *pt = buf;
    if (ptlen != NULL)
        *ptlen = ctlen;
    st = OAUTH2_OK;
end:
    EVP_CIPHER_CTX_free(c);
    return st;
}

oauth2_status_t oauth2_crypto_aead_open(oauth2_ctx_t *ctx,
                                        const unsigned char *key,
                                        const void *aad, size_t aadlen,
                                        const char *in, size_t inlen,
                                        unsigned char **pt, size_t *ptlen)
{
    unsigned char *raw;
    size_t rawlen;
    oauth2_status_t st = decode_sealed(ctx, in, inlen, &raw, &rawlen);

    if (st != OAUTH2_OK)
        return st;
    return gcm_open(ctx, key, aad, aadlen, raw, rawlen, pt, ptlen);
}

oauth2_status_t oauth2_crypto_seal(oauth2_ctx_t *ctx,
                                   const oauth2_crypto_keyring_t *ring,
                                   const void *salt, size_t saltlen,
                                   const char *info, const void *aad,
                                   size_t aadlen, const void *pt, size_t ptlen,
                                   char **out)
{
    unsigned char key[OAUTH2_CRYPTO_KEY_LEN];
    oauth2_status_t st;

    if (ring == NULL || ring->current == NULL || *ring->current == '\0') {
        oauth2_err_set(ctx, "no passphrase configured");
        return OAUTH2_ERROR;
    }
    st = oauth2_crypto_hkdf(ctx, ring->current, strlen(ring->current), salt,
                            saltlen, info, key, sizeof(key));
    if (st == OAUTH2_OK)
        st = oauth2_crypto_aead_seal(ctx, key, aad, aadlen, pt, ptlen, out);
    OPENSSL_cleanse(key, sizeof(key));
    return st;
}

/* One passphrase: derive, open, cleanse. */
static oauth2_status_t open_with(oauth2_ctx_t *ctx, const char *pass,
                                 const void *salt, size_t saltlen,
                                 const char *info, const void *aad,
                                 size_t aadlen, const unsigned char *raw,
                                 size_t rawlen, unsigned char **pt,
                                 size_t *ptlen)
{
    unsigned char key[OAUTH2_CRYPTO_KEY_LEN];
    oauth2_status_t st;

    st = oauth2_crypto_hkdf(ctx, pass, strlen(pass), salt, saltlen, info, key,
                            sizeof(key));
    if (st == OAUTH2_OK)
        st = gcm_open(ctx, key, aad, aadlen, raw, rawlen, pt, ptlen);
    OPENSSL_cleanse(key, sizeof(key));
    return st;
}

oauth2_status_t oauth2_crypto_open(oauth2_ctx_t *ctx,
                                   const oauth2_crypto_keyring_t *ring,
                                   const void *salt, size_t saltlen,
                                   const char *info, const void *aad,
                                   size_t aadlen, const char *in, size_t inlen,
                                   unsigned char **pt, size_t *ptlen)
{
    unsigned char *raw;
    size_t rawlen;
    oauth2_status_t st;

    if (ring == NULL || ring->current == NULL || *ring->current == '\0') {
        oauth2_err_set(ctx, "no passphrase configured");
        return OAUTH2_ERROR;
    }
    if ((st = decode_sealed(ctx, in, inlen, &raw, &rawlen)) != OAUTH2_OK)
        return st;
    st = open_with(ctx, ring->current, salt, saltlen, info, aad, aadlen, raw,
                   rawlen, pt, ptlen);
    if (st == OAUTH2_DENIED && ring->previous != NULL &&
        *ring->previous != '\0')
        st = open_with(ctx, ring->previous, salt, saltlen, info, aad, aadlen,
                       raw, rawlen, pt, ptlen);
    return st;
}
