// Live changes: how a commit on a tracked table reaches those waiting for it, without a
// cluster-wide lock on the write path.
//
//  - Writers: the statement trigger notes each tracked table a transaction writes
//    (note_table_written). Without shared_preload_libraries that is all, unless the table opted
//    into NOTIFY (delta_sync.set_notify), which is then sent by the writer as before. With the
//    library preloaded, a commit callback bumps a per-table change counter in shared memory (an
//    atomic add, no lock), wakes the backends waiting on that table (their latches) and, for
//    tables that opted into NOTIFY, flags them for the notify worker of the database, which sends
//    one NOTIFY per changed table at most every delta_sync.notify_interval.
//  - Waiters: delta_sync.wait() (wait.cpp) probes the version index with a fresh snapshot and
//    sleeps on its latch in between: woken by the counters when preloaded on a primary, every
//    delta_sync.poll_interval otherwise (a hot standby replays commits; no callback of ours runs
//    there), probing only when a transaction has finished since the last probe.
//
// PostgreSQL-facing, plain-data code: call inside pg_guard() (see boundary.hpp).
#pragma once

#include "boundary.hpp"

extern "C" {
#include "port/atomics.h"
}

#include <cstdint>

namespace delta_sync {

// _PG_init: GUCs, the cache of notify settings, and, when preloading, shared memory, the commit
// callback and the notify worker.
void live_init();

// Shared memory exists: the library was loaded through shared_preload_libraries.
bool live_preloaded();

// GUCs, in milliseconds.
extern int poll_interval_ms;
extern int notify_interval_ms;

// The statement trigger: this transaction wrote `relid`; `notify`: the table opted into NOTIFY.
// Only recorded when preloaded (the commit callback reads it).
void note_table_written(Oid relid, bool notify);

// The table's registry setting delta_sync.tracked.notify, cached per backend until the table's
// relcache entry is invalidated (set_notify sends that invalidation). False when untracked.
bool table_notifies(Oid relid);

// One table's change counter in shared memory.
struct TableSlot {
    pg_atomic_uint64 key;  // (database oid << 32) | table oid; 0: free
    pg_atomic_uint64 changes;
    pg_atomic_uint32 notify_pending;
};

// The slot of (MyDatabaseId, relid), claimed if it has none yet; nullptr when the table has none
// and none is free (its changes then count in overflow_changes()).
TableSlot* table_slot(Oid relid);
std::uint64_t overflow_changes();

// A waiting backend announces which tables it waits on (a 64-bit mask of hashed table bits) so
// committers set its latch; 0 withdraws it. Idempotent; the abort callback withdraws too.
void announce_waiter(std::uint64_t mask);
std::uint64_t waiter_bit(Oid relid);

// The notify worker's side (notify_worker.cpp).
struct NotifyDatabase {
    pg_atomic_uint32 dboid;         // 0: free
    pg_atomic_uint32 pending;       // a table of this database has a notification to send
    pg_atomic_uint32 running;       // its worker runs (or is being started)
    pg_atomic_uint32 worker_procno; // latch of the running worker
};
constexpr int notify_databases = 64;
NotifyDatabase* notify_database(Oid dboid, bool claim);
NotifyDatabase* notify_database_at(int index);
TableSlot* table_slot_at(int index);
int table_slot_count();
void set_launcher_procno(int procno);
void wake_launcher();

void register_notify_worker();  // _PG_init, when preloading

}  // namespace delta_sync
