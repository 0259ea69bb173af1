// The JSON-to-SQLite value rule (see sql_value.hpp) and exact comparison of stored values.
#include "sql_value.hpp"

#include "errors.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace delta_sync::client {

bool operator==(const SqlValue& a, const SqlValue& b) {
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case SqlValue::Kind::null:
            return true;
        case SqlValue::Kind::integer:
            return a.integer == b.integer;
        case SqlValue::Kind::real:
            return a.real == b.real;
        case SqlValue::Kind::text:
        case SqlValue::Kind::blob:
            return a.text == b.text;
    }
    return false;
}

std::string describe(const SqlValue& v) {
    switch (v.kind) {
        case SqlValue::Kind::null:
            return "NULL";
        case SqlValue::Kind::integer:
            return std::to_string(v.integer);
        case SqlValue::Kind::real: {
            char buf[40];
            auto r = std::to_chars(buf, buf + sizeof buf, v.real);
            return std::string(buf, r.ptr) + " (real)";
        }
        case SqlValue::Kind::text: {
            std::string t(v.text.substr(0, 60));
            if (v.text.size() > 60) t += "...";
            return "'" + t + "'";
        }
        case SqlValue::Kind::blob: {
            static const char hex[] = "0123456789abcdef";
            std::string t = "x'";
            for (std::size_t i = 0; i < v.text.size() && i < 30; ++i) {
                t += hex[static_cast<unsigned char>(v.text[i]) >> 4];
                t += hex[static_cast<unsigned char>(v.text[i]) & 15];
            }
            return t + (v.text.size() > 30 ? "...'" : "'");
        }
    }
    return "?";
}

std::string canonical_decimal(std::string_view s) {
    std::size_t i = 0;
    bool negative = false;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
    std::string digits;
    long exponent = 0;
    bool any = false;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, any = true) digits += s[i];
    if (i < s.size() && s[i] == '.') {
        for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, any = true) {
            digits += s[i];
            --exponent;
        }
    }
    if (!any) return {};
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        long e = 0;
        bool neg_e = false;
        if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg_e = s[i++] == '-';
        if (i >= s.size()) return {};
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
            if (e > 100000000) return {};  // absurd exponent: not something a server sends
            e = e * 10 + (s[i] - '0');
        }
        exponent += neg_e ? -e : e;
    }
    if (i != s.size()) return {};
    std::size_t first = digits.find_first_not_of('0');
    if (first == std::string::npos) return negative ? "-0" : "0";
    digits.erase(0, first);
    while (digits.back() == '0') {
        digits.pop_back();
        ++exponent;
    }
    return (negative ? "-" : "") + digits + "e" + std::to_string(exponent);
}

SqlValue value_of_json_number(std::string_view literal) {
    while (!literal.empty() && (literal.back() == ' ' || literal.back() == '\n' ||
                                literal.back() == '\r' || literal.back() == '\t'))
        literal.remove_suffix(1);
    std::string canonical = canonical_decimal(literal);
    if (canonical.empty()) throw Error("not a JSON number: " + std::string(literal.substr(0, 40)));
    if (literal.find_first_of(".eE") == std::string_view::npos) {
        std::int64_t v = 0;
        auto r = std::from_chars(literal.data(), literal.data() + literal.size(), v);
        if (r.ec == std::errc() && r.ptr == literal.data() + literal.size())
            return SqlValue::of_integer(v);
    }
    double d = 0;
    auto r = std::from_chars(literal.data(), literal.data() + literal.size(), d);
    if (r.ec == std::errc() && r.ptr == literal.data() + literal.size() && std::isfinite(d)) {
        char buf[40];
        auto w = std::to_chars(buf, buf + sizeof buf, d);  // shortest form that reads back as d
        if (canonical_decimal(std::string_view(buf, w.ptr - buf)) == canonical)
            return SqlValue::of_real(d);
    }
    return SqlValue::of_text(literal);
}

}  // namespace delta_sync::client
