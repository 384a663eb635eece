/*
 * htaccess.c - OAuth2TokenVerify lines from .htaccess files. httpd reads
 * .htaccess again for every request, into the request's pool: a verifier
 * made there would fetch its JWKS (or introspect) and verify every token
 * anew, and die with the request. Each process keeps instead
 *  - the verifier of a line, keyed by the .htaccess file, the section, the
 *    line and the identity of a key file it names (an edited key file is a
 *    new verifier), parsed outside the lock;
 *  - each list of verifiers (the list so far plus this line's), whose
 *    address is then a durable tag for the principals it establishes.
 * Both are bounded; when one is full a line gets a verifier or list of the
 * request's own, as before, and the process warns once. What an .htaccess
 * author may not do: run or read a secret (client_secret=exec:/file:) and
 * keep more than CACHE_ENTRIES_MAX verdicts, since they live on.
 */
#include <pthread.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "oauth2_apache.h"
#include "oauth2/util.h"
#include "oauth2/verify.h"

#define VERIFIERS_MAX 256
#define LISTS_MAX 4096
#define CACHE_ENTRIES_MAX 1000 /* the default for .htaccess lines too */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static apr_pool_t *kept;      /* unmanaged: the process's life */
static apr_hash_t *verifiers; /* key -> oauth2_verifier_t * */
static apr_hash_t *lists;     /* "prev\nverifier" -> list */
static int warned;

/* Under mu. */
static int registry_ready(void)
{
    if (kept == NULL) {
        if (apr_pool_create_unmanaged_ex(&kept, NULL, NULL) != APR_SUCCESS) {
            kept = NULL;
            return 0;
        }
        verifiers = apr_hash_make(kept);
        lists = apr_hash_make(kept);
    }
    return 1;
}

static void warn_full(cmd_parms *cmd, const char *what)
{
    int first;

    pthread_mutex_lock(&mu);
    first = !warned;
    warned = 1;
    pthread_mutex_unlock(&mu);
    if (first)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     OAUTH2_LOGNO(00788) "OAuth2TokenVerify in .htaccess: "
                                         "this process keeps no more %s "
                                         "(%s is full); later lines are "
                                         "made per request, without caches: "
                                         "move them to the server "
                                         "configuration",
                     what, what);
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* What .htaccess may not say, or NULL; *sized when cache_entries= is. */
static const char *refused(const apr_array_header_t *words, int *sized)
{
    int i;

    *sized = 0;
    for (i = 0; i < words->nelts; i++) {
        const char *w = APR_ARRAY_IDX(words, i, const char *);

        if (has_prefix(w, "client_secret=file:") ||
            has_prefix(w, "client_secret=exec:"))
            return "client_secret=file: and exec: are not allowed in "
                   ".htaccess";
        if (has_prefix(w, "cache_entries=")) {
            /* before the verifier exists: its cache is sized when made */
            long long n;

            if (oauth2_parse_int64(w + 14, 1, CACHE_ENTRIES_MAX, &n) != 0)
                return "cache_entries= in .htaccess: want "
                       "1.." APR_STRINGIFY(CACHE_ENTRIES_MAX);
            *sized = 1;
        }
    }
    return NULL;
}

/* The identity of the key file a line names ("" for none). */
static const char *file_identity(apr_pool_t *p, const apr_array_header_t *words)
{
    apr_finfo_t fi;
    int i;

    for (i = 0; i < words->nelts; i++) {
        const char *w = APR_ARRAY_IDX(words, i, const char *);
        const char *path = has_prefix(w, "jwks_file=") ? w + 10
                           : has_prefix(w, "pem=")     ? w + 4
                                                       : NULL;

        if (path == NULL)
            continue;
        if (apr_stat(&fi, path,
                     APR_FINFO_INODE | APR_FINFO_SIZE | APR_FINFO_MTIME,
                     p) != APR_SUCCESS)
            return "absent";
        return apr_psprintf(
            p, "%" APR_UINT64_T_FMT ":%" APR_OFF_T_FMT ":%" APR_TIME_T_FMT,
            (apr_uint64_t)fi.inode, fi.size, fi.mtime);
    }
    return "";
}

/* The list `prev` (or none) followed by v, in p. */
static apr_array_header_t *
list_of(apr_pool_t *p, const apr_array_header_t *prev, oauth2_verifier_t *v)
{
    apr_array_header_t *l =
        apr_array_make(p, (prev ? prev->nelts : 0) + 1, sizeof(v));

    if (prev != NULL)
        apr_array_cat(l, prev);
    APR_ARRAY_PUSH(l, oauth2_verifier_t *) = v;
    return l;
}

static apr_status_t destroy_pool(void *p)
{
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

/* This line's verifier; *kept_out when the process keeps it. */
static const char *verifier_for(cmd_parms *cmd, oauth2_ctx_t *ctx,
                                const char *ns, const char *key,
                                const char *identity,
                                const apr_array_header_t *words,
                                oauth2_verifier_t **out, int *kept_out)
{
    oauth2_verifier_t *v = NULL, *had;
    apr_pool_t *vp;
    int ok, full, keep;

    *kept_out = 0;
    pthread_mutex_lock(&mu);
    ok = registry_ready();
    had = ok ? apr_hash_get(verifiers, key, APR_HASH_KEY_STRING) : NULL;
    full = ok && apr_hash_count(verifiers) >= VERIFIERS_MAX;
    pthread_mutex_unlock(&mu);
    if (!ok)
        return "out of memory";
    if (had != NULL) {
        *out = had;
        *kept_out = 1;
        return NULL;
    }
    if (full)
        warn_full(cmd, "verifiers");
    /* parsed outside the lock: key files, the secret and the checks */
    if (apr_pool_create_unmanaged_ex(&vp, NULL, NULL) != APR_SUCCESS)
        return "out of memory";
    if (oauth2_ap_verifier_make(ctx, vp, ns, words, &v) != OAUTH2_OK) {
        /* not kept: a bad line is refused again on every request */
        const char *err = apr_pstrdup(cmd->temp_pool, ctx->err.text);

        apr_pool_destroy(vp);
        return err;
    }
    /* the key file as read must be the one the key names: kept only when
     * it did not change (or vanish) between the stat and the read */
    keep = strcmp(identity, file_identity(cmd->temp_pool, words)) == 0 &&
           strcmp(identity, "absent") != 0;
    pthread_mutex_lock(&mu);
    had = apr_hash_get(verifiers, key, APR_HASH_KEY_STRING);
    if (had == NULL && keep && apr_hash_count(verifiers) < VERIFIERS_MAX) {
        apr_hash_set(verifiers, apr_pstrdup(kept, key), APR_HASH_KEY_STRING, v);
        *kept_out = 1;
    }
    pthread_mutex_unlock(&mu);
    if (had != NULL) { /* another thread kept the same line first */
        apr_pool_destroy(vp);
        *out = had;
        *kept_out = 1;
        return NULL;
    }
    if (!*kept_out) /* full, or a key file in flux: this request's own */
        apr_pool_cleanup_register(cmd->pool, vp, destroy_pool,
                                  apr_pool_cleanup_null);
    *out = v;
    return NULL;
}

const char *oauth2_ap_htaccess_verify(cmd_parms *cmd, oauth2_ctx_t *ctx,
                                      const char *ns, const char *line,
                                      const apr_array_header_t *words,
                                      apr_array_header_t **list)
{
    apr_array_header_t *prev = *list, *l = NULL,
                       *w = (apr_array_header_t *)words;
    oauth2_verifier_t *v = NULL;
    const char *err, *key, *id;
    int v_kept, durable, sized;

    if ((err = refused(words, &sized)) != NULL)
        return err;
    if (!sized) {
        w = apr_array_copy(cmd->temp_pool, words);
        APR_ARRAY_PUSH(w, const char *) =
            "cache_entries=" APR_STRINGIFY(CACHE_ENTRIES_MAX);
    }
    id = file_identity(cmd->temp_pool, words);
    key = apr_pstrcat(cmd->temp_pool, ns, "\n", line, "\n", id, NULL);
    if ((err = verifier_for(cmd, ctx, ns, key, id, w, &v, &v_kept)) != NULL)
        return err;
    /* a list is kept only when what it is made of is kept */
    pthread_mutex_lock(&mu);
    durable = v_kept && (prev == NULL || prev->pool == kept);
    if (durable) {
        key = apr_psprintf(cmd->temp_pool, "%pp\n%pp", (void *)prev, (void *)v);
        l = apr_hash_get(lists, key, APR_HASH_KEY_STRING);
        if (l == NULL && apr_hash_count(lists) < LISTS_MAX) {
            l = list_of(kept, prev, v);
            apr_hash_set(lists, apr_pstrdup(kept, key), APR_HASH_KEY_STRING, l);
        }
    }
    pthread_mutex_unlock(&mu);
    if (l == NULL) {
        if (durable)
            warn_full(cmd, "verifier lists");
        l = list_of(cmd->pool, prev, v);
    }
    *list = l;
    return NULL;
}
