// JSON text exactly as PostgreSQL's escape_json() and IsValidJsonNumber() produce and decide.
#include "json_text.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <string>

namespace json = delta_sync::json;

namespace {
std::string quoted(std::string_view s) {
    std::string out;
    json::append_string(out, s);
    return out;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(json_text)

BOOST_AUTO_TEST_CASE(every_control_character_is_escaped_as_postgres_does) {
    for (int c = 0; c < 0x20; ++c) {
        std::string expected;
        switch (c) {
        case '\b': expected = "\\b"; break;
        case '\f': expected = "\\f"; break;
        case '\n': expected = "\\n"; break;
        case '\r': expected = "\\r"; break;
        case '\t': expected = "\\t"; break;
        default: {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            expected = buf;
        }
        }
        BOOST_TEST_CONTEXT("byte " << c) {
            BOOST_TEST(quoted(std::string(1, static_cast<char>(c))) == "\"" + expected + "\"");
        }
    }
}

BOOST_AUTO_TEST_CASE(quotes_backslashes_and_the_rest) {
    BOOST_TEST(quoted("") == "\"\"");
    BOOST_TEST(quoted("plain") == "\"plain\"");
    BOOST_TEST(quoted("say \"hi\"") == "\"say \\\"hi\\\"\"");
    BOOST_TEST(quoted("C:\\dir\\") == "\"C:\\\\dir\\\\\"");
    BOOST_TEST(quoted("/") == "\"/\"");          // not escaped by PostgreSQL
    BOOST_TEST(quoted("\x7f") == "\"\x7f\"");    // DEL is not a control character in JSON
    BOOST_TEST(quoted("a\nb\tc") == "\"a\\nb\\tc\"");
}

BOOST_AUTO_TEST_CASE(non_ascii_and_invalid_bytes_pass_through_unchanged) {
    BOOST_TEST(quoted("caf\xc3\xa9 \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    // Invalid UTF-8 (a lone continuation byte, a truncated sequence, 0xff): copied byte for byte,
    // never dropped or rewritten, and never read past.
    std::string invalid = "\x80x\xe2\x82\xff";
    BOOST_TEST(quoted(invalid) == "\"" + invalid + "\"");
    std::string with_nul("a\0b", 3);
    BOOST_TEST(quoted(with_nul) == "\"a\\u0000b\"");
}

BOOST_AUTO_TEST_CASE(numbers_as_postgres_decides) {
    for (const char* ok : {"0", "-0", "1", "-1", "1.5", "123456789012345678901234567890", "1e10",
                           "1E+10", "1.5e-300", "-0.000001"})
        BOOST_TEST_CONTEXT(ok) { BOOST_TEST(json::is_number(ok)); }
    for (const char* bad : {"", "-", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "1e",
                            "1e+", "+1", " 1", "1 ", "0x10", "1.5.5"})
        BOOST_TEST_CONTEXT(bad) { BOOST_TEST(!json::is_number(bad)); }
}

BOOST_AUTO_TEST_SUITE_END()
