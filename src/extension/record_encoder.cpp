// The to_json() rules, as datum_to_json() in PostgreSQL 15 applies them per category:
// bool and numbers unquoted (a number's text only if it is a valid JSON number), dates and
// timestamps in ISO 8601 via JsonEncodeDateTime(), json and jsonb unquoted, everything else the
// output function's text escaped as a JSON string. Arrays, composites and extension types are
// handed to to_json() by the query itself, so their rules (and user casts to json) stay PostgreSQL's.
#include "record_encoder.hpp"

#include "json_text.hpp"

#include <charconv>
#include <cstring>

extern "C" {
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
}

namespace delta_sync {

namespace {

// json_text's Sink over a StringInfo; appending may raise (out of memory), hence guard-only use.
struct StringInfoSink {
    StringInfo s;
    void append(const char* p, std::size_t n) { appendBinaryStringInfo(s, p, static_cast<int>(n)); }
    void push_back(char c) { appendStringInfoCharMacro(s, c); }
};

void append_integer(StringInfo out, long long v) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    appendBinaryStringInfo(out, buf, static_cast<int>(res.ptr - buf));
}

long long integer_of(const ColumnCodec& codec, Datum value) {
    switch (codec.base_type) {
    case INT2OID: return DatumGetInt16(value);
    case INT4OID: return DatumGetInt32(value);
    default: return DatumGetInt64(value);
    }
}

void append_varlena_escaped(StringInfo out, Datum value) {
    struct varlena* v = PG_DETOAST_DATUM_PACKED(value);
    StringInfoSink sink{out};
    json::append_string(sink, std::string_view(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)));
}

}  // namespace

JsonKind json_kind_of(Oid type, bool& needs_sql_to_json) {
    needs_sql_to_json = false;
    Oid base = getBaseType(type);
    switch (base) {
    case BOOLOID: return JsonKind::boolean;
    case INT2OID:
    case INT4OID:
    case INT8OID: return JsonKind::integer;
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID: return JsonKind::number;
    case DATEOID:
    case TIMESTAMPOID:
    case TIMESTAMPTZOID: return JsonKind::datetime;
    case JSONOID: return JsonKind::raw_json;
    case JSONBOID: return JsonKind::jsonb;
    case TEXTOID:
    case VARCHAROID: return JsonKind::text;
    default: break;
    }
    if (OidIsValid(get_element_type(base)) || type_is_rowtype(base) || base >= FirstNormalObjectId) {
        needs_sql_to_json = true;
        return JsonKind::raw_json;
    }
    return JsonKind::other;
}

void init_codec(ColumnCodec& codec, const char* name, Oid type, JsonKind kind, bool first) {
    StringInfoData key;
    initStringInfo(&key);
    if (!first) appendStringInfoChar(&key, ',');
    StringInfoSink sink{&key};
    json::append_string(sink, name);
    appendStringInfoChar(&key, ':');
    codec.key = key.data;
    codec.key_len = key.len;
    codec.kind = kind;
    codec.base_type = getBaseType(type);
    Oid out_fn;
    bool varlena;
    getTypeOutputInfo(codec.base_type, &out_fn, &varlena);
    fmgr_info(out_fn, &codec.output);
}

void append_value(StringInfo out, const ColumnCodec& codec, Datum value) {
    switch (codec.kind) {
    case JsonKind::boolean:
        if (DatumGetBool(value))
            appendBinaryStringInfo(out, "true", 4);
        else
            appendBinaryStringInfo(out, "false", 5);
        return;
    case JsonKind::integer: append_integer(out, integer_of(codec, value)); return;
    case JsonKind::number: {
        char* s = OutputFunctionCall(const_cast<FmgrInfo*>(&codec.output), value);
        std::size_t n = std::strlen(s);
        if (json::is_number(std::string_view(s, n))) {
            appendBinaryStringInfo(out, s, static_cast<int>(n));
        } else {
            StringInfoSink sink{out};
            json::append_string(sink, std::string_view(s, n));
        }
        pfree(s);
        return;
    }
    case JsonKind::datetime: {
        char buf[MAXDATELEN + 1];
        JsonEncodeDateTime(buf, value, codec.base_type, nullptr);
        appendStringInfoChar(out, '"');
        appendStringInfoString(out, buf);
        appendStringInfoChar(out, '"');
        return;
    }
    case JsonKind::raw_json: {
        struct varlena* v = PG_DETOAST_DATUM_PACKED(value);
        appendBinaryStringInfo(out, VARDATA_ANY(v), static_cast<int>(VARSIZE_ANY_EXHDR(v)));
        return;
    }
    case JsonKind::jsonb: {
        char* s = OutputFunctionCall(const_cast<FmgrInfo*>(&codec.output), value);
        appendStringInfoString(out, s);
        pfree(s);
        return;
    }
    case JsonKind::text: append_varlena_escaped(out, value); return;
    case JsonKind::other: {
        char* s = OutputFunctionCall(const_cast<FmgrInfo*>(&codec.output), value);
        StringInfoSink sink{out};
        json::append_string(sink, s);
        pfree(s);
        return;
    }
    }
}

void append_value_as_string(StringInfo out, const ColumnCodec& codec, Datum value) {
    if (codec.kind == JsonKind::integer) {
        appendStringInfoChar(out, '"');
        append_integer(out, integer_of(codec, value));
        appendStringInfoChar(out, '"');
    } else if (codec.kind == JsonKind::text) {
        append_varlena_escaped(out, value);
    } else {
        char* s = OutputFunctionCall(const_cast<FmgrInfo*>(&codec.output), value);
        StringInfoSink sink{out};
        json::append_string(sink, s);
        pfree(s);
    }
}

void append_record(StringInfo out, const ColumnCodec* codecs, int ncols, HeapTuple tuple,
                   TupleDesc desc) {
    appendStringInfoChar(out, '{');
    for (int i = 0; i < ncols; ++i) {
        const ColumnCodec& c = codecs[i];
        appendBinaryStringInfo(out, c.key, c.key_len);
        bool isnull;
        Datum value = heap_getattr(tuple, i + 1, desc, &isnull);
        if (isnull)
            appendBinaryStringInfo(out, "null", 4);
        else
            append_value(out, c, value);
    }
    appendStringInfoChar(out, '}');
}

}  // namespace delta_sync
