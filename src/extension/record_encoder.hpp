// Rows of a tracked table as JSON objects, byte for byte what to_json(row) gives for them minus
// the extension's internal columns — without calling to_json per row: each column's category and
// output function are looked up once per call, each row is deformed once, each value is written in
// one pass, and what output functions allocate is freed row by row (a scratch context).
//
// PostgreSQL-facing, plain-data code: every function here may raise a PostgreSQL error and so must
// run inside pg_guard() (see boundary.hpp); nothing here owns a destructor.
#pragma once

#include "boundary.hpp"

extern "C" {
#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"
}

namespace delta_sync {

// How to_json() writes a value of a column, after looking through domains.
enum class JsonKind {
    boolean,   // true / false
    integer,   // int2, int4, int8: always a JSON number
    number,    // float4, float8, numeric: a number when it is one, else a string ("NaN")
    datetime,  // date, timestamp, timestamptz: JsonEncodeDateTime() in quotes
    raw_json,  // json values, and columns the query already passed through to_json()
    jsonb,     // jsonb's text form, unquoted
    text,      // text, varchar: the bytes, escaped
    other,     // the type's output function, escaped
    array,     // an array of any of the above: [...] as array_to_json() nests it
};

struct ColumnCodec {
    char* key;          // "\"name\":" already escaped, with a leading ',' unless first
    int key_len;
    JsonKind kind;
    Oid base_type;      // for datetime, integer; for array, the element type
    FmgrInfo output;    // for number, jsonb, other
    bool fast_datetime;    // for datetime: timestamps written here (see encode_timestamp)
    const void* fast_tz;   //   valid while the session time zone is still this one
    long gmtoff;           //   its one and only UTC offset, in seconds
    ColumnCodec* element;  // for array: how each element is written
    int16 elem_len;        // for array: the element type's storage
    bool elem_byval;
    char elem_align;
    MemoryContext scratch;  // first codec only: what encoding a row allocates, reset per row
};

// The kind of a column of type `type`, and whether the query must pass it through to_json()
// (composites, types of extensions, whose casts to json only to_json knows, and arrays of those).
JsonKind json_kind_of(Oid type, bool& needs_sql_to_json);

// Fills `codec` for a column called `name` of type `type`, allocating in the current context
// (which must live as long as the codec: the first codec's scratch context is created there).
void init_codec(ColumnCodec& codec, const char* name, Oid type, JsonKind kind, bool first);

// Appends one value (never NULL) as to_json() writes it.
void append_value(StringInfo out, const ColumnCodec& codec, Datum value);

// Appends the key of a deleted row (never NULL) as the JSON string a client matches against the
// key of the record: written by the record's own codec codecs[key], so it is the same under every
// DateStyle, IntervalStyle and time zone that gives the same record. When the record holds the
// key as a JSON string, that string; otherwise (numbers, booleans, arrays, composites, json
// objects) the record's JSON text of it, as a string: 12.50 -> "12.50", true -> "true",
// [1,2] -> "[1,2]", {"a":1} -> "{\"a\":1}".
void append_key(StringInfo out, const ColumnCodec* codecs, int key, Datum value);

// Appends the key of a deleted row whose primary key has several columns (none NULL) as one JSON
// string: the compact JSON text of the array of its values in key order, each written exactly as
// the record writes it (by codecs[keys[i]]): (17, 'a,b') -> "[17,\"a,b\"]".
void append_composite_key(StringInfo out, const ColumnCodec* codecs, const int* keys, int nkeys,
                          const Datum* values);

// Appends {"col":value,...} for a deformed row: values[i] and nulls[i] for column i < ncols.
void append_record_values(StringInfo out, const ColumnCodec* codecs, int ncols,
                          const Datum* values, const bool* nulls);

}  // namespace delta_sync
