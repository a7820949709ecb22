/* mpjson: msgpack <-> jansson conversion. Recursion depth is bounded by msgpack-c's
 * unpacker stack (32 levels) on the way in and by our own builders on the way out. */
#include "rpc/mpjson.h"

#include <inttypes.h>
#include <stdio.h>

static json_t *map_from_msgpack(const msgpack_object_map *map)
{
    json_t *obj = json_object();
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *k = &map->ptr[i].key;
        char num[32];
        const char *key = num;
        size_t klen;
        if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
            key = k->via.str.ptr;
            klen = k->via.str.size;
        } else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            klen = (size_t)snprintf(num, sizeof num, "%" PRIu64, k->via.u64);
        } else if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            klen = (size_t)snprintf(num, sizeof num, "%" PRId64, k->via.i64);
        } else {
            num[0] = '?';
            num[1] = '\0';
            klen = 1;
        }
        json_object_setn_new_nocheck(obj, key, klen, mpjson_from_msgpack(&map->ptr[i].val));
    }
    return obj;
}

json_t *mpjson_from_msgpack(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return json_stringn_nocheck(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *arr = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(arr, mpjson_from_msgpack(&o->via.array.ptr[i]));
        return arr;
    }
    case MSGPACK_OBJECT_MAP:
        return map_from_msgpack(&o->via.map);
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_EXT:
    default:
        return json_null();
    }
}

void mpjson_pack(msgpack_packer *pk, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(v));
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            size_t len = strlen(key);
            msgpack_pack_str(pk, len);
            msgpack_pack_str_body(pk, key, len);
            mpjson_pack(pk, val);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            mpjson_pack(pk, json_array_get(v, i));
        break;
    }
    case JSON_STRING: {
        size_t len = json_string_length(v);
        msgpack_pack_str(pk, len);
        msgpack_pack_str_body(pk, json_string_value(v), len);
        break;
    }
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    case JSON_NULL:
    default:
        msgpack_pack_nil(pk);
        break;
    }
}
