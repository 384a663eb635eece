/*
 * principal.c - small read-only queries on an authenticated principal.
 * Holds no policy: callers decide what a missing scope means.
 */
#include <string.h>

#include "oauth2/principal.h"

const char *oauth2_principal_type_str(oauth2_principal_type_t type)
{
    return type == OAUTH2_PRINCIPAL_SESSION ? "session" : "bearer";
}

static int holds(const oauth2_principal_t *p, const char *scope)
{
    int i;

    if (p->scopes == NULL)
        return 0;
    for (i = 0; i < p->scopes->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(p->scopes, i, const char *), scope) == 0)
            return 1;
    }
    return 0;
}

int oauth2_principal_has_scopes(const oauth2_principal_t *p,
                                const char *const *wanted)
{
    if (p == NULL || wanted == NULL)
        return 0;
    for (; *wanted != NULL; wanted++) {
        if (!holds(p, *wanted))
            return 0;
    }
    return 1;
}
