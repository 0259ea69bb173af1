// Replica: the local SQLite copy of synced tables, and TableUpdate, the one SQLite transaction in
// which a pull applies a table's pages together with its new cursor.
//
// Crash safety rests on one rule: a table's rows and its cursor in _delta_sync_state change in the
// same SQLite transaction, committed only after every page of the server's answer has been
// applied. A kill -9 at any moment therefore leaves the previous rows with the previous cursor, and
// the next run asks the server again from there. The write lock is taken only once the server's
// first page has arrived (BEGIN IMMEDIATE, waiting up to the busy timeout for another writer), and
// the cursor is read again under it: if another pull moved it meanwhile, this pull starts over
// from the new one, so two pulls can never both apply from one cursor.
//
// What the replica owns, and nothing else: the tables named in _delta_sync_state, and the tables
// _delta_sync_state, _delta_sync_source and _delta_sync_rebuild. A file that holds other tables
// but no _delta_sync_state is not a replica and is refused before anything is written; so is a
// server table whose SQLite name is taken by a table, view or index of the user's, or that SQLite
// (whose names ignore ASCII case) could not tell from another replica table. The file records the
// server it copies (cluster system identifier, database name and oid) and, per table, the server
// table (oid and qualified name): a pull from another database, or of another table that would
// land in the same SQLite table, is refused, never merged. The user's own indexes, triggers and
// views on replica tables survive a resync (or the resync fails and says which one could not).
//
// The file is in WAL mode with synchronous=FULL: readers keep reading the last committed state
// while a pull writes, and each commit is on disk when the pull reports it.
#pragma once

#include "column_mapping.hpp"
#include "delta_page.hpp"
#include "errors.hpp"
#include "sqlite.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace delta_sync::client {

// How the replica names and keys one server table.
struct ReplicaTable {
    enum class KeyKind { integer, number, text };
    std::string name;  // the SQLite table, and its key in _delta_sync_state
    // The columns that identify a row, in the order of the server's primary key: one, or several
    // (a composite key, the SQLite table's composite PRIMARY KEY).
    std::vector<std::string> primary_key;
    KeyKind key_kind = KeyKind::text;  // of a single-column key, for tables without columns
    // The server table it copies, by identity and by name (0 / empty: not known).
    std::uint32_t server_oid = 0;
    std::string server_schema{}, server_table{};
    // The server's columns in table order. Empty: unknown, and values take the untyped rule of
    // sql_value.hpp in columns without a declared type.
    std::vector<ReplicaColumn> columns{};
    // The shape copied (Shape::canonical() in shape.hpp): "" for the whole table.
    std::string shape{};

    const ReplicaColumn* column(std::string_view column_name) const;
    // Whether the column is (part of) the primary key; its position in the key, from 1, or 0.
    int key_position(std::string_view column_name) const;
    // The key columns for messages: id, or (order_id, line).
    std::string key_description() const;
    // schema.table as PostgreSQL quotes it, for messages.
    std::string server_name() const;
};

// The value a primary key string from a "deleted" bucket has in the replica.
SqlValue key_value(const ReplicaTable& table, std::string_view key);
// The same, decoding a bytea key into scratch.
SqlValue key_value(const ReplicaTable& table, std::string_view key, std::string& scratch);

// The values, in key order, that a "deleted" string has in the replica's key columns. A
// single-column key is the string itself (key_value); a composite key is the JSON text of the
// array of its values in key order, each as the record writes it ("[17,\"a,b\"]"). The values
// may point into scratch, which must outlive them. Throws Error when the string is not a key of
// the table.
std::vector<SqlValue> key_values(const ReplicaTable& table, std::string_view key,
                                 std::vector<std::string>& scratch);

// A record's key as one text, the way a "deleted" string writes it: the key field's JSON text for
// a single-column key, "[<json>,<json>]" of the key fields for a composite one. Throws Error
// when the record lacks a key column.
std::string record_key_json(const ReplicaTable& table, const Record& record);

// The database a replica copies. Standbys share their primary's system identifier.
struct ReplicaSource {
    std::string system_identifier;
    std::string database;
    std::uint32_t database_oid = 0;
    std::string describe() const;  // database "app" (oid 16384) of cluster 7301...
};

struct SyncState {
    std::string table_name;
    std::string server_version;
    std::string synced_at;
    std::uint32_t server_oid = 0;  // 0: recorded before identities were
    std::string server_schema{}, server_table{};
    std::string shape{};  // the shape the table holds (Shape::canonical()), "" for all of it
};

// The replica changed under a pull between reading its cursor and taking the write lock (another
// pull), or the server's table changed shape during it: the pull starts over.
class ReplicaChanged : public Error {
public:
    using Error::Error;
};

// Values of json/jsonb columns that are JSON null rather than SQL NULL (a record renders both as
// null): (the key's JSON text, column).
using JsonNulls = std::set<std::pair<std::string, std::string>>;

struct ApplyCounts {
    long created = 0;
    long updated = 0;
    long deleted = 0;
    long total() const { return created + updated + deleted; }
};

class Replica {
public:
    enum class Open { create, existing };
    // Opens the file (creating an empty one with Open::create) and refuses one that is not a
    // replica. Writes nothing.
    explicit Replica(const std::string& path, Open open = Open::create);

    sqlite::Database& database() { return db_; }
    std::optional<SyncState> state(std::string_view table);
    std::vector<SyncState> states();
    bool has_table(std::string_view table);
    std::vector<std::string> columns(std::string_view table);

    // The server this file copies; empty for a new replica (or one written before sources were
    // recorded).
    std::optional<ReplicaSource> source();
    // Refuses a server other than the recorded one. Writes nothing.
    void check_source(const ReplicaSource& server);
    // The SQLite table that already holds this server table (by oid, else by qualified name).
    std::optional<std::string> find(const ReplicaTable& table);
    // Sets table.name: where the replica holds this server table, else a new name for it. Refuses
    // a name taken by an object of the user's, or that SQLite could not tell from the name of
    // another replica table, and columns SQLite could not tell apart. Writes nothing.
    void place(ReplicaTable& table);
    // Refuses a table, view or index of the user's under table.name (in any case).
    void check_name_free(const ReplicaTable& table);
    // Makes the file a replica (WAL, its own tables) of server, recording it. The first write.
    void claim(const ReplicaSource& server);
    // The replica's own tables, created or brought up to date (every write path calls it).
    void prepare_for_writing();

private:
    sqlite::Database db_;
    bool prepared_ = false;
    std::vector<ReplicaTable> placed_;  // by this process, not yet committed
};

class TableUpdate {
public:
    // Reads the table's cursor; takes no lock yet.
    TableUpdate(Replica& replica, ReplicaTable table);
    ~TableUpdate();  // rolls back unless committed
    TableUpdate(const TableUpdate&) = delete;
    TableUpdate& operator=(const TableUpdate&) = delete;

    // The cursor to ask the server from; empty when the table must be fetched in full (first
    // sync, a table missing from the file, a server table re-created, or a table whose columns
    // no longer match the server's).
    const std::optional<std::string>& cursor() const { return cursor_; }
    // The table had a cursor, but its columns are no longer the server's: it is rebuilt.
    bool columns_changed() const { return columns_changed_; }

    // BEGIN IMMEDIATE (waiting up to the busy timeout): from here to commit() no other writer
    // can touch the replica. Throws ReplicaChanged when the cursor moved since it was read, and
    // ReplicaBusy when the lock did not come. apply(), start_rebuild() and commit() lock first.
    void lock();
    bool locked() const { return locked_; }

    // From now on records go to an empty table that replaces the old one at commit: the old
    // table itself, emptied, when its columns are the server's (the user's indexes, triggers
    // and views stay as they are), else a new table swapped in with the user's indexes and
    // triggers created again.
    void start_rebuild();
    bool rebuilding() const { return rebuilding_; }

    // Applies one page: deleted, then updated, then created, both as upserts. json_nulls: JSON
    // nulls among the page's json values (else every null is SQL NULL).
    ApplyCounts apply(const DeltaPage& page, const JsonNulls* json_nulls = nullptr);

    // Stores the cursor with the rows and commits.
    void commit(const std::string& server_version);

private:
    struct Upsert {
        std::vector<std::string> names;
        std::vector<const ReplicaColumn*> columns;  // by field; empty for an untyped table
        sqlite::Statement statement;
    };
    std::optional<std::string> read_cursor();
    bool conforms(const std::string& name);
    std::string create_statement(const std::string& name) const;
    std::string key_condition() const;  // "a" = ? AND "b" = ? over the key columns
    void upsert(const Record& record, const JsonNulls* json_nulls);
    Upsert& upsert_for(const Record& record);
    void add_missing_columns(const Record& record);
    void swap_in_rebuilt_table();
    const std::string& target() const { return swapping_ ? rebuild_name_ : table_.name; }

    Replica& replica_;
    sqlite::Database& db_;
    ReplicaTable table_;
    std::optional<std::string> cursor_;
    bool locked_ = false;
    bool columns_changed_ = false;
    bool rebuilding_ = false;
    bool swapping_ = false;  // rebuilding into rebuild_name_
    bool done_ = false;
    std::string rebuild_name_ = "_delta_sync_rebuild";
    std::unordered_set<std::string> columns_;
    std::vector<Upsert> upserts_;
    sqlite::Statement delete_;
    std::vector<std::string> key_scratch_;  // decoded values of the deleted key being applied
    std::vector<std::string> blobs_;  // decoded bytea values of the record being written
};

}  // namespace delta_sync::client
