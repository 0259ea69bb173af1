// How a server column is stored in the replica: one SQLite storage class per column, chosen from
// the column's PostgreSQL type, so that every value a reader gets back is exactly the server's and
// comparisons and ORDER BY follow the server's order wherever SQLite can compare the class.
//
//   PostgreSQL                          declared type   stored as
//   smallint, integer, bigint, oid      INTEGER         INTEGER (all 64 bits exact)
//   numeric(p,0), p <= 18               INTEGER         INTEGER
//   numeric(p,s), p <= 15               REAL            REAL: every value of 15 digits or fewer is
//                                                       one double exactly, order kept
//   numeric (unconstrained, p > 15)     TEXT            TEXT: the server's digits, exact (SQLite
//                                                       has no exact decimal type: see README),
//                                                       and a generated column "<name>:real"
//                                                       holding the nearest double, for
//                                                       comparisons and order
//   real, double precision              (none)          REAL, always (1.0 stays REAL, -0 stays -0:
//                                                       a column without affinity keeps both)
//   NaN of any numeric type             -               TEXT 'NaN' (sorts after every number, as
//                                                       on the server)
//   Infinity, -Infinity                 -               REAL inf, -inf
//   boolean                             BOOLEAN         INTEGER 1 / 0 (numeric affinity)
//   bytea                               BLOB            BLOB (the bytes)
//   json, jsonb                         TEXT            TEXT: the JSON text ('"a"' for a string,
//                                                       'null' for JSON null; SQL NULL is NULL)
//   anything else                       TEXT            TEXT: the value as the server renders it
//                                                       in its JSON (strings unescaped; arrays and
//                                                       composites as their JSON text)
//
// Session settings that change renderings are pinned by Server (UTC, ISO dates, postgres
// intervals, shortest-exact floats, hex bytea), so a value never depends on the client's session.
#pragma once

#include "delta_page.hpp"
#include "sql_value.hpp"

#include <string>
#include <string_view>

namespace delta_sync::client {

enum class ColumnKind { integer, boolean, floating, decimal_real, decimal_text, text, json, bytes };

// A server column as the replica maps it.
struct ReplicaColumn {
    std::string name;         // the server's name, also the SQLite column's
    std::string server_type;  // format_type(): "numeric(40,20)", "jsonb", ...
    ColumnKind kind = ColumnKind::text;
};

// The kind for a PostgreSQL type: its base type's name (domains resolved) and typmod.
ColumnKind column_kind(std::string_view base_type, int typmod);

// The declared type of the SQLite column ("" for no affinity).
const char* declared_type(ColumnKind kind);

// The generated column that goes with a column of this kind ("" for none): decimal_text columns
// get "<name>:real", the value as the nearest double ('NaN' as TEXT, sorting last; infinities as
// REAL), so that ORDER BY and comparisons with numbers follow the server to 15 digits.
std::string generated_column_name(const ReplicaColumn& column);
// Its definition in CREATE TABLE (name, type and expression).
std::string generated_column_definition(const ReplicaColumn& column);

// A server value (its JSON text in a record) as the column stores it. Blob bytes are decoded
// into scratch, which must outlive the value. Throws Error when the value cannot be of the kind.
SqlValue stored_value(ColumnKind kind, const Field& field, std::string& scratch);

// Whether a replica value is the server's value, judged against the server's own rendering (the
// JSON text of the field), not by mapping that rendering again. On false, why says how they differ.
bool same_as_server(ColumnKind kind, const SqlValue& replica, const Field& server,
                    std::string& why);

// The bytes of a bytea's text rendering ("\x00ff"); false when it is not one.
bool decode_bytea(std::string_view text, std::string& out);

}  // namespace delta_sync::client
