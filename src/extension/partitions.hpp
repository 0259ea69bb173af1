// Partitioned tables: a tracked partitioned table tracks every partition of its tree. The row
// triggers are cloned into each partition by PostgreSQL; the statement triggers, which
// PostgreSQL does not clone, are put on each partition by track() and by the event trigger that
// follows CREATE TABLE ... PARTITION OF and ATTACH PARTITION (partitions.cpp).
//
// PostgreSQL-facing, plain-data code: call inside pg_guard() (see boundary.hpp).
#pragma once

#include "boundary.hpp"

extern "C" {
#include "storage/itemptr.h"
#include "utils/relcache.h"
}

namespace delta_sync {

// The table a row or statement trigger of `rel` answers to: the top of its partition tree, or
// `rel` itself when it is no partition. One look-up in pg_inherits per level.
Oid partition_root(Relation rel);

// A row of a partition whose key an UPDATE changes may be moved to another partition, which
// PostgreSQL does as a DELETE in the old partition and an INSERT in the new one. The stamp
// trigger notes the row (its table and tid) when it lets such an UPDATE through; the soft-delete
// trigger then lets that DELETE remove the row instead of soft-deleting it (which would cancel the
// move). Only the row noted last, in the same subtransaction, matches.
void note_key_change(Relation rel, ItemPointer tid);
bool is_noted_move(Relation rel, ItemPointer tid);

// A DROP sees no partition tree any more once its sql_drop event trigger runs: the catalog rows
// linking a dropped partition to its parent are gone. So the ddl_command_start event trigger of
// the DROP notes, for every partition of every tracked partitioned table, its top; sql_drop asks
// here. Returns the top `relid` was a partition of when this command began, or InvalidOid when it
// was none or nothing was noted for this command (*known says which).
Oid dropped_partition_root(Oid relid, bool* known);
void forget_dropped_partitions();

}  // namespace delta_sync
