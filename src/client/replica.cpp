// The SQLite replica and the transaction of one table's pull (see replica.hpp for why it is safe).
#include "replica.hpp"

#include "errors.hpp"

#include <charconv>

namespace delta_sync::client {

using sqlite::quote_identifier;
using sqlite::Statement;

SqlValue key_value(const ReplicaTable& table, std::string_view key) {
    switch (table.key_kind) {
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

Replica::Replica(const std::string& path, Open open)
    : db_(path, open == Open::create ? sqlite::Database::Mode::create
                                     : sqlite::Database::Mode::existing) {
    // A long first sync holds the write lock; a second writer waits a while, then says so.
    sqlite3_busy_timeout(db_.handle(), 10000);
    db_.exec("PRAGMA journal_mode = WAL");
    db_.exec("PRAGMA synchronous = FULL");
    // A first sync writes the whole table through the WAL; do not keep a file that size around.
    db_.exec("PRAGMA journal_size_limit = 67108864");
    db_.exec("PRAGMA cache_size = -16384");
    if (open == Open::create)
        db_.exec(
            "CREATE TABLE IF NOT EXISTS _delta_sync_state (table_name TEXT PRIMARY KEY, "
            "server_version TEXT NOT NULL, synced_at TEXT)");
}

std::optional<SyncState> Replica::state(std::string_view table) {
    if (!has_table("_delta_sync_state")) return std::nullopt;
    Statement s(db_,
                "SELECT server_version, synced_at FROM _delta_sync_state WHERE table_name = ?");
    s.bind(1, SqlValue::of_text(table));
    if (!s.step()) return std::nullopt;
    return SyncState{std::string(table), s.column_text(0), s.column_text(1)};
}

std::vector<SyncState> Replica::states() {
    std::vector<SyncState> out;
    if (!has_table("_delta_sync_state")) return out;
    Statement s(db_,
                "SELECT table_name, server_version, synced_at FROM _delta_sync_state ORDER BY 1");
    while (s.step()) out.push_back({s.column_text(0), s.column_text(1), s.column_text(2)});
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

TableUpdate::TableUpdate(Replica& replica, ReplicaTable table)
    : replica_(replica), db_(replica.database()), table_(std::move(table)) {
    db_.exec("BEGIN IMMEDIATE");
    try {
        // A cursor without its table (someone dropped it) is worthless: fetch everything.
        if (replica_.has_table(table_.name)) {
            if (auto s = replica_.state(table_.name)) cursor_ = s->server_version;
            for (auto& c : replica_.columns(table_.name)) columns_.insert(std::move(c));
            delete_ = Statement(db_, "DELETE FROM " + quote_identifier(table_.name) + " WHERE " +
                                         quote_identifier(table_.primary_key) + " = ?");
        }
    } catch (...) {
        db_.exec("ROLLBACK");
        throw;
    }
}

TableUpdate::~TableUpdate() {
    if (done_) return;
    upserts_.clear();
    delete_ = Statement();
    // Nothing to report from a destructor: if ROLLBACK fails, SQLite rolls back when the
    // connection closes, or the next open recovers from the journal.
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void TableUpdate::start_rebuild() {
    upserts_.clear();
    delete_ = Statement();
    columns_.clear();
    rebuilding_ = true;
    // An integer key becomes the rowid: the fastest table SQLite has, and still any 64-bit value.
    const char* key_type = table_.key_kind == ReplicaTable::KeyKind::integer ? " INTEGER" : "";
    db_.exec("DROP TABLE IF EXISTS " + quote_identifier(rebuild_name_));
    db_.exec("CREATE TABLE " + quote_identifier(rebuild_name_) + " (" +
             quote_identifier(table_.primary_key) + key_type + " PRIMARY KEY)");
    columns_.insert(table_.primary_key);
}

void TableUpdate::add_missing_columns(const Record& record) {
    for (const Field& f : record) {
        std::string name(f.name);
        if (columns_.count(name)) continue;
        // No declared type: no affinity, so each value keeps the storage class it was given.
        db_.exec("ALTER TABLE " + quote_identifier(target()) + " ADD COLUMN " +
                 quote_identifier(name));
        columns_.insert(std::move(name));
    }
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
    if (!record.find(table_.primary_key))
        throw Error("the server sent a record of " + table_.name + " without its primary key " +
                    table_.primary_key);
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
        if (f.name != table_.primary_key)
            sets += (sets.empty() ? "" : ", ") + q + " = excluded." + q;
        u.names.emplace_back(f.name);
    }
    std::string sql = "INSERT INTO " + quote_identifier(target()) + " (" + cols + ") VALUES (" +
                      params + ") ON CONFLICT (" + quote_identifier(table_.primary_key) + ") DO " +
                      (sets.empty() ? "NOTHING" : "UPDATE SET " + sets);
    u.statement = Statement(db_, sql);
    upserts_.push_back(std::move(u));
    return upserts_.back();
}

void TableUpdate::upsert(const Record& record) {
    Upsert& u = upsert_for(record);
    int i = 1;
    for (const Field& f : record) u.statement.bind(i++, f.value);
    u.statement.run();
}

ApplyCounts TableUpdate::apply(const DeltaPage& page) {
    if (!rebuilding_ && !replica_.has_table(table_.name) && page.entries() > 0)
        throw Error("internal: a delta for " + table_.name + " without its table");
    ApplyCounts counts;
    if (!rebuilding_ && delete_) {
        for (std::string_view id : page.deleted()) {
            delete_.bind(1, key_value(table_, id));
            delete_.run();
        }
    }
    counts.deleted = static_cast<long>(page.deleted().size());
    for (const Record& r : page.updated()) upsert(r);
    counts.updated = static_cast<long>(page.updated().size());
    for (const Record& r : page.created()) upsert(r);
    counts.created = static_cast<long>(page.created().size());
    return counts;
}

void TableUpdate::commit(const std::string& server_version) {
    upserts_.clear();
    delete_ = Statement();
    if (rebuilding_) {
        db_.exec("DROP TABLE IF EXISTS " + quote_identifier(table_.name));
        db_.exec("ALTER TABLE " + quote_identifier(rebuild_name_) + " RENAME TO " +
                 quote_identifier(table_.name));
    }
    {
        Statement s(db_,
                    "INSERT INTO _delta_sync_state (table_name, server_version, synced_at) "
                    "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) ON CONFLICT (table_name) "
                    "DO UPDATE SET server_version = excluded.server_version, "
                    "synced_at = excluded.synced_at");
        s.bind(1, SqlValue::of_text(table_.name));
        s.bind(2, SqlValue::of_text(server_version));
        s.run();
    }
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace delta_sync::client
