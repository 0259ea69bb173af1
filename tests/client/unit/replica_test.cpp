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
    return {"products", {"id"}, ReplicaTable::KeyKind::integer};
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
    ReplicaTable codes{"codes", {"code"}, ReplicaTable::KeyKind::text};
    ReplicaTable prices{"prices", {"p"}, ReplicaTable::KeyKind::number};
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
    ReplicaTable ints{"t", {"id"}, ReplicaTable::KeyKind::integer};
    ReplicaTable texts{"t", {"id"}, ReplicaTable::KeyKind::text};
    BOOST_TEST((key_value(ints, "42") == SqlValue::of_integer(42)));
    BOOST_TEST((key_value(texts, "42") == SqlValue::of_text("42")));
}

// A composite key: (line text, order_no numeric(10,2) as REAL, qty integer), in that key order,
// unlike the column order.
ReplicaTable order_lines() {
    ReplicaTable t;
    t.name = "order_lines";
    t.primary_key = {"line", "order_no"};
    t.columns = {{"order_no", "numeric(10,2)", ColumnKind::decimal_real},
                 {"line", "text", ColumnKind::text},
                 {"qty", "integer", ColumnKind::integer}};
    return t;
}

BOOST_AUTO_TEST_CASE(composite_deleted_keys_map_to_the_key_columns) {
    std::vector<std::string> scratch;
    auto v = key_values(order_lines(), R"(["a,b",17.50])", scratch);
    BOOST_REQUIRE(v.size() == 2);
    BOOST_TEST((v[0] == SqlValue::of_text("a,b")));
    BOOST_TEST((v[1] == SqlValue::of_real(17.5)));
    v = key_values(order_lines(), R"(["say \"hi\", [1]",2])", scratch);
    BOOST_TEST((v[0] == SqlValue::of_text(R"(say "hi", [1])")));
    BOOST_TEST((v[1] == SqlValue::of_real(2)));
    // Not the array of the key's two values: refused, never taken for another key.
    for (const char* bad : {R"("a,b")", R"(["a,b"])", R"(["a,b",1,2])", R"(["a,b",1] x)",
                            R"(["a,b",null])", "", "[1,"})
        BOOST_CHECK_THROW(key_values(order_lines(), bad, scratch), Error);
    // A single-column key stays the string itself.
    v = key_values(products(), "42", scratch);
    BOOST_REQUIRE(v.size() == 1);
    BOOST_TEST((v[0] == SqlValue::of_integer(42)));
}

BOOST_AUTO_TEST_CASE(composite_keys_are_the_replica_tables_primary_key) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    {
        TableUpdate u(r, order_lines());
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"order_no":17,"line":"a,b","qty":1},)"
                                 R"({"order_no":17.50,"line":"a,b","qty":2},)"
                                 R"({"order_no":17,"line":"c","qty":3})",
                                 "", "", "v1")));
        u.commit("v1");
    }
    sqlite::Statement pk(r.database(),
                         "SELECT name, pk FROM pragma_table_info('order_lines') WHERE pk > 0 ORDER BY pk");
    std::vector<std::string> key;
    while (pk.step()) key.push_back(pk.column_text(0));
    BOOST_TEST((key == std::vector<std::string>{"line", "order_no"}));
    {
        TableUpdate u(r, order_lines());
        BOOST_TEST((u.cursor() && *u.cursor() == "v1"));  // the table conforms: no rebuild
        u.apply(parser.parse(doc("", R"({"order_no":17,"line":"c","qty":30})", R"("[\"a,b\",17]")")));
        u.commit("v2");
    }
    sqlite::Statement rows(r.database(), "SELECT line, order_no, qty FROM order_lines ORDER BY 1, 2");
    std::vector<std::string> left;
    while (rows.step())
        left.push_back(rows.column_text(0) + " " + rows.column_text(1) + " " + rows.column_text(2));
    BOOST_TEST((left == std::vector<std::string>{"a,b 17.5 2", "c 17.0 30"}));
}

BOOST_AUTO_TEST_CASE(a_record_without_its_key_is_refused) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    first_sync(r, parser);
    TableUpdate u(r, products());
    BOOST_CHECK_THROW(u.apply(parser.parse(doc(R"({"name":"no id"})", "", ""))), Error);
}

// A typed table, as a pull describes it: id bigint key, name text, price numeric(40,20), f float8.
ReplicaTable typed(const std::string& name = "items", std::uint32_t oid = 100) {
    ReplicaTable t;
    t.name = name;
    t.primary_key = {"id"};
    t.key_kind = ReplicaTable::KeyKind::integer;
    t.server_oid = oid;
    t.server_schema = "public";
    t.server_table = name;
    t.columns = {{"id", "bigint", ColumnKind::integer},
                 {"name", "text", ColumnKind::text},
                 {"price", "numeric(40,20)", ColumnKind::decimal_text},
                 {"f", "double precision", ColumnKind::floating}};
    return t;
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_replica_is_refused_untouched) {
    ScratchReplica scratch;
    {
        sqlite::Database db(scratch.path, sqlite::Database::Mode::create);
        db.exec("CREATE TABLE t1 (id INTEGER PRIMARY KEY, important TEXT)");
    }
    auto before = fs::file_size(scratch.path);
    BOOST_CHECK_THROW(Replica r(scratch.path), Error);
    BOOST_TEST(fs::file_size(scratch.path) == before);
    BOOST_TEST(!fs::exists(scratch.path + "-wal"));
    sqlite::Database db(scratch.path, sqlite::Database::Mode::existing);
    sqlite::Statement mode(db, "PRAGMA journal_mode");
    BOOST_REQUIRE(mode.step());
    BOOST_TEST(mode.column_text(0) == "delete");
}

BOOST_AUTO_TEST_CASE(names_sqlite_cannot_tell_apart_are_refused) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    ReplicaTable items = typed();
    r.place(items);
    TableUpdate u(r, items);
    u.start_rebuild();
    u.apply(
        parser.parse(doc(R"({"id":1,"name":"a","price":1.50000000000000000000,"f":1})", "", "")));
    u.commit("v1");

    ReplicaTable other = typed("Items", 200);  // another server table, same folded name
    BOOST_CHECK_THROW(r.place(other), Error);
    ReplicaTable renamed = typed("goods", 100);  // the same table, renamed on the server
    r.place(renamed);
    BOOST_TEST(renamed.name == "items");
    ReplicaTable cased = typed("cased", 300);
    cased.columns.push_back({"Name", "text", ColumnKind::text});
    BOOST_CHECK_THROW(r.place(cased), Error);
    r.database().exec("CREATE TABLE mine (x)");
    ReplicaTable mine = typed("MINE", 400);
    BOOST_CHECK_THROW(r.place(mine), Error);
    ReplicaTable own = typed("_delta_sync_state", 500);
    BOOST_CHECK_THROW(r.place(own), Error);

    sqlite::Statement s(r.database(),
                        "SELECT typeof(price), price, typeof(f), \"price:real\" FROM items");
    BOOST_REQUIRE(s.step());
    BOOST_TEST(s.column_text(0) == "text");
    BOOST_TEST(s.column_text(1) == "1.50000000000000000000");
    BOOST_TEST(s.column_text(2) == "real");
    BOOST_TEST((s.column(3) == SqlValue::of_real(1.5)));
}

BOOST_AUTO_TEST_CASE(a_users_table_created_after_the_checks_is_not_dropped) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    ReplicaTable items = typed();
    r.place(items);
    TableUpdate u(r, items);
    r.database().exec("CREATE TABLE items (mine TEXT); INSERT INTO items VALUES ('keep')");
    BOOST_CHECK_THROW(u.start_rebuild(), Error);
    sqlite::Statement s(r.database(), "SELECT mine FROM items");
    BOOST_REQUIRE(s.step());
    BOOST_TEST(s.column_text(0) == "keep");
}

BOOST_AUTO_TEST_CASE(a_replica_takes_one_source) {
    ScratchReplica scratch;
    ReplicaSource a{"7300000000000000001", "app", 16384};
    {
        Replica r(scratch.path);
        BOOST_TEST(!r.source());
        r.claim(a);
    }
    Replica r(scratch.path);
    BOOST_TEST(r.source()->describe() == a.describe());
    r.check_source(a);
    ReplicaSource other_cluster{"7300000000000000002", "app", 16384};
    ReplicaSource other_database{"7300000000000000001", "app2", 16385};
    BOOST_CHECK_THROW(r.check_source(other_cluster), Error);
    BOOST_CHECK_THROW(r.check_source(other_database), Error);
    BOOST_CHECK_THROW(r.claim(other_cluster), Error);
}

BOOST_AUTO_TEST_CASE(a_resync_keeps_the_users_index_trigger_and_view) {
    ScratchReplica scratch;
    DeltaPageParser parser;
    Replica r(scratch.path);
    ReplicaTable items = typed();
    {
        TableUpdate u(r, items);
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"id":1,"name":"a","price":"NaN","f":2})", "", "")));
        u.commit("v1");
    }
    r.database().exec(
        "CREATE INDEX by_name ON items (name); CREATE VIEW named AS SELECT name FROM items; "
        "CREATE TABLE log (n); CREATE TRIGGER t AFTER INSERT ON items BEGIN INSERT INTO log "
        "VALUES (NEW.id); END");
    auto objects = [&] {
        std::vector<std::string> out;
        sqlite::Statement s(
            r.database(),
            "SELECT name FROM sqlite_schema WHERE name IN ('by_name', 'named', 't') "
            "ORDER BY 1");
        while (s.step()) out.push_back(s.column_text(0));
        return out;
    };
    BOOST_TEST(objects().size() == 3u);
    {  // in place: same columns
        TableUpdate u(r, items);
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"id":2,"name":"b","price":1,"f":3})", "", "")));
        u.commit("v2");
    }
    BOOST_TEST(objects().size() == 3u);
    items.columns.push_back({"color", "text", ColumnKind::text});
    {  // a new column: rebuilt and swapped in, the index and trigger created again
        TableUpdate u(r, items);
        BOOST_TEST(!u.cursor());
        BOOST_TEST(u.columns_changed());
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"id":3,"name":"c","price":2,"f":4,"color":"red"})", "", "")));
        u.commit("v3");
    }
    BOOST_TEST(objects().size() == 3u);
    sqlite::Statement v(r.database(), "SELECT name FROM named");
    BOOST_REQUIRE(v.step());
    BOOST_TEST(v.column_text(0) == "c");
    // An index on a column the server no longer has cannot be kept: refused, nothing changed.
    r.database().exec("CREATE INDEX by_color ON items (color)");
    items.columns.pop_back();
    {
        TableUpdate u(r, items);
        u.start_rebuild();
        u.apply(parser.parse(doc(R"({"id":4,"name":"d","price":2,"f":4})", "", "")));
        BOOST_CHECK_THROW(u.commit("v4"), Error);
    }
    BOOST_TEST(r.state("items")->server_version == "v3");
    BOOST_TEST(names(r, "items") == (std::map<long, std::string>{{3, "c"}}));
}

BOOST_AUTO_TEST_SUITE_END()
