// Comparing a replica table with the server's records (see replica_diff.hpp).
#include "replica_diff.hpp"

#include "errors.hpp"
#include "progress.hpp"

#include <algorithm>

namespace delta_sync::client {

using sqlite::quote_identifier;
using sqlite::Statement;

std::string DiffSummary::describe(const std::string& table) const {
    if (equal())
        return table + ": replica matches the server (" + with_thousands(server_rows) + " rows)";
    std::string s = table + ": replica differs from the server: " + with_thousands(missing) +
                    " missing, " + with_thousands(extra) + " extra, " + with_thousands(different) +
                    " different (server " + with_thousands(server_rows) + " rows, replica " +
                    with_thousands(replica_rows) + ")";
    for (const std::string& e : examples) s += "; " + e;
    return s;
}

ReplicaComparison::ReplicaComparison(Replica& replica, ReplicaTable table)
    : db_(replica.database()), table_(std::move(table)) {
    // One read transaction: the replica cannot change under the comparison.
    db_.exec("BEGIN");
    table_exists_ = replica.has_table(table_.name);
    if (table_exists_) columns_ = replica.columns(table_.name);
    // Keys seen on the server, to find the replica's extra rows at the end without holding
    // every key in memory.
    // Declared like the replica's key columns (k1, k2, ...), so that comparing the two applies no
    // affinity and the key's index serves the look-up.
    std::string columns, names, params;
    for (std::size_t i = 0; i < table_.primary_key.size(); ++i) {
        std::string key_type =
            table_.key_kind == ReplicaTable::KeyKind::integer && table_.primary_key.size() == 1
                ? " INTEGER"
                : "";
        if (const ReplicaColumn* c = table_.column(table_.primary_key[i]))
            key_type = *declared_type(c->kind) ? std::string(" ") + declared_type(c->kind) : "";
        std::string k = "k" + std::to_string(i + 1);
        columns += k + key_type + ", ";
        names += (i ? ", " : "") + k;
        params += i ? ", ?" : "?";
    }
    db_.exec("DROP TABLE IF EXISTS temp._delta_sync_seen");
    db_.exec("CREATE TEMP TABLE _delta_sync_seen (" + columns + "PRIMARY KEY (" + names + "))");
    seen_ = Statement(db_, "INSERT OR IGNORE INTO temp._delta_sync_seen (" + names +
                               ") VALUES (" + params + ")");
}

ReplicaComparison::~ReplicaComparison() {
    lookups_.clear();
    seen_ = Statement();
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void ReplicaComparison::note(const std::string& example) {
    if (summary_.examples.size() < 3) summary_.examples.push_back(example);
}

void ReplicaComparison::compare(const DeltaPage& page, const JsonNulls* json_nulls) {
    for (const Record& record : page.created()) {
        ++summary_.server_rows;
        std::size_t nkeys = table_.primary_key.size();
        std::vector<SqlValue> key_values;
        std::string key_text;
        scratch_.assign(nkeys, std::string());  // sized first: the values point into it
        for (std::size_t k = 0; k < nkeys; ++k) {
            const std::string& name = table_.primary_key[k];
            const Field* key = record.find(name);
            if (!key) throw Error("the server sent a record without its key column " + name);
            const ReplicaColumn* key_column = table_.column(name);
            key_values.push_back(key_column ? stored_value(key_column->kind, *key, scratch_[k])
                                            : key->value);
            seen_.bind(static_cast<int>(k + 1), key_values.back());
            key_text += (k ? ", " : "") + name + " " + client::describe(key_values.back());
        }
        seen_.run();
        if (!table_exists_) {
            ++summary_.missing;
            note(key_text + " is missing");
            continue;
        }
        // Fields the replica has no column for cannot match.
        std::vector<std::string> names;
        std::string missing_column;
        for (const Field& f : record) {
            if (std::find(columns_.begin(), columns_.end(), f.name) != columns_.end())
                names.emplace_back(f.name);
            else if (missing_column.empty())
                missing_column = std::string(f.name);
        }
        auto it = std::find_if(lookups_.begin(), lookups_.end(),
                               [&](const auto& l) { return l.first == names; });
        if (it == lookups_.end()) {
            std::string cols, where;
            for (const auto& n : names) cols += (cols.empty() ? "" : ", ") + quote_identifier(n);
            for (const std::string& k : table_.primary_key)
                where += (where.empty() ? "" : " AND ") + quote_identifier(k) + " = ?";
            lookups_.emplace_back(names, Statement(db_, "SELECT " + cols + " FROM " +
                                                            quote_identifier(table_.name) +
                                                            " WHERE " + where));
            it = std::prev(lookups_.end());
        }
        Statement& lookup = it->second;
        for (std::size_t k = 0; k < nkeys; ++k) lookup.bind(static_cast<int>(k + 1), key_values[k]);
        if (!lookup.step()) {
            lookup.reset();
            ++summary_.missing;
            note(key_text + " is missing");
            continue;
        }
        std::string difference;
        if (!missing_column.empty()) difference = "column " + missing_column + " is missing";
        for (std::size_t i = 0; i < names.size() && difference.empty(); ++i) {
            const Field* f = record.find(names[i]);
            SqlValue actual = lookup.column(static_cast<int>(i));
            std::string why;
            const ReplicaColumn* c = table_.column(names[i]);
            if (c && c->kind == ColumnKind::json && json_nulls &&
                f->value.kind == SqlValue::Kind::null) {
                bool json_null =
                    json_nulls->count({record_key_json(table_, record), c->name}) > 0;
                SqlValue want = json_null ? SqlValue::of_text("null") : SqlValue::null_value();
                if (actual != want)
                    difference = names[i] + " is " + client::describe(actual) +
                                 " in the replica, " + (json_null ? "JSON null" : "SQL NULL") +
                                 " on the server";
            } else if (c) {
                if (!same_as_server(c->kind, actual, *f, why)) difference = names[i] + " is " + why;
            } else if (actual != f->value) {
                difference = names[i] + " is " + client::describe(actual) + " in the replica, " +
                             client::describe(f->value) + " on the server";
            }
        }
        lookup.reset();
        if (!difference.empty()) {
            ++summary_.different;
            note(key_text + ": " + difference);
        }
    }
}

DiffSummary ReplicaComparison::finish() {
    if (table_exists_) {
        std::string t = quote_identifier(table_.name);
        std::string keys, same;
        for (std::size_t i = 0; i < table_.primary_key.size(); ++i) {
            std::string k = quote_identifier(table_.primary_key[i]);
            keys += (i ? ", " : "") + k;
            same += (i ? " AND " : "") + std::string("s.k") + std::to_string(i + 1) + " = " + t +
                    "." + k;
        }
        Statement count(db_, "SELECT count(*) FROM " + t);
        count.step();
        summary_.replica_rows = count.column_int(0);
        // Keys are unique on both sides: every replica row the server did not match is extra.
        summary_.extra = summary_.replica_rows - (summary_.server_rows - summary_.missing);
        if (summary_.extra > 0) {
            Statement extra(db_, "SELECT " + keys + " FROM " + t +
                                     " WHERE NOT EXISTS (SELECT 1 FROM temp._delta_sync_seen s "
                                     "WHERE " + same + ") LIMIT 3");
            while (extra.step()) {
                std::string key_text;
                for (std::size_t i = 0; i < table_.primary_key.size(); ++i)
                    key_text += (i ? ", " : "") + table_.primary_key[i] + " " +
                                client::describe(extra.column(static_cast<int>(i)));
                note(key_text + " is in the replica only");
            }
        }
    }
    return summary_;
}

}  // namespace delta_sync::client
