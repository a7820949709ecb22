/* frames: failure sites from the plugin's exact traceback frames. See frames.h. */
#include "parse/frames.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/path.h"
#include "base/strbuf.h"

static bool frame_at(json_t *frames, size_t i, const char **path, int *line)
{
    json_t *f = json_array_get(frames, i);
    json_t *p = json_array_get(f, 0), *l = json_array_get(f, 1);
    if (!json_is_string(p) || !json_is_integer(l) || json_integer_value(l) <= 0 ||
        json_integer_value(l) > INT_MAX)
        return false;
    *path = json_string_value(p);
    *line = (int)json_integer_value(l);
    return (*path)[0] == '/';
}

int frames_locate(const char *frames_json, const char *test_file, int def_line, LocationSite *out)
{
    json_t *frames = json_loads(frames_json, JSON_DECODE_ANY, NULL);
    if (!json_is_array(frames)) {
        json_decref(frames);
        return -EINVAL;
    }
    size_t n = json_array_size(frames);
    const char *last_path = NULL, *in_test = NULL;
    int last_line = 0, in_test_line = 0;
    for (size_t i = 0; i < n; i++) {
        const char *path;
        int line;
        if (!frame_at(frames, i, &path, &line)) {
            json_decref(frames);
            return -EINVAL;
        }
        last_path = path;
        last_line = line;
        if (test_file && path_same_file(path, test_file)) {
            in_test = path;
            in_test_line = line;
        }
    }
    if (!last_path) {
        json_decref(frames);
        return -ENOENT;
    }
    char *file = NULL;
    int line = 0;
    if (in_test) {
        file = path_normalize(NULL, test_file);
        line = in_test_line;
    } else if (test_file) {
        file = path_normalize(NULL, test_file);
        line = def_line > 0 ? def_line : 1;
    }
    *out = (LocationSite){.file = file, .line = line};
    /* in_test points into the last frame when that frame is in the test's file. */
    if (in_test != last_path) {
        out->crash_file = path_normalize(NULL, last_path);
        out->crash_line = last_line;
        if (!file) { /* no test file known: the crash site is all there is */
            out->file = out->crash_file;
            out->line = out->crash_line;
            out->crash_file = NULL;
            out->crash_line = 0;
        }
    }
    json_decref(frames);
    return 0;
}
