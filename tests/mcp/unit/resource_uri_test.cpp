// Resource URIs: table names in and out of public, percent-encoding, the since parameter.
#include "resource_uri.hpp"

#include <boost/test/unit_test.hpp>

using namespace delta_sync::mcp;

BOOST_AUTO_TEST_SUITE(resource_uri)

BOOST_AUTO_TEST_CASE(names_in_public_and_outside) {
    BOOST_TEST(delta_uri({"public", "products"}) == "db://products/delta");
    BOOST_TEST(delta_uri({"sales", "orders"}) == "db://sales.orders/delta");
    BOOST_TEST(schema_uri({"sales", "orders"}) == "db://sales.orders/schema");
    BOOST_TEST(delta_template({"public", "products"}) == "db://products/delta{?since}");
}

BOOST_AUTO_TEST_CASE(names_that_need_encoding) {
    BOOST_TEST(uri_table({"public", "my.table"}) == "my%2Etable");
    BOOST_TEST(uri_table({"Sales Dept", "Ördner/x"}) == "Sales%20Dept.%C3%96rdner%2Fx");
    for (TableName t : {TableName{"public", "my.table"}, TableName{"a.b", "c.d"},
                        TableName{"Sales Dept", "Ördner/x?#%"}, TableName{"public", "public"}}) {
        auto parsed = parse_resource_uri(delta_uri(t));
        BOOST_REQUIRE(parsed);
        BOOST_TEST(parsed->table.schema == t.schema);
        BOOST_TEST(parsed->table.table == t.table);
        BOOST_TEST((parsed->kind == ResourceKind::delta));
    }
}

BOOST_AUTO_TEST_CASE(since_parameter) {
    auto p = parse_resource_uri("db://products/delta?since=AW5f-zSQ_zQhr2w");
    BOOST_REQUIRE(p);
    BOOST_TEST(*p->since == "AW5f-zSQ_zQhr2w");
    p = parse_resource_uri("db://products/delta?since=");
    BOOST_REQUIRE(p);
    BOOST_TEST(!p->since);  // empty: the full snapshot, as without since
    p = parse_resource_uri("db://products/delta?since=a%2Bb");
    BOOST_REQUIRE(p);
    BOOST_TEST(*p->since == "a+b");
}

BOOST_AUTO_TEST_CASE(what_is_not_a_resource) {
    for (const char* bad :
         {"", "db://", "db://products", "db://products/", "db://products/rows",
          "file:///etc/passwd", "db://a.b.c/delta", "db://.x/delta", "db://x./delta",
          "db://x/delta?other=1", "db://x/delta?since=1&since=2", "db://x/schema?since=1",
          "db://x%zz/delta", "db://x%4/delta", "db://x/delta#frag", "db://x/delta/more"})
        BOOST_TEST(!parse_resource_uri(bad), bad);
}

BOOST_AUTO_TEST_CASE(percent_coding) {
    BOOST_TEST(percent_encode("a-b_c~d.e f") == "a-b_c~d%2Ee%20f");
    BOOST_TEST(*percent_decode("a%2Ee%20f") == "a.e f");
    BOOST_TEST(!percent_decode("%"));
    BOOST_TEST(!percent_decode("%4"));
    BOOST_TEST(!percent_decode("%G0"));
}

BOOST_AUTO_TEST_SUITE_END()
