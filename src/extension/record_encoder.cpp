// The to_json() rules, as datum_to_json() in PostgreSQL 15 applies them per category:
// bool and numbers unquoted (a number's text only if it is a valid JSON number), dates and
// timestamps in ISO 8601 via JsonEncodeDateTime(), json and jsonb unquoted, everything else the
// output function's text escaped as a JSON string; arrays nested as array_to_json() writes them,
// each element by the same rules. Composites and extension types (and arrays of them) are handed
// to to_json() by the query itself, so their rules (and user casts to json) stay PostgreSQL's.
//
// Where the time goes, per row of a full snapshot (measured, bench/results.md): deforming the
// tuple, the output functions of numeric and jsonb, timestamp formatting, escaping text, and
// growing the buffer. So: one heap_deform_tuple per row instead of a heap_getattr per column
// (which walks the tuple from its start past every variable-width column), jsonb written straight
// into the buffer, text copied with one memcpy when it needs no escape, arrays walked here instead
// of through to_json() (which looks its element type up in the catalog on every call), and whatever
// an output function allocates freed with the row instead of piling up for the whole page.
#include "record_encoder.hpp"

#include "json_text.hpp"

#include <charconv>
#include <cstring>

extern "C" {
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "pgtime.h"
}

namespace delta_sync {

namespace {

// enlargeStringInfo() only when the buffer lacks room, checked inline: most appends fit, and the
// call itself was 7 % of a snapshot (profile in bench/analysis.md).
inline void reserve(StringInfo out, int n) {
    if (static_cast<int64>(out->len) + n + 1 > out->maxlen) enlargeStringInfo(out, n);
}

// appendBinaryStringInfo(), with the room checked inline.
inline void append_bytes(StringInfo out, const char* p, int n) {
    reserve(out, n);
    std::memcpy(out->data + out->len, p, n);
    out->len += n;
    out->data[out->len] = '\0';
}

// json_text's Sink over a StringInfo; appending may raise (out of memory), hence guard-only use.
struct StringInfoSink {
    StringInfo s;
    void append(const char* p, std::size_t n) { append_bytes(s, p, static_cast<int>(n)); }
    void push_back(char c) { appendStringInfoCharMacro(s, c); }
};

// Appends n bytes the caller has made room for.
inline void put(StringInfo out, const char* p, int n) {
    std::memcpy(out->data + out->len, p, n);
    out->len += n;
}

void append_integer(StringInfo out, long long v) {
    reserve(out, 24);
    auto res = std::to_chars(out->data + out->len, out->data + out->len + 24, v);
    out->len = static_cast<int>(res.ptr - out->data);
    out->data[out->len] = '\0';
}

long long integer_of(Oid base_type, Datum value) {
    switch (base_type) {
    case INT2OID: return DatumGetInt16(value);
    case INT4OID: return DatumGetInt32(value);
    default: return DatumGetInt64(value);
    }
}

// "s" as escape_json() writes it: when nothing needs escaping (most text), one copy.
void append_escaped(StringInfo out, const char* s, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == '"' || c == '\\') break;
        ++i;
    }
    if (i == n) {
        reserve(out, static_cast<int>(n) + 2);
        out->data[out->len++] = '"';
        put(out, s, static_cast<int>(n));
        out->data[out->len++] = '"';
        out->data[out->len] = '\0';
        return;
    }
    StringInfoSink sink{out};
    json::append_string(sink, std::string_view(s, n));
}

char* two_digits(char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
    return p + 2;
}

// A timestamp as JsonEncodeDateTime() writes it (ISO 8601, "T", microseconds without trailing
// zeros, and for timestamptz the offset as +HH:MM[:SS]), for the common case only: finite, and
// for timestamptz a session time zone of one fixed UTC offset and a UTC date inside the range
// where PostgreSQL converts with the time zone at all (it treats dates beyond pg_time_t's range
// as UTC). timestamp2tm() + EncodeDateTime() look the zone up per value; this does arithmetic.
// Returns the length written, or 0 for any other case (the caller then asks PostgreSQL).
int encode_timestamp(char* buf, Timestamp ts, bool with_tz, long gmtoff) {
    constexpr Timestamp first_day = (1 - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
    if (TIMESTAMP_NOT_FINITE(ts)) return 0;
    if (with_tz) {
        // 1902-01-01 .. 2037-12-31 UTC: inside IS_VALID_UTIME, with a day to spare.
        constexpr Timestamp utime_lo = INT64CONST(-3155673600) * USECS_PER_SEC;
        constexpr Timestamp utime_hi = INT64CONST(1199145600) * USECS_PER_SEC;
        if (ts < utime_lo || ts >= utime_hi) return 0;
        ts += gmtoff * USECS_PER_SEC;
    }
    if (ts < first_day) return 0;  // BC and before the Julian day range
    Timestamp date = ts / USECS_PER_DAY;
    Timestamp time = ts - date * USECS_PER_DAY;
    if (time < 0) {
        time += USECS_PER_DAY;
        date -= 1;
    }
    int year, mon, mday, hour, min, sec;
    fsec_t fsec;
    // Rows written together share their dates: the last day's calendar date is kept (j2date()
    // was 4 % of a snapshot). A pure function of the day, so nothing here can go stale.
    static int last_julian = -1, last_year, last_mon, last_mday;
    int julian = static_cast<int>(date + POSTGRES_EPOCH_JDATE);
    if (julian != last_julian) {
        j2date(julian, &last_year, &last_mon, &last_mday);
        last_julian = julian;
    }
    year = last_year;
    mon = last_mon;
    mday = last_mday;
    if (year < 1 || year > 9999) return 0;
    dt2time(time, &hour, &min, &sec, &fsec);
    char* p = buf;
    p = two_digits(p, year / 100);
    p = two_digits(p, year % 100);
    *p++ = '-';
    p = two_digits(p, mon);
    *p++ = '-';
    p = two_digits(p, mday);
    *p++ = 'T';
    p = two_digits(p, hour);
    *p++ = ':';
    p = two_digits(p, min);
    *p++ = ':';
    p = two_digits(p, sec);
    if (fsec != 0) {
        *p++ = '.';
        char digits[6];
        int v = fsec, last = 0;
        for (int i = 5; i >= 0; --i) {
            digits[i] = static_cast<char>('0' + v % 10);
            if (v % 10 && !last) last = i + 1;
            v /= 10;
        }
        std::memcpy(p, digits, last);
        p += last;
    }
    if (with_tz) {
        long off = gmtoff < 0 ? -gmtoff : gmtoff;
        *p++ = gmtoff >= 0 ? '+' : '-';
        p = two_digits(p, static_cast<int>(off / 3600));
        *p++ = ':';
        p = two_digits(p, static_cast<int>(off / 60 % 60));
        if (off % 60) {
            *p++ = ':';
            p = two_digits(p, static_cast<int>(off % 60));
        }
    }
    *p = '\0';
    return static_cast<int>(p - buf);
}

// Whether encode_timestamp() may stand in for JsonEncodeDateTime() under the current session
// time zone: it must have a single offset, and the two must agree on a set of probes (which
// catches a zone with leap seconds, say).
bool timestamp_fast_path_agrees(Oid type, long& gmtoff) {
    gmtoff = 0;
    if (type == TIMESTAMPTZOID && !pg_get_timezone_offset(session_timezone, &gmtoff)) return false;
    const Timestamp probes[] = {0,
                                1,
                                -1,
                                INT64CONST(123456789012345),
                                INT64CONST(-987654321098765),
                                INT64CONST(1199145599999999),
                                INT64CONST(-3155673600) * USECS_PER_SEC,
                                INT64CONST(784111777500000),
                                INT64CONST(436320000120000)};
    for (Timestamp t : probes) {
        char fast[MAXDATELEN + 1], slow[MAXDATELEN + 1];
        int n = encode_timestamp(fast, t, type == TIMESTAMPTZOID, gmtoff);
        JsonEncodeDateTime(slow, TimestampGetDatum(t), type, nullptr);
        if (n == 0 || std::strcmp(fast, slow) != 0) return false;
    }
    return true;
}

void append_varlena_escaped(StringInfo out, Datum value) {
    struct varlena* v = PG_DETOAST_DATUM_PACKED(value);
    append_escaped(out, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
}

// jsonb_out()'s text (JsonbToCStringWorker() without indentation: ", " between entries, ": "
// after keys), with strings escaped in one pass over the bytes instead of a copy and a byte-by-byte
// escape_json().
void append_jsonb_scalar(StringInfo out, const JsonbValue& v) {
    switch (v.type) {
    case jbvNull: append_bytes(out, "null", 4); return;
    case jbvString: append_escaped(out, v.val.string.val, v.val.string.len); return;
    case jbvNumeric: {
        char* s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
        append_bytes(out, s, static_cast<int>(std::strlen(s)));
        pfree(s);
        return;
    }
    case jbvBool:
        if (v.val.boolean)
            append_bytes(out, "true", 4);
        else
            append_bytes(out, "false", 5);
        return;
    default: elog(ERROR, "unrecognized jsonb scalar type: %d", static_cast<int>(v.type));
    }
}

void append_jsonb(StringInfo out, Jsonb* jb) {
    reserve(out, static_cast<int>(VARSIZE(jb)));
    JsonbIterator* it = JsonbIteratorInit(&jb->root);
    JsonbValue v;
    JsonbIteratorToken type;
    bool first = true, raw_scalar = false, redo = false;
    while (redo || (type = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
        redo = false;
        switch (type) {
        case WJB_BEGIN_ARRAY:
            if (!first) append_bytes(out, ", ", 2);
            if (!v.val.array.rawScalar)
                appendStringInfoCharMacro(out, '[');
            else
                raw_scalar = true;
            first = true;
            break;
        case WJB_BEGIN_OBJECT:
            if (!first) append_bytes(out, ", ", 2);
            appendStringInfoCharMacro(out, '{');
            first = true;
            break;
        case WJB_KEY:
            if (!first) append_bytes(out, ", ", 2);
            first = true;
            append_jsonb_scalar(out, v);
            append_bytes(out, ": ", 2);
            type = JsonbIteratorNext(&it, &v, false);
            if (type == WJB_VALUE) {
                first = false;
                append_jsonb_scalar(out, v);
            } else {
                redo = true;  // an object or array as the value: handle its opening token
            }
            break;
        case WJB_ELEM:
            if (!first) append_bytes(out, ", ", 2);
            first = false;
            append_jsonb_scalar(out, v);
            break;
        case WJB_END_ARRAY:
            if (!raw_scalar) appendStringInfoCharMacro(out, ']');
            first = false;
            break;
        case WJB_END_OBJECT:
            appendStringInfoCharMacro(out, '}');
            first = false;
            break;
        default: elog(ERROR, "unrecognized jsonb iterator token: %d", static_cast<int>(type));
        }
    }
}

void append_element(StringInfo out, const ColumnCodec& codec, const Datum* values,
                    const bool* nulls, const int* dims, int ndims, int dim, int& at) {
    appendStringInfoCharMacro(out, '[');
    for (int i = 0; i < dims[dim]; ++i) {
        if (i > 0) appendStringInfoCharMacro(out, ',');
        if (dim + 1 < ndims) {
            append_element(out, codec, values, nulls, dims, ndims, dim + 1, at);
        } else {
            if (nulls[at])
                append_bytes(out, "null", 4);
            else
                append_value(out, *codec.element, values[at]);
            ++at;
        }
    }
    appendStringInfoCharMacro(out, ']');
}

// array_to_json(): "[]" when empty, else nested brackets per dimension, no spaces.
void append_array(StringInfo out, const ColumnCodec& codec, Datum value) {
    ArrayType* a = DatumGetArrayTypeP(value);
    int ndims = ARR_NDIM(a);
    int nitems = ArrayGetNItems(ndims, ARR_DIMS(a));
    if (nitems <= 0) {
        append_bytes(out, "[]", 2);
        return;
    }
    Datum* values;
    bool* nulls;
    int n;
    deconstruct_array(a, ARR_ELEMTYPE(a), codec.elem_len, codec.elem_byval, codec.elem_align,
                      &values, &nulls, &n);
    int at = 0;
    append_element(out, codec, values, nulls, ARR_DIMS(a), ndims, 0, at);
}

JsonKind scalar_kind(Oid base) {
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
    default: return JsonKind::other;
    }
}

// Scalars the encoder writes itself: built-in types that are neither arrays nor composites.
bool is_plain_scalar(Oid base) {
    return scalar_kind(base) != JsonKind::other ||
           (base < FirstNormalObjectId && !type_is_rowtype(base) &&
            !OidIsValid(get_element_type(base)));
}

void fill_codec(ColumnCodec& codec, Oid type, JsonKind kind) {
    codec.kind = kind;
    codec.base_type = getBaseType(type);
    codec.element = nullptr;
    codec.fast_datetime = false;
    if (kind == JsonKind::datetime &&
        (codec.base_type == TIMESTAMPTZOID || codec.base_type == TIMESTAMPOID)) {
        // The verdict depends only on the type and the session time zone: probe once per backend
        // and zone, not on every call (the probes cost more than encoding a small delta).
        struct Verdict {
            const void* tz;
            bool agrees;
            long gmtoff;
        };
        static Verdict verdicts[2] = {{nullptr, false, 0}, {nullptr, false, 0}};
        Verdict& v = verdicts[codec.base_type == TIMESTAMPTZOID ? 1 : 0];
        if (v.tz != session_timezone) {
            v.agrees = timestamp_fast_path_agrees(codec.base_type, v.gmtoff);
            v.tz = session_timezone;
        }
        codec.fast_datetime = v.agrees;
        codec.gmtoff = v.gmtoff;
        codec.fast_tz = session_timezone;
    }
    if (kind == JsonKind::array) {
        Oid elem = get_element_type(codec.base_type);
        Oid elem_base = getBaseType(elem);
        codec.element = static_cast<ColumnCodec*>(palloc0(sizeof(ColumnCodec)));
        fill_codec(*codec.element, elem_base, scalar_kind(elem_base));
        get_typlenbyvalalign(elem, &codec.elem_len, &codec.elem_byval, &codec.elem_align);
        return;
    }
    Oid out_fn;
    bool varlena;
    getTypeOutputInfo(codec.base_type, &out_fn, &varlena);
    fmgr_info(out_fn, &codec.output);
}

}  // namespace

JsonKind json_kind_of(Oid type, bool& needs_sql_to_json) {
    needs_sql_to_json = false;
    Oid base = getBaseType(type);
    JsonKind kind = scalar_kind(base);
    if (kind != JsonKind::other) return kind;
    Oid elem = get_element_type(base);
    if (OidIsValid(elem)) {
        if (is_plain_scalar(getBaseType(elem))) return JsonKind::array;
        needs_sql_to_json = true;
        return JsonKind::raw_json;
    }
    if (type_is_rowtype(base) || base >= FirstNormalObjectId) {
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
    fill_codec(codec, type, kind);
    codec.scratch = first ? AllocSetContextCreate(CurrentMemoryContext, "delta_sync record",
                                                  ALLOCSET_SMALL_SIZES)
                          : nullptr;
}

void append_value(StringInfo out, const ColumnCodec& codec, Datum value) {
    switch (codec.kind) {
    case JsonKind::boolean:
        if (DatumGetBool(value))
            append_bytes(out, "true", 4);
        else
            append_bytes(out, "false", 5);
        return;
    case JsonKind::integer: append_integer(out, integer_of(codec.base_type, value)); return;
    case JsonKind::number: {
        char* s = OutputFunctionCall(const_cast<FmgrInfo*>(&codec.output), value);
        std::size_t n = std::strlen(s);
        if (json::is_number(std::string_view(s, n)))
            append_bytes(out, s, static_cast<int>(n));
        else
            append_escaped(out, s, n);
        pfree(s);
        return;
    }
    case JsonKind::datetime: {
        char buf[MAXDATELEN + 1];
        int n = 0;
        if (codec.fast_datetime && codec.fast_tz == session_timezone)
            n = encode_timestamp(buf, DatumGetTimestamp(value), codec.base_type == TIMESTAMPTZOID,
                                 codec.gmtoff);
        if (n == 0) {
            JsonEncodeDateTime(buf, value, codec.base_type, nullptr);
            n = static_cast<int>(std::strlen(buf));
        }
        reserve(out, n + 2);
        out->data[out->len++] = '"';
        put(out, buf, n);
        out->data[out->len++] = '"';
        out->data[out->len] = '\0';
        return;
    }
    case JsonKind::raw_json: {
        struct varlena* v = PG_DETOAST_DATUM_PACKED(value);
        append_bytes(out, VARDATA_ANY(v), static_cast<int>(VARSIZE_ANY_EXHDR(v)));
        return;
    }
    case JsonKind::jsonb: {
        append_jsonb(out, DatumGetJsonbP(value));
        return;
    }
    case JsonKind::text: append_varlena_escaped(out, value); return;
    case JsonKind::array: append_array(out, codec, value); return;
    case JsonKind::other: {
        char* s = OutputFunctionCall(const_cast<FmgrInfo*>(&codec.output), value);
        append_escaped(out, s, std::strlen(s));
        pfree(s);
        return;
    }
    }
}

void append_key(StringInfo out, const ColumnCodec* codecs, int key, Datum value) {
    MemoryContext scratch = codecs[0].scratch;
    MemoryContext caller = MemoryContextSwitchTo(scratch);
    StringInfoData json;
    initStringInfo(&json);
    append_value(&json, codecs[key], value);
    MemoryContextSwitchTo(caller);
    if (json.len > 0 && json.data[0] == '"')
        append_bytes(out, json.data, json.len);
    else
        append_escaped(out, json.data, static_cast<std::size_t>(json.len));
    MemoryContextReset(scratch);
}

void append_composite_key(StringInfo out, const ColumnCodec* codecs, const int* keys, int nkeys,
                          const Datum* values) {
    MemoryContext scratch = codecs[0].scratch;
    MemoryContext caller = MemoryContextSwitchTo(scratch);
    StringInfoData json;
    initStringInfo(&json);
    appendStringInfoChar(&json, '[');
    for (int i = 0; i < nkeys; ++i) {
        if (i > 0) appendStringInfoChar(&json, ',');
        append_value(&json, codecs[keys[i]], values[keys[i]]);
    }
    appendStringInfoChar(&json, ']');
    MemoryContextSwitchTo(caller);
    append_escaped(out, json.data, static_cast<std::size_t>(json.len));
    MemoryContextReset(scratch);
}

void append_record_values(StringInfo out, const ColumnCodec* codecs, int ncols,
                          const Datum* values, const bool* nulls) {
    MemoryContext scratch = codecs[0].scratch;
    MemoryContext caller = MemoryContextSwitchTo(scratch);
    appendStringInfoCharMacro(out, '{');
    for (int i = 0; i < ncols; ++i) {
        const ColumnCodec& c = codecs[i];
        append_bytes(out, c.key, c.key_len);
        if (nulls[i])
            append_bytes(out, "null", 4);
        else
            append_value(out, c, values[i]);
    }
    appendStringInfoCharMacro(out, '}');
    MemoryContextSwitchTo(caller);
    MemoryContextReset(scratch);
}

}  // namespace delta_sync
