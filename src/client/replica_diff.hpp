// ReplicaComparison: compares a replica table row by row with the server's records of the same
// table (a full delta_since() snapshot, i.e. to_json of every live row), for `delta-sync diff`.
// Each replica value is judged against the server's own rendering of the field (its JSON text),
// not by mapping that text the way a pull does, so a mapping that loses something (a sign, a
// digit, a storage class) shows up as a difference (column_mapping.hpp: same_as_server).
#pragma once

#include "delta_page.hpp"
#include "replica.hpp"

#include <string>
#include <vector>

namespace delta_sync::client {

struct DiffSummary {
    long server_rows = 0;
    long replica_rows = 0;
    long missing = 0;                   // on the server, not in the replica
    long extra = 0;                     // in the replica, not live on the server
    long different = 0;                 // in both, some field differs
    std::vector<std::string> examples;  // a few differences, spelled out
    bool equal() const { return missing == 0 && extra == 0 && different == 0; }
    std::string describe(const std::string& table) const;
};

class ReplicaComparison {
public:
    ReplicaComparison(Replica& replica, ReplicaTable table);
    ~ReplicaComparison();
    ReplicaComparison(const ReplicaComparison&) = delete;
    ReplicaComparison& operator=(const ReplicaComparison&) = delete;

    // One page of the server's full snapshot. json_nulls (server.hpp) tells JSON null from SQL
    // NULL in json columns; without it either is taken for the server's null.
    void compare(const DeltaPage& page, const JsonNulls* json_nulls = nullptr);
    DiffSummary finish();

private:
    void note(const std::string& example);

    sqlite::Database& db_;
    ReplicaTable table_;
    bool table_exists_;
    std::vector<std::string> columns_;
    sqlite::Statement seen_;
    std::vector<std::pair<std::vector<std::string>, sqlite::Statement>> lookups_;
    std::vector<std::string> scratch_;  // decoded key values of the record being compared
    DiffSummary summary_;
};

}  // namespace delta_sync::client
