// Server: the PostgreSQL side of the client (libpqxx). Resolves tables, wraps the extension's SQL
// functions, and streams delta_since() documents one page at a time.
//
// Every connection pins the session settings that change how values are rendered (TimeZone UTC,
// DateStyle ISO, IntervalStyle postgres, extra_float_digits 3, bytea_output hex, lc_monetary C,
// client_encoding UTF8), so a replica never depends on the client's PGTZ, PGOPTIONS or role
// settings.
//
// delta_since() returns one row per page, all from one snapshot. The client reads them through a
// server-side cursor over `SELECT delta_since(...)` (a set-returning function in the target list
// is evaluated a row at a time, where one in FROM would be materialized whole), fetching one row
// per round trip: the server never holds more than a page, the client at most two (the puller
// reads the next page on a second thread while it applies one: PageReader in puller.cpp).
#pragma once

#include "replica.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace delta_sync::client {

// The connection string to use: --dsn, else DATABASE_URL, else "" (libpq's PG* variables).
std::string choose_dsn(const std::optional<std::string>& dsn_option);

// A server table as the client needs it.
struct TableInfo {
    std::uint32_t oid = 0;
    std::string display_name;  // as PostgreSQL prints the regclass
    std::string schema, relname;
    std::string notify_payload;  // what the triggers send on LISTEN delta_sync: schema.table
    ReplicaTable replica;        // name in the replica: relname, or schema.relname outside public
                                 // (until Replica::place), the identity and the columns' types
    double estimated_rows = -1;  // pg_class.reltuples, -1 when unknown
    std::vector<std::string> key_types;  // format_type() of each primary key column, in key order
};

struct TrackedTable {
    std::string table;
    int max_changes = 0;
    std::string tracked_at;
};

// Turns a libpqxx/libpq failure into an Error (ConnectionLost when the link is gone: libpqxx's
// broken_connection or in_doubt_error, a connection SQLSTATE (08..., 57P01-03), or `connection`
// no longer open), with context and the server's SQLSTATE.
[[noreturn]] void rethrow_server_error(const std::string& context,
                                       const pqxx::connection_base* connection = nullptr);

// A PostgreSQL array literal ('{"a","b\\"c",NULL}') of the elements, to pass an array as one
// parameter ($1::text[]) instead of quoting values into SQL.
std::string array_literal(const std::vector<std::optional<std::string>>& elements);
std::string array_literal(const std::vector<std::string>& elements);

class Server {
public:
    // Connects. A failure here is the configuration's fault (bad DSN, server down): Error.
    explicit Server(const std::string& dsn);

    pqxx::connection& connection() { return *connection_; }
    // A table by name (as regclass reads it); Error when there is none.
    TableInfo describe(std::string_view table);
    // A table by oid; empty when it was dropped.
    std::optional<TableInfo> describe_oid(std::uint32_t oid);
    // The same, inside the caller's transaction.
    static std::optional<TableInfo> describe_oid(pqxx::transaction_base& tx, std::uint32_t oid);
    // The extension's delta_since, schema-qualified; Error when the extension is not installed.
    const std::string& delta_function();
    // The cluster and database connected to.
    ReplicaSource source();

    // Whether the server has delta_sync.wait() (1.2 on): --watch then needs no LISTEN.
    bool can_wait();
    // delta_sync.wait(): the oids of the tables with a committed change that their cursor
    // (nullopt: from now) does not see, or none when `timeout` passes first.
    std::vector<std::uint32_t> wait_for_changes(const std::vector<std::uint32_t>& tables,
                                                const std::vector<std::optional<std::string>>& since,
                                                std::chrono::milliseconds timeout);

    void track(std::string_view table, std::optional<int> max_changes);
    // False when the table was not tracked (nothing done).
    bool untrack(std::string_view table);
    std::vector<TrackedTable> tracked();

private:
    std::unique_ptr<pqxx::connection> connection_;
    std::string delta_function_;
};

struct DeltaRequest {
    std::optional<std::string> since;  // empty: every live row
    std::optional<int> max_changes;
    std::optional<int> page_size;
    std::optional<std::vector<std::string>> columns;  // a shape (shape.hpp): these columns only
    std::optional<std::string> filter;                 // ... of the rows that match this filter
};

// Which null values of the page's json/jsonb columns are JSON null rather than SQL NULL (a record
// renders both as null): one query, on the transaction's snapshot (REPEATABLE READ: the pages'),
// only when the page has such nulls.
JsonNulls json_nulls(pqxx::transaction_base& tx, const TableInfo& info, const DeltaPage& page);

// The documents of one delta_since() call, read inside the caller's transaction.
class DeltaStream {
public:
    DeltaStream(pqxx::transaction_base& tx, const std::string& function, const TableInfo& table,
                const DeltaRequest& request);
    // The next document, valid until the next call; empty when there are no more.
    std::optional<std::string_view> next();
    // The same as the fetched result itself (one row, one column), which the caller then owns:
    // for handing a page to another thread without copying it. Empty when there are no more.
    std::optional<pqxx::result> next_result();

private:
    pqxx::transaction_base& tx_;
    std::string name_;
    std::string context_;
    pqxx::result current_;
    bool finished_ = false;
};

}  // namespace delta_sync::client
