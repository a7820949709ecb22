/* frames: where a failure is, from the exact traceback frames the pytestmon plugin recorded
 * ("pytestmon.frames", see python/pytestmon_hooks/frames.py and junit.h), instead of from traceback
 * text whose shape the user controls (--tb=no/line/native, -p no:junitxml, ...).
 *
 * Pure apart from realpath() on paths that differ only lexically from the test's file; no
 * state. The plugin has already dropped frames of pytest, pluggy, the standard library and
 * installed packages, so every frame is the user's code, wherever it lives (above the
 * directory pytest ran in, too). */
#ifndef PYTESTMON_FRAMES_H
#define PYTESTMON_FRAMES_H

#include "parse/location.h"

/* frames_json: [[abs path, 1-based line], ...], outermost first. test_file: the test's file,
 * absolute (NULL if unknown); def_line: its 1-based definition line (0 if unknown).
 * Fills *out like location_find(): (a) the last frame in the test's own file, else the
 * definition line; (b) the last frame when it is elsewhere or another line (the crash site).
 * 0 when located; -EINVAL (malformed) or -ENOENT (no frame) and *out untouched otherwise:
 * the caller falls back to the traceback text. */
int frames_locate(const char *frames_json, const char *test_file, int def_line, LocationSite *out);

#endif
