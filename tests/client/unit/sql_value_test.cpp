// The JSON-to-SQLite value rule: numbers keep every digit, in the storage class that can hold it.
#include "errors.hpp"
#include "sql_value.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>

using namespace delta_sync::client;
using Kind = SqlValue::Kind;

BOOST_AUTO_TEST_SUITE(sql_value)

BOOST_AUTO_TEST_CASE(integers_within_64_bits_are_integers) {
    BOOST_TEST((value_of_json_number("42") == SqlValue::of_integer(42)));
    BOOST_TEST((value_of_json_number("-9223372036854775808") == SqlValue::of_integer(INT64_MIN)));
    BOOST_TEST((value_of_json_number("9223372036854775807") == SqlValue::of_integer(INT64_MAX)));
    BOOST_TEST((value_of_json_number("0") == SqlValue::of_integer(0)));
}

BOOST_AUTO_TEST_CASE(decimals_a_double_reproduces_are_reals) {
    BOOST_TEST((value_of_json_number("12.50") == SqlValue::of_real(12.5)));
    BOOST_TEST((value_of_json_number("0.1") == SqlValue::of_real(0.1)));
    // float8 output: 17 significant digits, still exactly one double.
    BOOST_TEST((value_of_json_number("0.30000000000000004") == SqlValue::of_real(0.1 + 0.2)));
    BOOST_TEST((value_of_json_number("1e300") == SqlValue::of_real(1e300)));
    BOOST_TEST((value_of_json_number("3.0") == SqlValue::of_real(3.0)));
    // Integral but beyond 64 bits, and exactly a double: a real that loses nothing.
    BOOST_TEST((value_of_json_number("18446744073709551616") ==
                SqlValue::of_real(18446744073709551616.0)));
}

BOOST_AUTO_TEST_CASE(numbers_a_double_would_round_stay_text) {
    SqlValue big = value_of_json_number("12345678901234567890.123456789");
    BOOST_TEST((big.kind == Kind::text));
    BOOST_TEST(big.text == "12345678901234567890.123456789");
    SqlValue wide = value_of_json_number("123456789012345678901234567890");
    BOOST_TEST((wide.kind == Kind::text));
    BOOST_TEST((value_of_json_number("0.1000000000000000000001").kind == Kind::text));
    BOOST_TEST((value_of_json_number("1e999").kind == Kind::text));
}

BOOST_AUTO_TEST_CASE(plain_literals_map_as_the_general_rule_does) {
    // Short integers and decimals skip the canonical comparison; at its edges (18/19 digits,
    // 15/16 digits, signed zeros, a leading zero) they must still map as the rule says.
    BOOST_TEST((value_of_json_number("999999999999999999") ==
                SqlValue::of_integer(999999999999999999)));
    BOOST_TEST((value_of_json_number("-999999999999999999") ==
                SqlValue::of_integer(-999999999999999999)));
    BOOST_TEST((value_of_json_number("1000000000000000000") ==
                SqlValue::of_integer(1000000000000000000)));
    BOOST_TEST((value_of_json_number("-0") == SqlValue::of_integer(0)));
    SqlValue negative_zero = value_of_json_number("-0.0");
    BOOST_TEST((negative_zero.kind == Kind::real));
    BOOST_TEST(std::signbit(negative_zero.real));
    BOOST_TEST((value_of_json_number("12345678901.2345") == SqlValue::of_real(12345678901.2345)));
    BOOST_TEST((value_of_json_number("0.000000000000001") == SqlValue::of_real(1e-15)));
    // 16 and 17 digits: a double may or may not reproduce them; the general rule decides.
    BOOST_TEST((value_of_json_number("1234567890.123456") == SqlValue::of_real(1234567890.123456)));
    BOOST_TEST((value_of_json_number("9007199254740993.0").kind == Kind::text));
    BOOST_TEST((value_of_json_number("0.12345678901234567").kind == Kind::text));
    BOOST_TEST((value_of_json_number("01") == SqlValue::of_integer(1)));
    BOOST_CHECK_THROW(value_of_json_number("-"), Error);
}

BOOST_AUTO_TEST_CASE(trailing_whitespace_of_a_token_is_ignored) {
    BOOST_TEST((value_of_json_number("7 \n") == SqlValue::of_integer(7)));
}

BOOST_AUTO_TEST_CASE(non_numbers_are_refused) {
    BOOST_CHECK_THROW(value_of_json_number("abc"), Error);
    BOOST_CHECK_THROW(value_of_json_number("1.2.3"), Error);
    BOOST_CHECK_THROW(value_of_json_number(""), Error);
    BOOST_CHECK_THROW(value_of_json_number("1e"), Error);
}

BOOST_AUTO_TEST_CASE(canonical_decimal_equates_spellings_of_one_number) {
    BOOST_TEST(canonical_decimal("12.50") == "125e-1");
    BOOST_TEST(canonical_decimal("1.25e1") == "125e-1");
    BOOST_TEST(canonical_decimal("0012.5000") == "125e-1");
    BOOST_TEST(canonical_decimal("1000") == "1e3");
    BOOST_TEST(canonical_decimal("1e+21") == "1e21");
    BOOST_TEST(canonical_decimal("0.000") == "0");
    BOOST_TEST(canonical_decimal("-0") == "-0");
    BOOST_TEST(canonical_decimal("x").empty());
}

BOOST_AUTO_TEST_CASE(equality_is_exact_in_kind_and_value) {
    BOOST_TEST((SqlValue::of_integer(1) != SqlValue::of_real(1.0)));
    BOOST_TEST((SqlValue::of_text("1") != SqlValue::of_integer(1)));
    BOOST_TEST((SqlValue::null_value() == SqlValue::null_value()));
    BOOST_TEST((SqlValue::of_text("a") == SqlValue::of_text("a")));
    BOOST_TEST(describe(SqlValue::of_text("x")) == "'x'");
    BOOST_TEST(describe(SqlValue::null_value()) == "NULL");
}

BOOST_AUTO_TEST_SUITE_END()
