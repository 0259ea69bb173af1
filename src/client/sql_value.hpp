// One field value as the replica stores it, and the untyped rule that turns a JSON value into one.
//
// A replica table whose server columns are known (every pull) maps each value by its column's
// PostgreSQL type instead (column_mapping.hpp). The rule below is the fallback for a table known
// only by its records (unit tests, a library user without a catalog); such columns carry no
// declared type (no affinity), so a value keeps exactly the storage class chosen here:
//   string            TEXT, unescaped
//   true / false      INTEGER 1 / 0 (SQLite's booleans)
//   null              NULL
//   object / array    TEXT holding the JSON text exactly as the server wrote it
//   number            INTEGER when integral and within 64 bits; REAL when a double reproduces the
//                     literal to its last digit; otherwise TEXT holding the literal, so that no
//                     digit of a numeric is ever lost.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace delta_sync::client {

struct SqlValue {
    enum class Kind { null, integer, real, text, blob };
    Kind kind = Kind::null;
    std::int64_t integer = 0;
    double real = 0;
    std::string_view text;  // text or blob bytes; not owned: points into a page or a SQLite row

    static SqlValue null_value() { return {}; }
    static SqlValue of_integer(std::int64_t v) {
        SqlValue s;
        s.kind = Kind::integer;
        s.integer = v;
        return s;
    }
    static SqlValue of_real(double v) {
        SqlValue s;
        s.kind = Kind::real;
        s.real = v;
        return s;
    }
    static SqlValue of_text(std::string_view v) {
        SqlValue s;
        s.kind = Kind::text;
        s.text = v;
        return s;
    }
    static SqlValue of_blob(std::string_view bytes) {
        SqlValue s;
        s.kind = Kind::blob;
        s.text = bytes;
        return s;
    }
};

// Exact equality: same storage class and same value.
bool operator==(const SqlValue& a, const SqlValue& b);
inline bool operator!=(const SqlValue& a, const SqlValue& b) {
    return !(a == b);
}

// A short rendering for messages: 42, 1.5, 'text', x'00ff', NULL.
std::string describe(const SqlValue& v);

// A JSON number literal (as the server wrote it) mapped by the rule above. Throws Error when the
// literal is not a JSON number.
SqlValue value_of_json_number(std::string_view literal);

// The decimal value of a number literal as sign, significant digits and exponent ("-125e-1"), so
// that two spellings of one number compare equal. Empty when the literal is not a number.
std::string canonical_decimal(std::string_view literal);

}  // namespace delta_sync::client
