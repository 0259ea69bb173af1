// Parsing DeltaResponse documents: buckets, value kinds, nested JSON kept as written, bad input.
#include "delta_page.hpp"
#include "errors.hpp"

#include <boost/test/unit_test.hpp>

using namespace delta_sync::client;
using Kind = SqlValue::Kind;

BOOST_AUTO_TEST_SUITE(delta_page)

BOOST_AUTO_TEST_CASE(buckets_and_cursor_are_read) {
    DeltaPageParser parser;
    const DeltaPage& page = parser.parse(
        R"({"created":[{"id":1,"name":"a"},{"id":2,"name":"b"}],"updated":[{"id":3,"name":"c"}],)"
        R"("deleted":["4","5"],"serverVersion":"AbC-_9","fullResyncRequired":false})");
    BOOST_TEST(page.created().size() == 2u);
    BOOST_TEST(page.updated().size() == 1u);
    BOOST_TEST(page.deleted().size() == 2u);
    BOOST_TEST(page.deleted()[1] == "5");
    BOOST_TEST(page.server_version() == "AbC-_9");
    BOOST_TEST(!page.full_resync_required());
    BOOST_TEST(page.entries() == 5u);
    Record second = page.created()[1];
    BOOST_TEST(second.size() == 2u);
    BOOST_TEST(second.first[0].name == "id");
    BOOST_TEST((second.find("name")->value == SqlValue::of_text("b")));
    BOOST_TEST(second.find("missing") == nullptr);
}

BOOST_AUTO_TEST_CASE(values_take_their_storage_class) {
    DeltaPageParser parser;
    const DeltaPage& page = parser.parse(
        R"({"created":[{"id":7,"s":"caf\u00e9 \"q\"\n","t":true,"f":false,"n":null,)"
        R"("r":12.50,"big":123456789012345678901234.5,"o":{"a": [1, 2.50]},"arr":["x", null]}],)"
        R"("updated":[],"deleted":[],"serverVersion":"v","fullResyncRequired":false})");
    Record r = page.created()[0];
    BOOST_TEST((r.find("id")->value == SqlValue::of_integer(7)));
    BOOST_TEST((r.find("s")->value == SqlValue::of_text("caf\xc3\xa9 \"q\"\n")));
    BOOST_TEST((r.find("t")->value == SqlValue::of_integer(1)));
    BOOST_TEST((r.find("f")->value == SqlValue::of_integer(0)));
    BOOST_TEST((r.find("n")->value.kind == Kind::null));
    BOOST_TEST((r.find("r")->value == SqlValue::of_real(12.5)));
    BOOST_TEST((r.find("big")->value == SqlValue::of_text("123456789012345678901234.5")));
    // Nested JSON is kept byte for byte as the server wrote it (spaces, 2.50).
    BOOST_TEST((r.find("o")->value == SqlValue::of_text(R"({"a": [1, 2.50]})")));
    BOOST_TEST((r.find("arr")->value == SqlValue::of_text(R"(["x", null])")));
}

BOOST_AUTO_TEST_CASE(resync_document_is_recognised) {
    DeltaPageParser parser;
    const DeltaPage& page = parser.parse(
        R"({"created":[],"updated":[],"deleted":[],"serverVersion":"v2","fullResyncRequired":true})");
    BOOST_TEST(page.full_resync_required());
    BOOST_TEST(page.entries() == 0u);
}

BOOST_AUTO_TEST_CASE(a_new_parse_replaces_the_previous_page) {
    DeltaPageParser parser;
    parser.parse(
        R"({"created":[{"id":1}],"updated":[],"deleted":["9"],"serverVersion":"a","fullResyncRequired":false})");
    const DeltaPage& page = parser.parse(
        R"({"created":[],"updated":[{"id":2}],"deleted":[],"serverVersion":"b","fullResyncRequired":false})");
    BOOST_TEST(page.created().empty());
    BOOST_TEST(page.deleted().empty());
    BOOST_TEST((page.updated()[0].find("id")->value == SqlValue::of_integer(2)));
    BOOST_TEST(page.server_version() == "b");
}

BOOST_AUTO_TEST_CASE(malformed_documents_are_refused) {
    DeltaPageParser parser;
    BOOST_CHECK_THROW(parser.parse("not json"), Error);
    BOOST_CHECK_THROW(parser.parse(R"({"created":[{"id":1}]})"), Error);  // no serverVersion
    BOOST_CHECK_THROW(parser.parse(R"({"created":[{"id":1},],"serverVersion":"v"})"), Error);
    BOOST_CHECK_THROW(parser.parse(R"({"created":"x","serverVersion":"v"})"), Error);
    BOOST_CHECK_THROW(parser.parse(R"({"created":[{"id":1})"), Error);  // truncated
}

BOOST_AUTO_TEST_SUITE_END()
