// Argument parsing of delta-sync: commands, options in either spelling, and clear refusals.
#include "cli.hpp"
#include "errors.hpp"
#include "progress.hpp"

#include <boost/test/unit_test.hpp>

using namespace delta_sync::client;

namespace {
CommandLine parse(std::vector<std::string> args) {
    return parse_command_line(args);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(command_line)

BOOST_AUTO_TEST_CASE(pull_takes_tables_and_options_anywhere) {
    CommandLine cl = parse({"pull", "products", "--replica", "r.db", "orders", "--watch",
                            "--page-size=500", "--dsn", "dbname=x"});
    BOOST_TEST(cl.command == "pull");
    BOOST_TEST((cl.tables == std::vector<std::string>{"products", "orders"}));
    BOOST_TEST(*cl.value("replica") == "r.db");
    BOOST_TEST(cl.has("watch"));
    BOOST_TEST(*cl.integer("page-size", 1, 1000) == 500);
    BOOST_TEST(*cl.value("dsn") == "dbname=x");
    BOOST_TEST(!cl.has("quiet"));
}

BOOST_AUTO_TEST_CASE(get_and_diff) {
    CommandLine get = parse({"get", "products", "--since", "AbC", "--max-changes", "10"});
    BOOST_TEST(*get.value("since") == "AbC");
    BOOST_TEST(*get.integer("max-changes", 1, 100) == 10);
    BOOST_TEST(!get.integer("page-size", 1, 100));
    CommandLine diff = parse({"diff", "products", "--replica", "r.db"});
    BOOST_TEST(diff.tables.size() == 1u);
}

BOOST_AUTO_TEST_CASE(help_wins_over_everything_else) {
    BOOST_TEST(parse({"--help"}).help);
    BOOST_TEST(parse({"pull", "--help"}).help);  // no --replica needed
    BOOST_TEST(parse({"diff", "x", "-h", "--bogus"}).help);
    BOOST_TEST(help_text("pull").find("Usage: delta-sync pull") == 0u);
    for (const char* c : {"get", "diff", "track", "untrack", "status"})
        BOOST_TEST(help_text(c).find(std::string("Usage: delta-sync ") + c) == 0u);
    // The overview lists every command, mcp (served by src/mcp) included: the man page's
    // sections are made from this list (debian/manpage-commands).
    for (const char* c : {"pull", "get", "diff", "track", "untrack", "status", "mcp"})
        BOOST_TEST(help_text("").find(std::string("\n  ") + c + " ") != std::string::npos, c);
}

BOOST_AUTO_TEST_CASE(mistakes_are_refused_with_a_usage_error) {
    BOOST_CHECK_THROW(parse({}), UsageError);
    BOOST_CHECK_THROW(parse({"frobnicate"}), UsageError);
    BOOST_CHECK_THROW(parse({"pull", "products"}), UsageError);           // --replica
    BOOST_CHECK_THROW(parse({"pull", "--replica", "r.db"}), UsageError);  // no table
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica"}), UsageError);     // no value
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica", "r", "--bogus"}), UsageError);
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica", "r", "-x"}), UsageError);
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica", "r", "--watch=yes"}), UsageError);
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica", "r", "--replica", "s"}), UsageError);
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica", "r", "--poll-interval", "5"}), UsageError);
    BOOST_CHECK_THROW(parse({"get", "a", "b"}), UsageError);
    BOOST_CHECK_THROW(parse({"track"}), UsageError);
    // A replica that keeps nothing, help about nothing, an empty table name.
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica", ""}), UsageError);
    BOOST_CHECK_THROW(parse({"pull", "t", "--replica", ":memory:"}), UsageError);
    BOOST_CHECK_THROW(parse({"diff", "t", "--replica=:memory:"}), UsageError);
    BOOST_CHECK_THROW(parse({"help", "nonsense"}), UsageError);
    BOOST_CHECK_THROW(parse({"get", ""}), UsageError);
    BOOST_CHECK_THROW(parse({"--version", "x"}), UsageError);
    BOOST_TEST(parse({"--version"}).command == "version");
    BOOST_TEST(parse({"help", "pull"}).tables[0] == "pull");
    BOOST_TEST(parse({"pull", "-", "--replica", "r"}).tables[0] == "-");  // the server says
}

BOOST_AUTO_TEST_CASE(integers_are_checked) {
    CommandLine cl = parse({"get", "t", "--page-size", "0"});
    BOOST_CHECK_THROW(cl.integer("page-size", 1, 100), UsageError);
    cl = parse({"get", "t", "--page-size", "12x"});
    BOOST_CHECK_THROW(cl.integer("page-size", 1, 100), UsageError);
    cl = parse({"get", "t", "--page-size", "99999999999999999999"});
    BOOST_CHECK_THROW(cl.integer("page-size", 1, 100), UsageError);
}

BOOST_AUTO_TEST_CASE(errors_are_one_line) {
    Error e("first\nsecond\tthird");
    BOOST_TEST(std::string(e.what()).find('\n') == std::string::npos);
    BOOST_TEST(one_line("ERROR:  relation \"x\" does not exist\nLINE 1: SELECT") ==
               "relation \"x\" does not exist");
    BOOST_TEST(one_line("ERROR:  table t is not tracked\nHINT:  Start tracking it.\n") ==
               "table t is not tracked (Start tracking it.)");
    BOOST_TEST(with_thousands(1234567) == "1,234,567");
    BOOST_TEST(with_thousands(999) == "999");
}

BOOST_AUTO_TEST_SUITE_END()
