// The PostgreSQL type -> SQLite storage class mapping (see column_mapping.hpp and the README).
#include "column_mapping.hpp"

#include "errors.hpp"
#include "sqlite.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace delta_sync::client {

namespace {

// numeric's typmod: ((precision << 16) | scale) + 4; -1 when unconstrained.
bool numeric_typmod(int typmod, int& precision, int& scale) {
    if (typmod < 4) return false;
    precision = ((typmod - 4) >> 16) & 0xffff;
    scale = (((typmod - 4) & 0x7ff) ^ 1024) - 1024;
    return true;
}

enum class JsonType { null, boolean, number, string, object, array };

JsonType json_type(std::string_view json) {
    if (json.empty()) return JsonType::null;
    switch (json[0]) {
        case 'n':
            return JsonType::null;
        case 't':
        case 'f':
            return JsonType::boolean;
        case '"':
            return JsonType::string;
        case '{':
            return JsonType::object;
        case '[':
            return JsonType::array;
        default:
            return JsonType::number;
    }
}

// The special values numeric, float4 and float8 render as JSON strings.
bool special_number(std::string_view text, SqlValue& out) {
    if (text == "NaN") {
        out = SqlValue::of_text("NaN");  // a static string: outlives any page
        return true;
    }
    if (text == "Infinity" || text == "-Infinity") {
        double inf = std::numeric_limits<double>::infinity();
        out = SqlValue::of_real(text[0] == '-' ? -inf : inf);
        return true;
    }
    return false;
}

bool parse_double(std::string_view literal, double& d) {
    auto r = std::from_chars(literal.data(), literal.data() + literal.size(), d);
    return r.ec == std::errc() && r.ptr == literal.data() + literal.size();
}

std::string shortest(double d) {
    char buf[40];
    auto w = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, w.ptr);
}

[[noreturn]] void not_of_kind(const Field& field, const char* what) {
    throw Error("column " + std::string(field.name) + ": the server sent " +
                std::string(field.json.substr(0, 40)) + ", which is not " + what);
}

bool differ(std::string& why, const SqlValue& replica, const std::string& server) {
    why = describe(replica) + " in the replica, " + server + " on the server";
    return false;
}

}  // namespace

ColumnKind column_kind(std::string_view type, int typmod) {
    if (type == "int2" || type == "int4" || type == "int8" || type == "oid")
        return ColumnKind::integer;
    if (type == "float4" || type == "float8") return ColumnKind::floating;
    if (type == "bool") return ColumnKind::boolean;
    if (type == "bytea") return ColumnKind::bytes;
    if (type == "json" || type == "jsonb") return ColumnKind::json;
    if (type == "numeric") {
        int precision = 0, scale = 0;
        if (numeric_typmod(typmod, precision, scale)) {
            if (scale == 0 && precision <= 18) return ColumnKind::integer;
            // DBL_DIG: a decimal of 15 significant digits survives a double both ways, so two
            // distinct values stay distinct and in order.
            if (scale >= 0 && precision <= 15) return ColumnKind::decimal_real;
        }
        return ColumnKind::decimal_text;
    }
    return ColumnKind::text;
}

const char* declared_type(ColumnKind kind) {
    switch (kind) {
        case ColumnKind::integer:
            return "INTEGER";
        case ColumnKind::boolean:
            return "BOOLEAN";
        case ColumnKind::floating:
            return "";
        case ColumnKind::decimal_real:
            return "REAL";
        case ColumnKind::bytes:
            return "BLOB";
        case ColumnKind::decimal_text:
        case ColumnKind::text:
        case ColumnKind::json:
            return "TEXT";
    }
    return "";
}

std::string generated_column_name(const ReplicaColumn& column) {
    return column.kind == ColumnKind::decimal_text ? column.name + ":real" : std::string();
}

std::string generated_column_definition(const ReplicaColumn& column) {
    std::string q = sqlite::quote_identifier(column.name);
    return sqlite::quote_identifier(generated_column_name(column)) +
           " REAL GENERATED ALWAYS AS (CASE " + q +
           " WHEN 'NaN' THEN 'NaN' WHEN 'Infinity' THEN 9e999 WHEN '-Infinity' THEN -9e999 "
           "ELSE CAST(" +
           q + " AS REAL) END) VIRTUAL";
}

bool decode_bytea(std::string_view text, std::string& out) {
    if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) return false;
    out.clear();
    out.reserve(text.size() / 2 - 1);
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 2; i < text.size(); i += 2) {
        int hi = nibble(text[i]), lo = nibble(text[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>((hi << 4) | lo);
    }
    return true;
}

SqlValue stored_value(ColumnKind kind, const Field& field, std::string& scratch) {
    JsonType type = json_type(field.json);
    if (type == JsonType::null) return SqlValue::null_value();
    SqlValue special;
    switch (kind) {
        case ColumnKind::integer:
            if (type == JsonType::string && special_number(field.value.text, special))
                return special;
            if (type == JsonType::string) {  // oid renders as a string
                std::int64_t v = 0;
                std::string_view t = field.value.text;
                auto r = std::from_chars(t.data(), t.data() + t.size(), v);
                if (r.ec == std::errc() && r.ptr == t.data() + t.size() && !t.empty())
                    return SqlValue::of_integer(v);
            }
            if (type != JsonType::number || field.value.kind != SqlValue::Kind::integer)
                not_of_kind(field, "an integer");
            return field.value;
        case ColumnKind::boolean:
            if (type != JsonType::boolean) not_of_kind(field, "a boolean");
            return field.value;
        case ColumnKind::floating:
        case ColumnKind::decimal_real: {
            if (type == JsonType::string && special_number(field.value.text, special))
                return special;
            double d = 0;
            if (type != JsonType::number || !parse_double(field.json, d))
                not_of_kind(field, "a number");
            return SqlValue::of_real(d);
        }
        case ColumnKind::decimal_text:
            if (type == JsonType::number) return SqlValue::of_text(field.json);
            if (type == JsonType::string && special_number(field.value.text, special))
                return field.value;
            not_of_kind(field, "a number");
        case ColumnKind::text:
            if (type == JsonType::string) return field.value;
            return SqlValue::of_text(field.json);
        case ColumnKind::json:
            return SqlValue::of_text(field.json);
        case ColumnKind::bytes:
            if (type != JsonType::string || !decode_bytea(field.value.text, scratch))
                not_of_kind(field, "a bytea in hex");
            return SqlValue::of_blob(scratch);
    }
    return field.value;
}

bool same_as_server(ColumnKind kind, const SqlValue& replica, const Field& server,
                    std::string& why) {
    JsonType type = json_type(server.json);
    std::string shown(server.json.substr(0, 60));
    if (type == JsonType::null) {
        // json null and SQL NULL render alike in a record: either is the server's value.
        if (replica.kind == SqlValue::Kind::null ||
            (kind == ColumnKind::json && replica == SqlValue::of_text("null")))
            return true;
        return differ(why, replica, "null");
    }
    if (type == JsonType::string && kind != ColumnKind::text && kind != ColumnKind::json &&
        kind != ColumnKind::bytes) {
        // NaN, Infinity, -Infinity of a number column.
        std::string_view s = server.value.text;
        bool same = (s == "NaN" && replica == SqlValue::of_text("NaN")) ||
                    (kind == ColumnKind::integer && replica.kind == SqlValue::Kind::integer &&
                     std::to_string(replica.integer) == s) ||
                    (kind == ColumnKind::decimal_text && replica == SqlValue::of_text(s)) ||
                    (replica.kind == SqlValue::Kind::real && std::isinf(replica.real) &&
                     s == (replica.real < 0 ? "-Infinity" : "Infinity"));
        return same || differ(why, replica, shown);
    }
    switch (kind) {
        case ColumnKind::integer:
            if (replica.kind == SqlValue::Kind::integer &&
                std::to_string(replica.integer) == server.json)
                return true;
            return differ(why, replica, shown);
        case ColumnKind::boolean:
            if (replica.kind == SqlValue::Kind::integer &&
                (replica.integer ? "true" : "false") == server.json)
                return true;
            return differ(why, replica, shown);
        case ColumnKind::floating:
        case ColumnKind::decimal_real:
            // The same decimal value, whatever the spelling (1.50 and 1.5; 1e+300 and 1e300);
            // the sign of zero counts.
            if (replica.kind == SqlValue::Kind::real && std::isfinite(replica.real) &&
                canonical_decimal(shortest(replica.real)) == canonical_decimal(server.json))
                return true;
            return differ(why, replica, shown);
        case ColumnKind::decimal_text:
            if (replica == SqlValue::of_text(server.json)) return true;
            return differ(why, replica, shown);
        case ColumnKind::text:
            if (type == JsonType::string ? replica == server.value
                                         : replica == SqlValue::of_text(server.json))
                return true;
            return differ(why, replica, shown);
        case ColumnKind::json:
            if (replica == SqlValue::of_text(server.json)) return true;
            return differ(why, replica, shown);
        case ColumnKind::bytes: {
            static const char hex[] = "0123456789abcdef";
            if (replica.kind == SqlValue::Kind::blob && type == JsonType::string) {
                std::string rendered = "\\x";
                for (char c : replica.text) {
                    rendered += hex[static_cast<unsigned char>(c) >> 4];
                    rendered += hex[static_cast<unsigned char>(c) & 15];
                }
                if (rendered == server.value.text) return true;
            }
            return differ(why, replica, shown);
        }
    }
    return differ(why, replica, shown);
}

}  // namespace delta_sync::client
