// Applying documents to a replica: order of buckets, upserts, unknown deletes, new fields,
// rebuilds swapped in at commit, rollback, and the cursor kept with the rows.
#include "errors.hpp"
#include "replica.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <map>
#include <random>

using namespace delta_sync::client;
namespace fs = std::filesystem;

namespace {

// A scratch directory per test case, removed afterwards.
struct ScratchReplica {
    fs::path dir;
    std::string path;
    ScratchReplica() {
        std::random_device rd;
        dir = fs::temp_directory_path() / ("delta_sync_replica_test_" + std::to_string(rd()));
        fs::create_directories(dir);
        path = (dir / "replica.db").string();
    }
    ~ScratchReplica() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

ReplicaTable products() {
    return {"products", "id", ReplicaTable::KeyKind::integer};
}

std::string doc(const std::string& created, const std::string& updated, const std::string& deleted,
                const std::string& version = "v") {
    return R"({"created":[)" + created + R"(],"updated":[)" + updated + R"(],"deleted":[)" +
           deleted + R"(],"serverVersion":")" + version + R"(","fullResyncRequired":false})";
}

// id -> name, as the replica holds it.
std::map<long, std::string> names(Replica& r, const std::string& table = "products") {
    std::map<long, std::string> out;
    sqlite::Statement s(r.database(), "SELECT id, name FROM " + sqlite::quote_identifier(table));
    while (s.step()) out[s.column_int(0)] = s.column_is_null(1) ? "<null>" : s.column_text(1);
    return out;
}

// Replica with rows 1 a, 2 b, 3 c at cursor v1.
void first_sync(Replica& r, DeltaPageParser& parser) {
    TableUpdate u(r, products());
    BOOST_TEST(!u.cursor());
    u.start_rebuild();
    u.apply(parser.parse(
        doc(R"({"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c"})", "", "", "v1")));
    u.commit("v1");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replica)

BOOST_AUTO_TEST_CASE(first_sync_builds_the_table_and_keeps_the_cursor) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    {
        Replica r(scratch.path);
        first_sync(r, parser);
        BOOST_TEST((names(r) == std::map<long, std::string>{{1, "a"}, {2, "b"}, {3, "c"}}));
        auto state = r.state("products");
        BOOST_REQUIRE(state);
        BOOST_TEST(state->server_version == "v1");
        BOOST_TEST(!state->synced_at.empty());
    }
    // Reopened: the next pull starts from the stored cursor.
    Replica reopened(scratch.path);
    TableUpdate u(reopened, products());
    BOOST_REQUIRE(u.cursor());
    BOOST_TEST(*u.cursor() == "v1");
}

BOOST_AUTO_TEST_CASE(deleted_then_updated_then_created) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    TableUpdate u(r, products());
    // Were deletes applied last, rows 1 and 2 would be gone.
    ApplyCounts c = u.apply(parser.parse(doc(R"({"id":1,"name":"re-created"})",
                                             R"({"id":2,"name":"updated"})", R"("1","2")", "v2")));
    u.commit("v2");
    BOOST_TEST(c.created == 1);
    BOOST_TEST(c.updated == 1);
    BOOST_TEST(c.deleted == 2);
    BOOST_TEST(
        (names(r) == std::map<long, std::string>{{1, "re-created"}, {2, "updated"}, {3, "c"}}));
    BOOST_TEST(r.state("products")->server_version == "v2");
}

BOOST_AUTO_TEST_CASE(created_and_updated_are_both_upserts) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    TableUpdate u(r, products());
    u.apply(parser.parse(
        doc(R"({"id":3,"name":"created over c"})", R"({"id":9,"name":"updated but new"})", "")));
    u.commit("v2");
    BOOST_TEST(
        (names(r) == std::map<long, std::string>{
                         {1, "a"}, {2, "b"}, {3, "created over c"}, {9, "updated but new"}}));
}

BOOST_AUTO_TEST_CASE(deletes_of_unknown_ids_change_nothing) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    TableUpdate u(r, products());
    BOOST_CHECK_NO_THROW(u.apply(parser.parse(doc("", "", R"("999","-1","2")"))));
    u.commit("v2");
    BOOST_TEST((names(r) == std::map<long, std::string>{{1, "a"}, {3, "c"}}));
}

BOOST_AUTO_TEST_CASE(new_fields_add_columns) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    TableUpdate u(r, products());
    u.apply(parser.parse(
        doc(R"({"id":4,"name":"d","color":"red"})", R"({"id":1,"name":"a","color":"blue"})", "")));
    u.commit("v2");
    auto cols = r.columns("products");
    BOOST_TEST((cols == std::vector<std::string>{"id", "name", "color"}));
    sqlite::Statement s(r.database(), "SELECT id, color FROM products ORDER BY id");
    std::map<long, std::string> colors;
    while (s.step()) colors[s.column_int(0)] = s.column_is_null(1) ? "<null>" : s.column_text(1);
    BOOST_TEST((colors == std::map<long, std::string>{
                              {1, "blue"}, {2, "<null>"}, {3, "<null>"}, {4, "red"}}));
}

BOOST_AUTO_TEST_CASE(values_keep_their_storage_class) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    TableUpdate u(r, products());
    u.start_rebuild();
    u.apply(parser.parse(doc(
        R"({"id":1,"i":5,"r":2.5,"t":"5","b":true,"n":null,"j":{"k": [1]},"big":1234567890123456789012.5})",
        "", "")));
    u.commit("v1");
    sqlite::Statement s(r.database(),
                        "SELECT typeof(id), typeof(i), typeof(r), typeof(t), typeof(b), typeof(n), "
                        "typeof(j), j, typeof(big), big FROM products");
    BOOST_REQUIRE(s.step());
    std::vector<std::string> got;
    for (int i = 0; i < 10; ++i) got.push_back(s.column_text(i));
    BOOST_TEST((got == std::vector<std::string>{"integer", "integer", "real", "text", "integer",
                                                "null", "text", R"({"k": [1]})", "text",
                                                "1234567890123456789012.5"}));
}

BOOST_AUTO_TEST_CASE(resync_swaps_the_new_table_in_at_commit) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    Replica reader(scratch.path);  // another connection, as an application reading the replica
    {
        TableUpdate u(r, products());
        BOOST_REQUIRE(u.cursor());
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"id":10,"name":"x","extra":1})", "", "", "v9")));
        u.apply(parser.parse(doc(R"({"id":11,"name":"y","extra":2})", "", "", "v9")));
        // Half built: the reader still sees the old table, whole.
        BOOST_TEST((names(reader) == std::map<long, std::string>{{1, "a"}, {2, "b"}, {3, "c"}}));
        u.commit("v9");
    }
    BOOST_TEST((names(reader) == std::map<long, std::string>{{10, "x"}, {11, "y"}}));
    BOOST_TEST((reader.columns("products") == std::vector<std::string>{"id", "name", "extra"}));
    BOOST_TEST(reader.state("products")->server_version == "v9");
    BOOST_TEST(!reader.has_table("_delta_sync_rebuild"));
}

BOOST_AUTO_TEST_CASE(an_uncommitted_update_leaves_rows_and_cursor_as_they_were) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    {
        TableUpdate u(r, products());
        u.apply(parser.parse(
            doc(R"({"id":5,"name":"e","color":"red"})", R"({"id":1,"name":"z"})", R"("2")")));
    }  // no commit: an exception or a crash
    {
        TableUpdate rebuild(r, products());
        rebuild.start_rebuild();
        rebuild.apply(parser.parse(doc(R"({"id":7,"name":"q"})", "", "")));
    }
    BOOST_TEST((names(r) == std::map<long, std::string>{{1, "a"}, {2, "b"}, {3, "c"}}));
    BOOST_TEST((r.columns("products") == std::vector<std::string>{"id", "name"}));
    BOOST_TEST(r.state("products")->server_version == "v1");
    BOOST_TEST(!r.has_table("_delta_sync_rebuild"));
}

BOOST_AUTO_TEST_CASE(a_table_dropped_from_the_replica_is_fetched_again) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    r.database().exec("DROP TABLE products");
    TableUpdate u(r, products());
    BOOST_TEST(!u.cursor());
}

BOOST_AUTO_TEST_CASE(text_and_numeric_keys_are_deleted_by_their_stored_value) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    ReplicaTable codes{"codes", "code", ReplicaTable::KeyKind::text};
    ReplicaTable prices{"prices", "p", ReplicaTable::KeyKind::number};
    {
        TableUpdate u(r, codes);
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"code":"a-1"},{"code":"b\"2"},{"code":"3"})", "", "")));
        u.commit("v1");
    }
    {
        TableUpdate u(r, prices);
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"p":1.5},{"p":2},{"p":99999999999999999999.5})", "", "")));
        u.commit("v1");
    }
    {
        TableUpdate u(r, codes);
        u.apply(parser.parse(doc("", "", R"("b\"2","3")")));
        u.commit("v2");
    }
    {
        TableUpdate u(r, prices);
        u.apply(parser.parse(doc("", "", R"("1.5","99999999999999999999.5")")));
        u.commit("v2");
    }
    sqlite::Statement c(r.database(), "SELECT code FROM codes");
    std::vector<std::string> left;
    while (c.step()) left.push_back(c.column_text(0));
    BOOST_TEST((left == std::vector<std::string>{"a-1"}));
    sqlite::Statement p(r.database(), "SELECT p, typeof(p) FROM prices");
    BOOST_REQUIRE(p.step());
    BOOST_TEST(p.column_int(0) == 2);
    BOOST_TEST(p.column_text(1) == "integer");
    BOOST_TEST(!p.step());
}

BOOST_AUTO_TEST_CASE(key_values_follow_the_key_kind) {
    ReplicaTable ints{"t", "id", ReplicaTable::KeyKind::integer};
    ReplicaTable texts{"t", "id", ReplicaTable::KeyKind::text};
    BOOST_TEST((key_value(ints, "42") == SqlValue::of_integer(42)));
    BOOST_TEST((key_value(texts, "42") == SqlValue::of_text("42")));
}

BOOST_AUTO_TEST_CASE(a_record_without_its_key_is_refused) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    TableUpdate u(r, products());
    BOOST_CHECK_THROW(u.apply(parser.parse(doc(R"({"name":"no id"})", "", ""))), Error);
}

BOOST_AUTO_TEST_SUITE_END()
