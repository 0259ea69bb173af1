// --shape [NAME=]TABLE[(COL,...)]:FILTER: the forms, filters holding ':' and '=', and refusals.
#include "shape_option.hpp"

#include <boost/test/unit_test.hpp>

#include <stdexcept>

using namespace delta_sync::mcp;

BOOST_AUTO_TEST_SUITE(shape_option)

BOOST_AUTO_TEST_CASE(a_table_restricted_in_place) {
    ServedShape s = parse_shape_option("orders:status = 'open'");
    BOOST_TEST(s.name.table == "orders");
    BOOST_TEST(s.name.schema == "public");
    BOOST_TEST((s.table == s.name));
    BOOST_TEST(*s.filter == "status = 'open'");
    BOOST_TEST(!s.columns);
    BOOST_TEST(delta_uri(s.name) == "db://orders/delta");
}

BOOST_AUTO_TEST_CASE(a_named_shape_with_columns) {
    ServedShape s = parse_shape_option("open_orders=sales.orders(id,total):total::int > 5 AND a = 'x:y'");
    BOOST_TEST(s.name.table == "open_orders");
    BOOST_TEST(s.table.schema == "sales");
    BOOST_TEST(s.table.table == "orders");
    BOOST_TEST((*s.columns == std::vector<std::string>{"id", "total"}));
    BOOST_TEST(*s.filter == "total::int > 5 AND a = 'x:y'");
    BOOST_TEST(s.describe() == "sales.orders where total::int > 5 AND a = 'x:y' (columns id, total, and the key)");
    // Columns only (no filter), and the key alone.
    ServedShape c = parse_shape_option("slim=orders(total):");
    BOOST_TEST(!c.filter);
    BOOST_TEST(c.columns->size() == 1u);
    BOOST_TEST(parse_shape_option("keys=orders():").columns->empty());
}

BOOST_AUTO_TEST_CASE(malformed_specs_are_refused) {
    for (const char* bad : {"orders", "orders:", "=orders:x", ":x", "orders(id:x", "orders(id,):x",
                            "a.b.c:x", ".t:x"})
        BOOST_CHECK_THROW(parse_shape_option(bad), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
