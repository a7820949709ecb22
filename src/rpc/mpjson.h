/* mpjson: converts between msgpack objects and jansson values.
 *
 * jansson trees are the co-process's one in-memory value type: RPC params arrive as
 * msgpack and are copied into json_t (so nothing borrowed from the unpacker outlives a
 * message), results and events are built as json_t and packed on the way out.
 * Strings are byte strings on both sides: invalid UTF-8 is carried through untouched
 * (json_stringn_nocheck), so callers that print JSON must sanitise first. */
#ifndef PYTESTMON_MPJSON_H
#define PYTESTMON_MPJSON_H

#include <jansson.h>
#include <msgpack.h>

/* Returns a new reference (never NULL). Map keys that are not strings are rendered
 * as their decimal or "?" form; EXT objects become null. */
json_t *mpjson_from_msgpack(const msgpack_object *obj);

/* Packs `value` (borrowed) into `pk`; NULL packs nil. */
void mpjson_pack(msgpack_packer *pk, const json_t *value);

#endif
