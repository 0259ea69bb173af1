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

namespace {

// The common literals, mapped without building their canonical form: -?digits with at most 18
// digits is an integer that fits 64 bits; -?digits.digits with at most 15 digits in all is a
// REAL, because every decimal of 15 significant digits or fewer survives a double both ways
// (DBL_DIG), so the shortest rendering of the double is the literal's value. False for anything
// else (exponents, more digits, leading zeros JSON does not allow), which takes the general path.
bool plain_number(std::string_view s, SqlValue& out) {
    std::size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
    std::size_t int_begin = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    std::size_t int_digits = i - int_begin;
    if (int_digits == 0 || (int_digits > 1 && s[int_begin] == '0')) return false;
    if (i == s.size()) {
        if (int_digits > 18) return false;
        std::int64_t v = 0;
        for (std::size_t k = int_begin; k < i; ++k) v = v * 10 + (s[k] - '0');
        out = SqlValue::of_integer(int_begin ? -v : v);
        return true;
    }
    if (s[i] != '.') return false;
    std::size_t frac_begin = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i != s.size() || i == frac_begin || int_digits + (i - frac_begin) > 15) return false;
    double d = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
    out = SqlValue::of_real(d);
    return true;
}

}  // namespace

SqlValue value_of_json_number(std::string_view literal) {
    while (!literal.empty() && (literal.back() == ' ' || literal.back() == '\n' ||
                                literal.back() == '\r' || literal.back() == '\t'))
        literal.remove_suffix(1);
    SqlValue plain;
    if (plain_number(literal, plain)) return plain;
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
