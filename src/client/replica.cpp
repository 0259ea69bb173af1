// The SQLite replica and the transaction of one table's pull (see replica.hpp for why it is safe
// and what it owns).
#include "replica.hpp"

#include "errors.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <tuple>

namespace delta_sync::client {

using sqlite::quote_identifier;
using sqlite::Statement;

namespace {

// SQLite compares names ignoring ASCII case only; so does this.
std::string fold(std::string_view name) {
    std::string out(name);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool starts_with_folded(std::string_view name, std::string_view prefix) {
    return fold(name.substr(0, prefix.size())) == prefix;
}

std::string quote_pg(std::string_view name) {
    bool plain = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) plain = false;
    if (plain) return std::string(name);
    return quote_identifier(name);
}

bool is_json_text(std::string_view text) {
    static thread_local simdjson::dom::parser parser;
    return !parser.parse(text.data(), text.size(), true).error();
}

// `text` as a JSON string, escaped the way PostgreSQL's to_json escapes.
std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (char ch : text) {
        unsigned char u = static_cast<unsigned char>(ch);
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (u < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", u);
                    out += buf;
                } else {
                    out += ch;
                }
        }
    }
    return out + "\"";
}

// The page cache of the connection (16 MiB: a delta's updates land anywhere in the table), and
// while a table is rebuilt (4 MiB).
const char* const cache_size = "PRAGMA cache_size = -16384";
const char* const rebuild_cache_size = "PRAGMA cache_size = -4096";

const char* const own_tables[] = {"_delta_sync_state", "_delta_sync_source", "_delta_sync_rebuild"};

}  // namespace

const ReplicaColumn* ReplicaTable::column(std::string_view column_name) const {
    for (const ReplicaColumn& c : columns)
        if (c.name == column_name) return &c;
    return nullptr;
}

int ReplicaTable::key_position(std::string_view column_name) const {
    for (std::size_t i = 0; i < primary_key.size(); ++i)
        if (primary_key[i] == column_name) return static_cast<int>(i + 1);
    return 0;
}

std::string ReplicaTable::key_description() const {
    if (primary_key.size() == 1) return primary_key[0];
    std::string out = "(";
    for (std::size_t i = 0; i < primary_key.size(); ++i) out += (i ? ", " : "") + primary_key[i];
    return out + ")";
}

std::string ReplicaTable::server_name() const {
    if (server_table.empty()) return name;
    return quote_pg(server_schema) + "." + quote_pg(server_table);
}

std::string ReplicaSource::describe() const {
    return "database \"" + database + "\" (oid " + std::to_string(database_oid) +
           ") of the cluster with system identifier " + system_identifier;
}

SqlValue key_value(const ReplicaTable& table, std::string_view key) {
    std::string scratch;
    SqlValue v = key_value(table, key, scratch);
    if (v.kind == SqlValue::Kind::blob || (!v.text.empty() && v.text.data() == scratch.data()))
        throw Error("internal: a bytea or json key needs its scratch");
    return v;
}

namespace {

// The value of one key column from its text in a deleted key: the column's own mapping when
// its type is known, else by the table's key kind.
SqlValue key_column_value(const ReplicaColumn* c, ReplicaTable::KeyKind key_kind,
                          std::string_view key, std::string& scratch) {
    if (c) {
        // A deleted key is the key's text as its record shows it: give it back its JSON form
        // (a number as itself, anything else as a string) and store it like a field.
        std::string json;
        bool number = c->kind == ColumnKind::integer || c->kind == ColumnKind::floating ||
                      c->kind == ColumnKind::decimal_real || c->kind == ColumnKind::decimal_text;
        if (c->kind == ColumnKind::boolean) {
            if (key == "true" || key == "false") return SqlValue::of_integer(key == "true" ? 1 : 0);
        } else if (number && !canonical_decimal(key).empty()) {
            Field f{"", value_of_json_number(key), key};
            return stored_value(c->kind, f, scratch);
        } else if (c->kind == ColumnKind::bytes) {
            if (decode_bytea(key, scratch)) return SqlValue::of_blob(scratch);
        } else if (c->kind == ColumnKind::json) {
            // The column holds JSON text; the key comes as its string when it is a JSON string,
            // else as its JSON text. A string whose characters are JSON text themselves ('12',
            // 'true') cannot be told from that JSON: it is taken for the JSON.
            if (is_json_text(key)) return SqlValue::of_text(key);
            scratch = json_string(key);
            return SqlValue::of_text(scratch);
        } else if (number && (key == "NaN" || key == "Infinity" || key == "-Infinity")) {
            if (key == "NaN" || c->kind == ColumnKind::decimal_text) return SqlValue::of_text(key);
            return SqlValue::of_real(key[0] == '-' ? -HUGE_VAL : HUGE_VAL);
        }
        return SqlValue::of_text(key);
    }
    switch (key_kind) {
        case ReplicaTable::KeyKind::integer: {
            std::int64_t v = 0;
            auto r = std::from_chars(key.data(), key.data() + key.size(), v);
            if (r.ec == std::errc() && r.ptr == key.data() + key.size())
                return SqlValue::of_integer(v);
            return SqlValue::of_text(key);
        }
        case ReplicaTable::KeyKind::number:
            if (!canonical_decimal(key).empty()) return value_of_json_number(key);
            return SqlValue::of_text(key);
        case ReplicaTable::KeyKind::text:
            break;
    }
    return SqlValue::of_text(key);
}

}  // namespace

SqlValue key_value(const ReplicaTable& table, std::string_view key, std::string& scratch) {
    const ReplicaColumn* c = table.primary_key.empty() ? nullptr : table.column(table.primary_key[0]);
    return key_column_value(c, table.key_kind, key, scratch);
}

std::vector<SqlValue> key_values(const ReplicaTable& table, std::string_view key,
                                 std::vector<std::string>& scratch) {
    std::size_t n = table.primary_key.size();
    // Sized before any value points into it: no string moves afterwards.
    scratch.assign(2 * n, std::string());
    std::vector<SqlValue> out;
    if (n == 1) {
        out.push_back(key_value(table, key, scratch[0]));
        return out;
    }
    // Each element as a single-column key would be written: a JSON string's characters, else
    // the element's JSON text. Untyped tables take a number for a number.
    std::vector<bool> numbers(n, false);
    std::size_t found = 0;
    try {
        // The whole text must be one JSON array (ondemand reads no further than it needs).
        static thread_local simdjson::dom::parser validator;
        if (!validator.parse(key.data(), key.size(), true).is_array()) throw Error("not an array");
        simdjson::ondemand::parser parser;
        simdjson::padded_string padded(key);
        simdjson::ondemand::document doc = parser.iterate(padded);
        for (auto element : doc.get_array()) {
            simdjson::ondemand::value v = element.value();
            if (found == n) {
                found = n + 1;
                break;
            }
            std::string& text = scratch[n + found];
            switch (v.type().value()) {
                case simdjson::ondemand::json_type::string:
                    text = std::string(v.get_string().value());
                    break;
                case simdjson::ondemand::json_type::object:
                    text = std::string(v.get_object().value().raw_json().value());
                    break;
                case simdjson::ondemand::json_type::array:
                    text = std::string(v.get_array().value().raw_json().value());
                    break;
                case simdjson::ondemand::json_type::null:
                    throw Error("a key value is null");
                default: {
                    std::string_view raw = v.raw_json_token();
                    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' ||
                                            raw.back() == '\r' || raw.back() == '\t'))
                        raw.remove_suffix(1);
                    numbers[found] = v.type().value() == simdjson::ondemand::json_type::number;
                    text = std::string(raw);
                }
            }
            ++found;
        }
    } catch (const simdjson::simdjson_error&) {
        found = 0;
    } catch (const Error&) {
        found = 0;
    }
    if (found != n)
        throw Error("the server sent a deleted key of " + table.server_name() + " that is not " +
                    "the JSON array of its " + std::to_string(n) + " key columns " +
                    table.key_description() + ": " + std::string(key));
    for (std::size_t i = 0; i < n; ++i) {
        ReplicaTable::KeyKind kind =
            numbers[i] ? ReplicaTable::KeyKind::number : ReplicaTable::KeyKind::text;
        out.push_back(key_column_value(table.column(table.primary_key[i]), kind, scratch[n + i],
                                       scratch[i]));
    }
    return out;
}

std::string record_key_json(const ReplicaTable& table, const Record& record) {
    std::string out;
    bool composite = table.primary_key.size() > 1;
    for (const std::string& name : table.primary_key) {
        const Field* f = record.find(name);
        if (!f)
            throw Error("the server sent a record of " + table.name + " without its key column " +
                        name);
        if (!composite) return std::string(f->json);
        out += (out.empty() ? "[" : ",") + std::string(f->json);
    }
    return out + "]";
}

Replica::Replica(const std::string& path, Open open)
    : db_(path, open == Open::create ? sqlite::Database::Mode::create
                                     : sqlite::Database::Mode::existing) {
    // A pull holds the write lock only while it applies; another writer waits that long.
    sqlite3_busy_timeout(db_.handle(), 60000);
    if (open == Open::create && sqlite3_db_readonly(db_.handle(), "main") == 1)
        throw Error("replica " + path + " is read-only (delta-sync needs to write it)");
    db_.exec("PRAGMA synchronous = FULL");
    db_.exec(cache_size);
    if (has_table("_delta_sync_state")) return;
    // Not (yet) a replica: only an empty file may become one.
    Statement s(db_,
                "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 4");
    std::string names;
    int n = 0;
    while (s.step()) names += std::string(n++ ? ", " : "") + "\"" + s.column_text(0) + "\"";
    if (n > 0)
        throw Error("replica " + path + " is not a delta-sync replica: it holds " + names +
                    (n > 3 ? ", ..." : "") +
                    " and no _delta_sync_state; delta-sync leaves it alone (choose another file)");
}

std::optional<SyncState> Replica::state(std::string_view table) {
    for (SyncState& s : states())
        if (s.table_name == table) return std::move(s);
    return std::nullopt;
}

std::vector<SyncState> Replica::states() {
    std::vector<SyncState> out;
    if (!has_table("_delta_sync_state")) return out;
    bool identities = false;
    bool shapes = false;
    for (const std::string& c : columns("_delta_sync_state")) {
        if (c == "server_oid") identities = true;
        if (c == "shape") shapes = true;
    }
    Statement s(db_, std::string("SELECT table_name, server_version, synced_at") +
                         (identities ? ", server_oid, server_schema, server_table" : ", 0, 0, 0") +
                         (shapes ? ", shape" : "") + " FROM _delta_sync_state ORDER BY 1");
    while (s.step()) {
        SyncState st{s.column_text(0), s.column_text(1), s.column_text(2)};
        if (identities && !s.column_is_null(3)) {
            st.server_oid = static_cast<std::uint32_t>(s.column_int(3));
            st.server_schema = s.column_text(4);
            st.server_table = s.column_text(5);
        }
        if (shapes && !s.column_is_null(6)) st.shape = s.column_text(6);
        out.push_back(std::move(st));
    }
    return out;
}

bool Replica::has_table(std::string_view table) {
    Statement s(db_, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?");
    s.bind(1, SqlValue::of_text(table));
    return s.step();
}

std::vector<std::string> Replica::columns(std::string_view table) {
    std::vector<std::string> out;
    Statement s(db_, "SELECT name FROM pragma_table_info(?)");
    s.bind(1, SqlValue::of_text(table));
    while (s.step()) out.push_back(s.column_text(0));
    return out;
}

std::optional<ReplicaSource> Replica::source() {
    if (!has_table("_delta_sync_source")) return std::nullopt;
    Statement s(db_,
                "SELECT system_identifier, database_name, database_oid FROM _delta_sync_source");
    if (!s.step()) return std::nullopt;
    return ReplicaSource{s.column_text(0), s.column_text(1),
                         static_cast<std::uint32_t>(s.column_int(2))};
}

void Replica::check_source(const ReplicaSource& server) {
    auto mine = source();
    if (!mine) return;
    if (mine->system_identifier != server.system_identifier ||
        mine->database_oid != server.database_oid || mine->database != server.database)
        throw Error("replica " + db_.path() + " is a copy of " + mine->describe() + ", not of " +
                    server.describe() + "; refusing to mix them (use another file)");
}

std::optional<std::string> Replica::find(const ReplicaTable& table) {
    std::vector<SyncState> all = states();
    if (table.server_oid != 0)
        for (const SyncState& s : all)
            if (s.server_oid == table.server_oid) return s.table_name;
    for (const SyncState& s : all)
        if (s.server_oid != 0 && s.server_schema == table.server_schema &&
            s.server_table == table.server_table)
            return s.table_name;
    // Recorded before identities: the name alone, exactly.
    for (const SyncState& s : all)
        if (s.server_oid == 0 && s.table_name == table.name) return s.table_name;
    return std::nullopt;
}

void Replica::check_name_free(const ReplicaTable& table) {
    // Any object of that name but the replica's own table of that exact name is the user's.
    Statement s(db_,
                "SELECT type, name FROM sqlite_schema WHERE name = ? COLLATE NOCASE "
                "AND type IN ('table', 'view', 'index')");
    s.bind(1, SqlValue::of_text(table.name));
    while (s.step()) {
        if (s.column_text(0) == "table" && s.column_text(1) == table.name && state(table.name))
            continue;
        throw Error("replica " + db_.path() + " already has a " + s.column_text(0) + " \"" +
                    s.column_text(1) + "\" that is not a copy of a server table: table " +
                    table.server_name() +
                    " cannot be stored there (rename it, or use another replica file)");
    }
}

void Replica::place(ReplicaTable& table) {
    // Columns first: SQLite would take "Name" and "name" for one column.
    std::vector<std::string> names;
    for (const ReplicaColumn& c : table.columns) names.push_back(c.name);
    for (const ReplicaColumn& c : table.columns)
        if (!generated_column_name(c).empty()) names.push_back(generated_column_name(c));
    for (std::size_t i = 0; i < names.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (fold(names[i]) == fold(names[j]))
                throw Error("table " + table.server_name() + " has columns \"" + names[j] +
                            "\" and \"" + names[i] +
                            "\", which SQLite cannot tell apart (its names ignore case); the "
                            "replica cannot hold this table");
    for (const ReplicaTable& p : placed_)
        if (p.server_oid == table.server_oid && table.server_oid != 0) {
            table.name = p.name;
            return;
        }
    if (auto name = find(table)) {
        table.name = *name;
    } else {
        std::string wanted = fold(table.name);
        if (starts_with_folded(table.name, "_delta_sync_") ||
            starts_with_folded(table.name, "sqlite_"))
            throw Error("table " + table.server_name() + " would be stored as \"" + table.name +
                        "\", a name the replica keeps for itself");
        for (const SyncState& s : states())
            if (fold(s.table_name) == wanted && has_table(s.table_name))
                throw Error("table " + table.server_name() + " would be stored as \"" + table.name +
                            "\", which SQLite cannot tell from \"" + s.table_name +
                            "\", the copy of " +
                            (s.server_table.empty()
                                 ? std::string("another table")
                                 : quote_pg(s.server_schema) + "." + quote_pg(s.server_table)) +
                            " (use another replica file, or drop \"" + s.table_name +
                            "\" from this one if that table is gone)");
        check_name_free(table);
    }
    for (const ReplicaTable& p : placed_)
        if (fold(p.name) == fold(table.name) && p.server_oid != table.server_oid)
            throw Error("tables " + p.server_name() + " and " + table.server_name() +
                        " would both be stored as \"" + table.name +
                        "\" (SQLite names ignore case); pull them into different replica files");
    placed_.push_back(table);
}

void Replica::prepare_for_writing() {
    if (prepared_) return;
    // A new file gets 16 KiB pages (SQLite ignores this once the file has any): a first sync
    // writes every page twice, to the WAL and then by the checkpoint, and a quarter of the pages
    // is a quarter of the frames, writes and B-tree splits (a fifth of the client's CPU in a
    // first sync of 10^6 rows).
    db_.exec("PRAGMA page_size = 16384");
    db_.exec("PRAGMA journal_mode = WAL");
    // The cache's page count was computed for the page size the file had when it was opened:
    // computed again for the one it has now (else 16 MiB of 4 KiB pages become 56 MiB).
    db_.exec(cache_size);
    // A first sync writes the whole table through the WAL; do not keep a file that size around.
    db_.exec("PRAGMA journal_size_limit = 67108864");
    db_.exec(
        "CREATE TABLE IF NOT EXISTS _delta_sync_state (table_name TEXT PRIMARY KEY, "
        "server_version TEXT NOT NULL, synced_at TEXT, server_oid INTEGER, server_schema TEXT, "
        "server_table TEXT)");
    std::vector<std::string> cols = columns("_delta_sync_state");
    if (std::find(cols.begin(), cols.end(), "server_oid") == cols.end())
        db_.exec(
            "ALTER TABLE _delta_sync_state ADD COLUMN server_oid INTEGER; "
            "ALTER TABLE _delta_sync_state ADD COLUMN server_schema TEXT; "
            "ALTER TABLE _delta_sync_state ADD COLUMN server_table TEXT");
    if (std::find(cols.begin(), cols.end(), "shape") == cols.end())
        db_.exec("ALTER TABLE _delta_sync_state ADD COLUMN shape TEXT");
    prepared_ = true;
}

void Replica::claim(const ReplicaSource& server) {
    check_source(server);
    prepare_for_writing();
    if (source()) return;
    db_.exec(
        "CREATE TABLE IF NOT EXISTS _delta_sync_source (system_identifier TEXT NOT NULL, "
        "database_name TEXT NOT NULL, database_oid INTEGER NOT NULL)");
    Statement s(db_, "INSERT INTO _delta_sync_source VALUES (?, ?, ?)");
    s.bind(1, SqlValue::of_text(server.system_identifier));
    s.bind(2, SqlValue::of_text(server.database));
    s.bind(3, SqlValue::of_integer(server.database_oid));
    s.run();
}

TableUpdate::TableUpdate(Replica& replica, ReplicaTable table)
    : replica_(replica), db_(replica.database()), table_(std::move(table)) {
    cursor_ = read_cursor();
}

TableUpdate::~TableUpdate() {
    if (done_ || !locked_) return;
    upserts_.clear();
    delete_ = Statement();
    // Nothing to report from a destructor: if ROLLBACK fails, SQLite rolls back when the
    // connection closes, or the next open recovers from the journal.
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    if (rebuilding_) sqlite3_exec(db_.handle(), cache_size, nullptr, nullptr, nullptr);
}

std::optional<std::string> TableUpdate::read_cursor() {
    // A cursor without its table (someone dropped it) is worthless: fetch everything. So is one
    // of another server table of the same name, or one over columns that are not the server's.
    if (!replica_.has_table(table_.name)) return std::nullopt;
    auto s = replica_.state(table_.name);
    if (!s) return std::nullopt;
    if (s->server_oid != 0 && table_.server_oid != 0 && s->server_oid != table_.server_oid)
        return std::nullopt;
    // A table copied with another shape (columns, filter) is fetched again in full.
    if (s->shape != table_.shape) return std::nullopt;
    columns_changed_ = !table_.columns.empty() && !conforms(table_.name);
    if (columns_changed_) return std::nullopt;
    return s->server_version;
}

bool TableUpdate::conforms(const std::string& name) {
    // (name, declared type, key) of every column create_statement() would make, in its order.
    // (name, declared type, position in the primary key or 0) of every column create_statement()
    // would make, in its order.
    std::vector<std::tuple<std::string, std::string, int>> want;
    for (const ReplicaColumn& c : table_.columns)
        want.emplace_back(c.name, fold(declared_type(c.kind)), table_.key_position(c.name));
    for (const ReplicaColumn& c : table_.columns)
        if (!generated_column_name(c).empty())
            want.emplace_back(generated_column_name(c), "real", 0);
    Statement s(db_, "SELECT name, type, pk FROM pragma_table_xinfo(?) ORDER BY cid");
    s.bind(1, SqlValue::of_text(name));
    std::size_t i = 0;
    for (; s.step(); ++i)
        if (i >= want.size() ||
            want[i] != std::make_tuple(s.column_text(0), fold(s.column_text(1)),
                                       static_cast<int>(s.column_int(2))))
            return false;
    return i == want.size();
}

std::string TableUpdate::create_statement(const std::string& name) const {
    std::string sql = "CREATE TABLE " + quote_identifier(name) + " (";
    bool composite = table_.primary_key.size() > 1;
    // A composite key is the table's PRIMARY KEY (a, b, ...), in the server's key order.
    std::string key_constraint;
    if (composite) {
        for (const std::string& k : table_.primary_key)
            key_constraint += (key_constraint.empty() ? ", PRIMARY KEY (" : ", ") + quote_identifier(k);
        key_constraint += ")";
    }
    if (table_.columns.empty()) {
        if (composite) {
            std::string cols;
            for (const std::string& k : table_.primary_key)
                cols += (cols.empty() ? "" : ", ") + quote_identifier(k);
            return sql + cols + key_constraint + ")";
        }
        // An integer key becomes the rowid: the fastest table SQLite has, and any 64-bit value.
        const char* key_type = table_.key_kind == ReplicaTable::KeyKind::integer ? " INTEGER" : "";
        return sql + quote_identifier(table_.primary_key.at(0)) + key_type + " PRIMARY KEY)";
    }
    bool first = true;
    for (const ReplicaColumn& c : table_.columns) {
        sql += (first ? "" : ", ") + quote_identifier(c.name);
        if (*declared_type(c.kind)) sql += std::string(" ") + declared_type(c.kind);
        if (!composite && table_.key_position(c.name)) sql += " PRIMARY KEY";
        first = false;
    }
    for (const ReplicaColumn& c : table_.columns)
        if (!generated_column_name(c).empty()) sql += ", " + generated_column_definition(c);
    return sql + key_constraint + ")";
}

void TableUpdate::lock() {
    if (locked_) return;
    replica_.prepare_for_writing();  // outside the transaction: the journal mode is set there
    db_.exec("BEGIN IMMEDIATE");
    locked_ = true;
    try {
        // Under the lock: nobody created a table of that name since it was placed.
        replica_.check_name_free(table_);
        if (read_cursor() != cursor_)
            throw ReplicaChanged("replica table " + table_.name +
                                 " was updated by another pull meanwhile");
        if (replica_.has_table(table_.name)) {
            for (auto& c : replica_.columns(table_.name)) columns_.insert(std::move(c));
            delete_ = Statement(db_, "DELETE FROM " + quote_identifier(table_.name) + " WHERE " +
                                         key_condition());
        }
    } catch (...) {
        delete_ = Statement();
        sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
        locked_ = false;
        throw;
    }
}

void TableUpdate::start_rebuild() {
    lock();
    upserts_.clear();
    delete_ = Statement();
    rebuilding_ = true;
    // Rows go to an empty table in key order: a small cache loses nothing there (the pages are
    // written once whatever its size), and it keeps the pull's memory low.
    db_.exec(rebuild_cache_size);
    if (!table_.columns.empty() && replica_.has_table(table_.name) && conforms(table_.name)) {
        // Same columns: empty the table in place, so that whatever the user built on it stays.
        db_.exec("DELETE FROM " + quote_identifier(table_.name));
        swapping_ = false;
        return;
    }
    swapping_ = true;
    columns_.clear();
    db_.exec("DROP TABLE IF EXISTS " + quote_identifier(rebuild_name_));
    db_.exec(create_statement(rebuild_name_));
    for (auto& c : replica_.columns(rebuild_name_)) columns_.insert(std::move(c));
}

void TableUpdate::add_missing_columns(const Record& record) {
    for (const Field& f : record) {
        std::string name(f.name);
        if (columns_.count(name)) continue;
        const ReplicaColumn* c = table_.column(f.name);
        if (!table_.columns.empty() && !c)
            throw ReplicaChanged("table " + table_.server_name() + " has a new column " + name +
                                 "; pulling again");
        std::string type =
            c && *declared_type(c->kind) ? std::string(" ") + declared_type(c->kind) : "";
        // Without a declared type a column has no affinity: each value keeps its storage class.
        db_.exec("ALTER TABLE " + quote_identifier(target()) + " ADD COLUMN " +
                 quote_identifier(name) + type);
        columns_.insert(std::move(name));
    }
}

std::string TableUpdate::key_condition() const {
    std::string where;
    for (const std::string& k : table_.primary_key)
        where += (where.empty() ? "" : " AND ") + quote_identifier(k) + " = ?";
    return where;
}

TableUpdate::Upsert& TableUpdate::upsert_for(const Record& record) {
    for (Upsert& u : upserts_) {
        if (u.names.size() != record.size()) continue;
        std::size_t i = 0;
        for (const Field& f : record) {
            if (u.names[i] != f.name) break;
            ++i;
        }
        if (i == u.names.size()) return u;
    }
    for (const std::string& k : table_.primary_key)
        if (!record.find(k))
            throw Error("the server sent a record of " + table_.name + " without its key column " +
                        k);
    add_missing_columns(record);
    Upsert u;
    std::string cols, params, sets;
    for (const Field& f : record) {
        std::string q = quote_identifier(f.name);
        if (!cols.empty()) {
            cols += ", ";
            params += ", ";
        }
        cols += q;
        params += "?";
        if (!table_.key_position(f.name))
            sets += (sets.empty() ? "" : ", ") + q + " = excluded." + q;
        u.names.emplace_back(f.name);
        if (!table_.columns.empty()) {
            u.columns.push_back(table_.column(f.name));
            if (!u.columns.back())
                throw ReplicaChanged("table " + table_.server_name() + " has a new column " +
                                     std::string(f.name) + "; pulling again");
        }
    }
    std::string key_list;
    for (const std::string& k : table_.primary_key)
        key_list += (key_list.empty() ? "" : ", ") + quote_identifier(k);
    std::string sql = "INSERT INTO " + quote_identifier(target()) + " (" + cols + ") VALUES (" +
                      params + ") ON CONFLICT (" + key_list + ") DO " +
                      (sets.empty() ? "NOTHING" : "UPDATE SET " + sets);
    u.statement = Statement(db_, sql);
    upserts_.push_back(std::move(u));
    return upserts_.back();
}

void TableUpdate::upsert(const Record& record, const JsonNulls* json_nulls) {
    Upsert& u = upsert_for(record);
    if (table_.columns.empty()) {
        int i = 1;
        for (const Field& f : record) u.statement.bind(i++, f.value);
        u.statement.run_rebound();
        return;
    }
    if (blobs_.size() < record.size()) blobs_.resize(record.size());
    std::string key;  // the record's key as json_nulls knows it, when needed
    int i = 1;
    for (const Field& f : record) {
        const ReplicaColumn* c = u.columns[i - 1];  // add_missing_columns() refused unknown ones
        SqlValue v = stored_value(c->kind, f, blobs_[i - 1]);
        if (c->kind == ColumnKind::json && v.kind == SqlValue::Kind::null && json_nulls &&
            json_nulls->count({key.empty() ? (key = record_key_json(table_, record)) : key, c->name}))
            v = SqlValue::of_text("null");
        u.statement.bind(i++, v);
    }
    u.statement.run_rebound();
}

ApplyCounts TableUpdate::apply(const DeltaPage& page, const JsonNulls* json_nulls) {
    lock();
    if (!rebuilding_ && !replica_.has_table(table_.name) && page.entries() > 0)
        throw Error("internal: a delta for " + table_.name + " without its table");
    ApplyCounts counts;
    if (!rebuilding_ && delete_) {
        for (std::string_view id : page.deleted()) {
            std::vector<SqlValue> values = key_values(table_, id, key_scratch_);
            for (std::size_t k = 0; k < values.size(); ++k)
                delete_.bind(static_cast<int>(k + 1), values[k]);
            delete_.run();
        }
    }
    counts.deleted = static_cast<long>(page.deleted().size());
    for (const Record& r : page.updated()) upsert(r, json_nulls);
    counts.updated = static_cast<long>(page.updated().size());
    for (const Record& r : page.created()) upsert(r, json_nulls);
    counts.created = static_cast<long>(page.created().size());
    return counts;
}

void TableUpdate::swap_in_rebuilt_table() {
    // The user's indexes and triggers on the old table go with it: note them, to create them
    // again on the new one. (SQLite's own indexes have no SQL.)
    std::vector<std::pair<std::string, std::string>> objects;  // (type name, sql)
    {
        Statement s(db_,
                    "SELECT type || ' \"' || name || '\"', sql FROM sqlite_schema "
                    "WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL "
                    "ORDER BY type = 'trigger', rowid");
        s.bind(1, SqlValue::of_text(table_.name));
        while (s.step()) objects.emplace_back(s.column_text(0), s.column_text(1));
    }
    db_.exec("DROP TABLE IF EXISTS " + quote_identifier(table_.name));
    // The legacy rename checks no view: a user's view over the table is resolved when it is
    // queried, and the table it names is back under that name at commit.
    db_.exec("PRAGMA legacy_alter_table = ON");
    try {
        db_.exec("ALTER TABLE " + quote_identifier(rebuild_name_) + " RENAME TO " +
                 quote_identifier(table_.name));
    } catch (...) {
        sqlite3_exec(db_.handle(), "PRAGMA legacy_alter_table = OFF", nullptr, nullptr, nullptr);
        throw;
    }
    db_.exec("PRAGMA legacy_alter_table = OFF");
    for (const auto& [what, sql] : objects) {
        char* err = nullptr;
        if (sqlite3_exec(db_.handle(), sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string why = err ? err : "unknown error";
            sqlite3_free(err);
            throw Error("replica " + db_.path() + ": the " + what + " on " + table_.name +
                        " cannot be kept through a resync of " + table_.server_name() + " (" + why +
                        "); drop it and pull again");
        }
    }
}

void TableUpdate::commit(const std::string& server_version) {
    lock();
    upserts_.clear();
    delete_ = Statement();
    if (rebuilding_ && swapping_) swap_in_rebuilt_table();
    {
        Statement s(db_,
                    "INSERT INTO _delta_sync_state (table_name, server_version, synced_at, "
                    "server_oid, server_schema, server_table, shape) "
                    "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?, ?, ?, ?) "
                    "ON CONFLICT (table_name) DO UPDATE SET "
                    "server_version = excluded.server_version, synced_at = excluded.synced_at, "
                    "server_oid = excluded.server_oid, server_schema = excluded.server_schema, "
                    "server_table = excluded.server_table, shape = excluded.shape");
        s.bind(1, SqlValue::of_text(table_.name));
        s.bind(2, SqlValue::of_text(server_version));
        if (table_.server_oid != 0) {
            s.bind(3, SqlValue::of_integer(table_.server_oid));
            s.bind(4, SqlValue::of_text(table_.server_schema));
            s.bind(5, SqlValue::of_text(table_.server_table));
        }
        if (!table_.shape.empty()) s.bind(6, SqlValue::of_text(table_.shape));
        s.run();
    }
    db_.exec("COMMIT");
    done_ = true;
    // (Committed: a failure here would change nothing of what was written.)
    if (rebuilding_) sqlite3_exec(db_.handle(), cache_size, nullptr, nullptr, nullptr);
}

}  // namespace delta_sync::client
