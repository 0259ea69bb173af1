// The PostgreSQL type -> SQLite storage class mapping, and diff's judgement of a replica value
// against the server's rendering.
#include "column_mapping.hpp"
#include "errors.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>

using namespace delta_sync::client;
using Kind = SqlValue::Kind;

namespace {

int numeric(int precision, int scale) {
    return ((precision << 16) | scale) + 4;
}

// The fields of one record, parsed as a pull parses them.
struct Row {
    DeltaPageParser parser;
    Record record;
    explicit Row(const std::string& fields)
        : record(
              parser
                  .parse(
                      R"({"created":[{)" + fields +
                      R"(}],"updated":[],"deleted":[],"serverVersion":"v","fullResyncRequired":false})")
                  .created()[0]) {}
    SqlValue stored(ColumnKind kind, const char* name) {
        return stored_value(kind, *record.find(name), scratch);
    }
    const Field& field(const char* name) { return *record.find(name); }
    std::string scratch;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(column_mapping)

BOOST_AUTO_TEST_CASE(kinds_follow_the_server_type) {
    BOOST_TEST((column_kind("int8", -1) == ColumnKind::integer));
    BOOST_TEST((column_kind("int2", -1) == ColumnKind::integer));
    BOOST_TEST((column_kind("float8", -1) == ColumnKind::floating));
    BOOST_TEST((column_kind("float4", -1) == ColumnKind::floating));
    BOOST_TEST((column_kind("numeric", -1) == ColumnKind::decimal_text));
    BOOST_TEST((column_kind("numeric", numeric(40, 20)) == ColumnKind::decimal_text));
    BOOST_TEST((column_kind("numeric", numeric(16, 2)) == ColumnKind::decimal_text));
    BOOST_TEST((column_kind("numeric", numeric(15, 2)) == ColumnKind::decimal_real));
    BOOST_TEST((column_kind("numeric", numeric(18, 0)) == ColumnKind::integer));
    BOOST_TEST((column_kind("numeric", numeric(19, 0)) == ColumnKind::decimal_text));
    BOOST_TEST((column_kind("jsonb", -1) == ColumnKind::json));
    BOOST_TEST((column_kind("bytea", -1) == ColumnKind::bytes));
    BOOST_TEST((column_kind("bool", -1) == ColumnKind::boolean));
    BOOST_TEST((column_kind("timestamptz", -1) == ColumnKind::text));
    BOOST_TEST(std::string(declared_type(ColumnKind::floating)).empty());  // no affinity: -0 stays
}

BOOST_AUTO_TEST_CASE(floats_are_always_real) {
    Row r(
        R"("one":1,"negzero":-0,"sum":0.30000000000000004,"nan":"NaN","inf":"Infinity","ninf":"-Infinity")");
    BOOST_TEST((r.stored(ColumnKind::floating, "one") == SqlValue::of_real(1.0)));
    SqlValue z = r.stored(ColumnKind::floating, "negzero");
    BOOST_TEST((z.kind == Kind::real && z.real == 0 && std::signbit(z.real)));
    BOOST_TEST((r.stored(ColumnKind::floating, "sum") == SqlValue::of_real(0.1 + 0.2)));
    BOOST_TEST((r.stored(ColumnKind::floating, "nan") == SqlValue::of_text("NaN")));
    BOOST_TEST((r.stored(ColumnKind::floating, "inf") == SqlValue::of_real(HUGE_VAL)));
    BOOST_TEST((r.stored(ColumnKind::floating, "ninf") == SqlValue::of_real(-HUGE_VAL)));
}

BOOST_AUTO_TEST_CASE(numbers_keep_every_digit) {
    Row r(
        R"("big":9007199254740993,"wide":12345678901234567890.12345678901234567890,"narrow":1.5000,"nan":"NaN")");
    BOOST_TEST((r.stored(ColumnKind::integer, "big") == SqlValue::of_integer(9007199254740993)));
    BOOST_TEST((r.stored(ColumnKind::decimal_text, "wide") ==
                SqlValue::of_text("12345678901234567890.12345678901234567890")));
    BOOST_TEST((r.stored(ColumnKind::decimal_real, "narrow") == SqlValue::of_real(1.5)));
    BOOST_TEST((r.stored(ColumnKind::decimal_text, "nan") == SqlValue::of_text("NaN")));
    BOOST_CHECK_THROW(r.stored(ColumnKind::integer, "wide"), Error);
    Row oid(R"("o":"42")");  // to_json renders an oid as a string
    BOOST_TEST((oid.stored(ColumnKind::integer, "o") == SqlValue::of_integer(42)));
    std::string why;
    BOOST_TEST(same_as_server(ColumnKind::integer, SqlValue::of_integer(42), oid.field("o"), why));
}

BOOST_AUTO_TEST_CASE(json_keeps_its_text_and_bytea_its_bytes) {
    Row r(R"("s":"{}","o":{},"n":null,"b":"\\x00ff10","e":"\\x","bad":"abc")");
    BOOST_TEST((r.stored(ColumnKind::json, "s") == SqlValue::of_text("\"{}\"")));
    BOOST_TEST((r.stored(ColumnKind::json, "o") == SqlValue::of_text("{}")));
    BOOST_TEST((r.stored(ColumnKind::json, "n").kind == Kind::null));
    BOOST_TEST((r.stored(ColumnKind::text, "s") == SqlValue::of_text("{}")));
    BOOST_TEST(
        (r.stored(ColumnKind::bytes, "b") == SqlValue::of_blob(std::string("\0\xff\x10", 3))));
    SqlValue empty = r.stored(ColumnKind::bytes, "e");
    BOOST_TEST((empty.kind == Kind::blob && empty.text.empty()));
    BOOST_CHECK_THROW(r.stored(ColumnKind::bytes, "bad"), Error);
}

BOOST_AUTO_TEST_CASE(diff_judges_by_the_servers_rendering) {
    Row r(R"("f":1,"z":-0,"n":1.50,"w":12.50,"b":"\\x00ff","j":"a","t":true,"i":5,"nan":"NaN")");
    std::string why;
    BOOST_TEST(same_as_server(ColumnKind::floating, SqlValue::of_real(1.0), r.field("f"), why));
    BOOST_TEST(!same_as_server(ColumnKind::floating, SqlValue::of_integer(1), r.field("f"), why));
    BOOST_TEST(!same_as_server(ColumnKind::floating, SqlValue::of_real(0.0), r.field("z"), why));
    BOOST_TEST(same_as_server(ColumnKind::floating, SqlValue::of_real(-0.0), r.field("z"), why));
    BOOST_TEST(same_as_server(ColumnKind::decimal_real, SqlValue::of_real(1.5), r.field("n"), why));
    BOOST_TEST(
        !same_as_server(ColumnKind::decimal_text, SqlValue::of_text("12.5"), r.field("w"), why));
    BOOST_TEST(
        !same_as_server(ColumnKind::decimal_text, SqlValue::of_real(12.5), r.field("w"), why));
    BOOST_TEST(same_as_server(ColumnKind::bytes, SqlValue::of_blob(std::string("\0\xff", 2)),
                              r.field("b"), why));
    BOOST_TEST(!same_as_server(ColumnKind::bytes, SqlValue::of_text("\\x00ff"), r.field("b"), why));
    BOOST_TEST(same_as_server(ColumnKind::json, SqlValue::of_text("\"a\""), r.field("j"), why));
    BOOST_TEST(!same_as_server(ColumnKind::json, SqlValue::of_text("a"), r.field("j"), why));
    BOOST_TEST(same_as_server(ColumnKind::boolean, SqlValue::of_integer(1), r.field("t"), why));
    BOOST_TEST(!same_as_server(ColumnKind::integer, SqlValue::of_real(5), r.field("i"), why));
    BOOST_TEST(same_as_server(ColumnKind::floating, SqlValue::of_text("NaN"), r.field("nan"), why));
    BOOST_TEST(why.find("on the server") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
