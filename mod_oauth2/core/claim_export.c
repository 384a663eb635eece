/*
 * claim_export.c - turns a claims object into the names and texts the
 * backend receives (claim_export.h). Pure: no I/O, no logging, and the
 * result depends on nothing but the claims.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "oauth2/claim_export.h"

/* Scalars are formatted in the pool: exp/iat would otherwise be two
 * malloc'd dumps each. */
const char *oauth2_claim_text(apr_pool_t *p, const json_t *v)
{
    char *s;
    const char *out;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return apr_pstrmemdup(p, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(v));
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    default: /* objects, arrays, reals: jansson's exact form */
        break;
    }
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return NULL;
    out = apr_pstrdup(p, s);
    free(s);
    return out;
}

/* Header values may not carry control characters (CR/LF injection); the
 * text itself when it has none. */
static const char *header_safe(apr_pool_t *p, const char *v)
{
    const char *c;
    char *s, *d;

    for (c = v; *c != '\0' && !apr_iscntrl(*c); c++)
        ;
    if (*c == '\0')
        return v;
    s = apr_pstrdup(p, v);
    for (d = s + (c - v); *d != '\0'; d++) {
        if (apr_iscntrl(*d))
            *d = ' ';
    }
    return s;
}

char *oauth2_claim_safe_name(apr_pool_t *p, const char *prefix, size_t plen,
                             const char *name, char other, int *plain)
{
    size_t n = strlen(name), i;
    char *s = apr_palloc(p, plen + n + 1), *c = s + plen;

    memcpy(s, prefix, plen);
    for (i = 0; i < n; i++) {
        char ch = name[i];

        if (apr_islower(ch) || apr_isdigit(ch) || ch == '_')
            c[i] = ch;
        else {
            *plain = 0;
            c[i] = apr_isupper(ch) ? ch : other;
        }
    }
    c[n] = '\0';
    return s;
}

oauth2_claim_exports_t *
oauth2_claim_exports_make(apr_pool_t *p, const json_t *claims, int headers)
{
    static const char env_prefix[] = OAUTH2_CLAIM_ENV_PREFIX;
    oauth2_claim_exports_t *x;
    const char *key;
    json_t *v;

    if (!json_is_object(claims))
        return NULL;
    x = apr_palloc(p, sizeof(*x) + json_object_size(claims) * sizeof(x->e[0]));
    x->n = 0;
    x->size = 0;
    json_object_foreach((json_t *)claims, key, v)
    {
        oauth2_claim_export_t *e = &x->e[x->n];

        if ((e->text = oauth2_claim_text(p, v)) == NULL)
            continue;
        e->key = key;
        e->plain = 1;
        e->env_name = oauth2_claim_safe_name(
            p, env_prefix, sizeof(env_prefix) - 1, key, '_', &e->plain);
        e->header_text = headers ? header_safe(p, e->text) : NULL;
        x->n++;
    }
    return x;
}

/* Copies s to *at, returns the copy, moves *at past it. */
static const char *put(char **at, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = *at;

    memcpy(d, s, n);
    *at += n;
    return d;
}

oauth2_claim_exports_t *
oauth2_claim_exports_flatten(const oauth2_claim_exports_t *x)
{
    size_t head = sizeof(*x) + x->n * sizeof(x->e[0]), size = head, i;
    oauth2_claim_exports_t *y;
    char *at;

    for (i = 0; i < x->n; i++) {
        size += strlen(x->e[i].key) + strlen(x->e[i].env_name) +
                strlen(x->e[i].text) + 3;
        if (x->e[i].header_text != NULL && x->e[i].header_text != x->e[i].text)
            size += strlen(x->e[i].header_text) + 1;
    }
    if ((y = malloc(size)) == NULL)
        return NULL;
    y->n = x->n;
    y->size = size;
    at = (char *)y + head;
    for (i = 0; i < x->n; i++) {
        y->e[i].plain = x->e[i].plain;
        y->e[i].key = put(&at, x->e[i].key);
        y->e[i].env_name = put(&at, x->e[i].env_name);
        y->e[i].text = put(&at, x->e[i].text);
        y->e[i].header_text = x->e[i].header_text == NULL ? NULL
                              : x->e[i].header_text == x->e[i].text
                                  ? y->e[i].text
                                  : put(&at, x->e[i].header_text);
    }
    return y;
}

/* Where `s`, inside the block `from`, lands in its copy `to`. */
static const char *moved(const char *s, const oauth2_claim_exports_t *from,
                         oauth2_claim_exports_t *to)
{
    return s == NULL ? NULL : (const char *)to + (s - (const char *)from);
}

oauth2_claim_exports_t *
oauth2_claim_exports_copy(apr_pool_t *p, const oauth2_claim_exports_t *flat)
{
    oauth2_claim_exports_t *y;
    size_t i;

    if (flat == NULL || flat->size == 0)
        return NULL;
    y = apr_palloc(p, flat->size);
    memcpy(y, flat, flat->size);
    for (i = 0; i < y->n; i++) {
        y->e[i].key = moved(flat->e[i].key, flat, y);
        y->e[i].env_name = moved(flat->e[i].env_name, flat, y);
        y->e[i].text = moved(flat->e[i].text, flat, y);
        y->e[i].header_text = moved(flat->e[i].header_text, flat, y);
    }
    return y;
}
