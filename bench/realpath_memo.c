/* realpath_memo: a bench-only experiment linked into junit_bench_memo with
 * -Wl,--wrap=realpath. It memoises realpath() by input path for the life of the process,
 * to show what report_from_junit() would cost if location.c resolved each distinct path
 * once per report instead of several times per failure. Not used by pytestmon itself. */
#include <stdlib.h>
#include <string.h>

char *__real_realpath(const char *path, char *resolved);

#define MEMO_SLOTS 4096
static struct {
    char *in, *out;
} memo[MEMO_SLOTS];

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

char *__wrap_realpath(const char *path, char *resolved)
{
    if (resolved != NULL)
        return __real_realpath(path, resolved);
    size_t i = hash(path) % MEMO_SLOTS;
    for (size_t k = 0; k < MEMO_SLOTS; k++, i = (i + 1) % MEMO_SLOTS) {
        if (memo[i].in == NULL) {
            char *r = __real_realpath(path, NULL);
            if (r == NULL)
                return NULL;
            memo[i].in = strdup(path);
            memo[i].out = r;
            return strdup(r);
        }
        if (strcmp(memo[i].in, path) == 0)
            return strdup(memo[i].out);
    }
    return __real_realpath(path, NULL);
}
