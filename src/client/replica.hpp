// Replica: the local SQLite copy of synced tables, and TableUpdate, the one SQLite transaction in
// which a pull applies a table's pages together with its new cursor.
//
// Crash safety rests on one rule: a table's rows and its cursor in _delta_sync_state change in the
// same SQLite transaction, opened before the cursor is read (BEGIN IMMEDIATE, so two pulls cannot
// both start from one cursor) and committed only after every page of the server's answer has been
// applied. A kill -9 at any moment therefore leaves the previous rows with the previous cursor, and
// the next run asks the server again from there. A full sync (first run, fullResyncRequired, or a
// table that went missing) builds a fresh table inside that transaction and swaps it in just before
// COMMIT, so a reader never sees a half-built table.
//
// The file is in WAL mode with synchronous=FULL: readers keep reading the last committed state
// while a pull writes, and each commit is on disk when the pull reports it.
#pragma once

#include "delta_page.hpp"
#include "sqlite.hpp"

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace delta_sync::client {

// How the replica names and keys one server table.
struct ReplicaTable {
    enum class KeyKind { integer, number, text };
    std::string name;         // the SQLite table, and its key in _delta_sync_state
    std::string primary_key;  // the column that identifies a row
    KeyKind key_kind = KeyKind::text;
};

// The value a primary key string from a "deleted" bucket has in the replica.
SqlValue key_value(const ReplicaTable& table, std::string_view key);

struct SyncState {
    std::string table_name;
    std::string server_version;
    std::string synced_at;
};

struct ApplyCounts {
    long created = 0;
    long updated = 0;
    long deleted = 0;
    long total() const { return created + updated + deleted; }
};

class Replica {
public:
    enum class Open { create, existing };
    explicit Replica(const std::string& path, Open open = Open::create);

    sqlite::Database& database() { return db_; }
    std::optional<SyncState> state(std::string_view table);
    std::vector<SyncState> states();
    bool has_table(std::string_view table);
    std::vector<std::string> columns(std::string_view table);

private:
    sqlite::Database db_;
};

class TableUpdate {
public:
    // BEGIN IMMEDIATE: from here to commit() no other writer can touch the replica.
    TableUpdate(Replica& replica, ReplicaTable table);
    ~TableUpdate();  // rolls back unless committed
    TableUpdate(const TableUpdate&) = delete;
    TableUpdate& operator=(const TableUpdate&) = delete;

    // The cursor to ask the server from; empty when the table must be fetched in full.
    const std::optional<std::string>& cursor() const { return cursor_; }

    // From now on records go to a new, empty table that commit() swaps in for the old one.
    void start_rebuild();
    bool rebuilding() const { return rebuilding_; }

    // Applies one page: deleted, then updated, then created, both as upserts.
    ApplyCounts apply(const DeltaPage& page);

    // Stores the cursor with the rows and commits.
    void commit(const std::string& server_version);

private:
    struct Upsert {
        std::vector<std::string> names;
        sqlite::Statement statement;
    };
    void upsert(const Record& record);
    Upsert& upsert_for(const Record& record);
    void add_missing_columns(const Record& record);
    const std::string& target() const { return rebuilding_ ? rebuild_name_ : table_.name; }

    Replica& replica_;
    sqlite::Database& db_;
    ReplicaTable table_;
    std::optional<std::string> cursor_;
    bool rebuilding_ = false;
    bool done_ = false;
    std::string rebuild_name_ = "_delta_sync_rebuild";
    std::unordered_set<std::string> columns_;
    std::vector<Upsert> upserts_;
    sqlite::Statement delete_;
};

}  // namespace delta_sync::client
