// delta_sync.tracked, the registry of tracked tables, read without SQL: delta_since() and the
// statement trigger look up one row per call through the registry's primary key.
//
// PostgreSQL-facing, plain-data code: call inside pg_guard() (see boundary.hpp).
#pragma once

#include "boundary.hpp"

#include <cstdint>

namespace delta_sync {

struct RegistryRow {
    bool found;
    int max_changes;
    std::uint64_t horizon;         // xid of the last tracking start, TRUNCATE, ALTER or restore
    std::uint64_t purged_through;  // newest version purge() removed; 0 when never purged
    std::uint64_t purged_by;       // the xid of the last purge that removed rows; 0 if none
    bool notify;                   // NOTIFY delta_sync after each writing statement
    Oid tombstones;                // the table's tombstone table (hard-delete mode), or InvalidOid
};

// The row of table `relid`, as the active snapshot sees it. Columns a 1.0 registry lacks read as
// their defaults (never purged, notify on).
RegistryRow read_registry_row(Oid relid);

}  // namespace delta_sync
