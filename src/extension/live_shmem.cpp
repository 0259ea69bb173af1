// Shared memory of live changes (see live.hpp), its commit callback, and the GUCs.
//
// Shared memory is asked for in shmem_request_hook and attached in shmem_startup_hook, both set
// only while shared_preload_libraries is being processed; without preloading none of this exists
// and waits poll (wait.cpp). Nothing here takes a lock per transaction: table slots are claimed
// with a compare-and-swap in an open-addressed table and never given back (a dropped table's
// slot stays claimed; when none is free, changes count in one shared overflow counter that wakes
// every waiter), counters are atomic adds, and waiters are woken through their latches.
//
// Errors are not allowed after a commit is durable, so the commit callback only does atomics
// and SetLatch; claiming slots, which may fail, happens before, at pre-commit.
#include "live.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
}

namespace delta_sync {

int poll_interval_ms = 20;
int notify_interval_ms = 50;

namespace {

constexpr int slot_count = 4096;  // power of two
constexpr int probe_limit = 64;

struct Waiter {
    pg_atomic_uint64 mask;  // tables waited on (waiter_bit); 0: not waiting
    int procno;
};

struct LiveShared {
    pg_atomic_uint64 overflow_changes;
    pg_atomic_uint32 waiters;  // Waiter entries with a non-zero mask
    pg_atomic_uint32 launcher_procno;
    NotifyDatabase databases[notify_databases];
    TableSlot slots[slot_count];
    Waiter waiter[FLEXIBLE_ARRAY_MEMBER];  // indexed by BackendId - 1
};

LiveShared* shared = nullptr;
shmem_request_hook_type prev_shmem_request = nullptr;
shmem_startup_hook_type prev_shmem_startup = nullptr;

Size shared_size() {
    return add_size(offsetof(LiveShared, waiter), mul_size(MaxBackends, sizeof(Waiter)));
}

void live_shmem_request() {
    if (prev_shmem_request) prev_shmem_request();
    RequestAddinShmemSpace(shared_size());
}

void live_shmem_startup() {
    if (prev_shmem_startup) prev_shmem_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    shared = static_cast<LiveShared*>(ShmemInitStruct("delta_sync live changes", shared_size(), &found));
    if (!found) {
        pg_atomic_init_u64(&shared->overflow_changes, 0);
        pg_atomic_init_u32(&shared->waiters, 0);
        pg_atomic_init_u32(&shared->launcher_procno, static_cast<uint32>(-1));
        for (auto& d : shared->databases) {
            pg_atomic_init_u32(&d.dboid, 0);
            pg_atomic_init_u32(&d.pending, 0);
            pg_atomic_init_u32(&d.running, 0);
            pg_atomic_init_u32(&d.worker_procno, static_cast<uint32>(-1));
        }
        for (auto& s : shared->slots) {
            pg_atomic_init_u64(&s.key, 0);
            pg_atomic_init_u64(&s.changes, 0);
            pg_atomic_init_u32(&s.notify_pending, 0);
        }
        for (int i = 0; i < MaxBackends; ++i) {
            pg_atomic_init_u64(&shared->waiter[i].mask, 0);
            shared->waiter[i].procno = -1;
        }
    }
    LWLockRelease(AddinShmemInitLock);
}

std::uint64_t slot_key(Oid dboid, Oid relid) {
    return (static_cast<std::uint64_t>(dboid) << 32) | relid;
}

std::uint32_t key_hash(std::uint64_t key) {
    return hash_bytes_uint32(static_cast<uint32>(key)) ^ hash_bytes_uint32(static_cast<uint32>(key >> 32));
}

void set_latch_of(int procno) {
    if (procno >= 0 && static_cast<uint32>(procno) < ProcGlobal->allProcCount)
        SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

// Tables written by the running transaction (top level; a rolled-back subtransaction's table
// stays listed, which costs a waiter one probe that finds nothing).
struct Written {
    Oid relid;
    bool notify;
    TableSlot* slot;
};
constexpr int written_max = 64;
Written written[written_max];
int written_count = 0;
bool written_overflow = false;  // more tables than the list holds: wake everyone
bool written_any_notify = false;
NotifyDatabase* written_db = nullptr;

void forget_written() {
    written_count = 0;
    written_overflow = false;
    written_any_notify = false;
    written_db = nullptr;
}

// NOTIFY delta_sync for the table, sent by this transaction (nothing if it was dropped).
void notify_now(Oid relid) {
    char* nsp = get_namespace_name(get_rel_namespace(relid));
    char* rel = get_rel_name(relid);
    if (nsp && rel) Async_Notify("delta_sync", quote_qualified_identifier(nsp, rel));
}

// Before commit (errors still abort): find the slots; notifications that cannot go through the
// worker (no slot, no room for the database) are sent by this transaction as before.
void pre_commit() {
    for (int i = 0; i < written_count; ++i) {
        Written& w = written[i];
        w.slot = table_slot(w.relid);
        if (!w.notify) continue;
        if (w.slot && !written_db) written_db = notify_database(MyDatabaseId, true);
        if (!w.slot || !written_db) {
            notify_now(w.relid);
            w.notify = false;
        } else {
            written_any_notify = true;
        }
    }
}

// After commit: atomics and latches only.
void committed() {
    std::uint64_t wake = 0;
    for (int i = 0; i < written_count; ++i) {
        Written& w = written[i];
        if (w.slot) {
            pg_atomic_fetch_add_u64(&w.slot->changes, 1);
            wake |= waiter_bit(w.relid);
            if (w.notify) pg_atomic_write_u32(&w.slot->notify_pending, 1);
        } else {
            pg_atomic_fetch_add_u64(&shared->overflow_changes, 1);
            wake = ~UINT64CONST(0);
        }
    }
    if (written_overflow) {
        pg_atomic_fetch_add_u64(&shared->overflow_changes, 1);
        wake = ~UINT64CONST(0);
    }
    if (written_any_notify && written_db) {
        pg_atomic_write_u32(&written_db->pending, 1);
        pg_memory_barrier();
        if (pg_atomic_read_u32(&written_db->running))
            set_latch_of(static_cast<int>(pg_atomic_read_u32(&written_db->worker_procno)));
        else
            wake_launcher();
    }
    if (wake && pg_atomic_read_u32(&shared->waiters) > 0) {
        for (int i = 0; i < MaxBackends; ++i) {
            Waiter& w = shared->waiter[i];
            if (pg_atomic_read_u64(&w.mask) & wake) {
                pg_read_barrier();  // pairs with announce_waiter()'s write barrier
                set_latch_of(w.procno);
            }
        }
    }
}

void live_xact_callback(XactEvent event, void*) {
    switch (event) {
        case XACT_EVENT_PRE_COMMIT:
            if (written_count || written_overflow) pre_commit();
            break;
        case XACT_EVENT_COMMIT:
            if (written_count || written_overflow) committed();
            forget_written();
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
            // A wait ended by an error (a cancel, statement_timeout) leaves the waiter list here.
            announce_waiter(0);
            forget_written();
            break;
        case XACT_EVENT_PRE_PREPARE:
            // The worker learns of commits from this callback, which COMMIT PREPARED (run by
            // another session) never reaches: a notification would be lost. Queued here, it
            // makes PREPARE fail as PostgreSQL fails a transaction that ran NOTIFY, as the
            // writer's own NOTIFY does without preloading.
            for (int i = 0; i < written_count; ++i)
                if (written[i].notify) notify_now(written[i].relid);
            break;
        case XACT_EVENT_PREPARE:
            forget_written();  // COMMIT PREPARED runs elsewhere: waiters find it by their tick
            break;
        default:
            break;
    }
}

}  // namespace

bool live_preloaded() { return shared != nullptr; }

std::uint64_t waiter_bit(Oid relid) {
    return UINT64CONST(1) << (key_hash(slot_key(MyDatabaseId, relid)) & 63);
}

TableSlot* table_slot(Oid relid) {
    if (!shared) return nullptr;
    std::uint64_t key = slot_key(MyDatabaseId, relid);
    std::uint32_t h = key_hash(key);
    for (int i = 0; i < probe_limit; ++i) {
        TableSlot* s = &shared->slots[(h + i) & (slot_count - 1)];
        std::uint64_t k = pg_atomic_read_u64(&s->key);
        if (k == key) return s;
        if (k == 0) {
            std::uint64_t expected = 0;
            if (pg_atomic_compare_exchange_u64(&s->key, &expected, key) || expected == key) return s;
        }
    }
    return nullptr;
}

std::uint64_t overflow_changes() { return shared ? pg_atomic_read_u64(&shared->overflow_changes) : 0; }

void announce_waiter(std::uint64_t mask) {
    if (!shared || MyBackendId <= 0 || MyBackendId > MaxBackends || !MyProc) return;
    Waiter& w = shared->waiter[MyBackendId - 1];
    std::uint64_t before = pg_atomic_read_u64(&w.mask);
    if (before == mask) return;
    w.procno = MyProc->pgprocno;
    pg_write_barrier();  // a committer that sees the mask sees this backend's procno, not the last one's
    if (before == 0) pg_atomic_fetch_add_u32(&shared->waiters, 1);
    pg_atomic_write_u64(&w.mask, mask);
    if (mask == 0) pg_atomic_fetch_sub_u32(&shared->waiters, 1);
    pg_memory_barrier();  // published before the caller reads the counters it sleeps on
}

void note_table_written(Oid relid, bool notify) {
    if (!shared) return;
    for (int i = written_count - 1; i >= 0; --i)
        if (written[i].relid == relid) {
            written[i].notify |= notify;
            return;
        }
    if (written_count == written_max) {
        written_overflow = true;
        // A table that wants NOTIFY and finds no room is notified by this transaction.
        if (notify) notify_now(relid);
        return;
    }
    written[written_count++] = Written{relid, notify, nullptr};
}

NotifyDatabase* notify_database(Oid dboid, bool claim) {
    if (!shared) return nullptr;
    for (auto& d : shared->databases) {
        uint32 have = pg_atomic_read_u32(&d.dboid);
        if (have == dboid) return &d;
        if (have == 0) {
            if (!claim) return nullptr;
            uint32 expected = 0;
            if (pg_atomic_compare_exchange_u32(&d.dboid, &expected, dboid) || expected == dboid) return &d;
        }
    }
    return nullptr;
}

NotifyDatabase* notify_database_at(int index) { return &shared->databases[index]; }
TableSlot* table_slot_at(int index) { return &shared->slots[index]; }
int table_slot_count() { return slot_count; }

void set_launcher_procno(int procno) {
    pg_atomic_write_u32(&shared->launcher_procno, static_cast<uint32>(procno));
}

void wake_launcher() {
    set_latch_of(static_cast<int>(pg_atomic_read_u32(&shared->launcher_procno)));
}

void live_init() {
    DefineCustomIntVariable(
        "delta_sync.poll_interval",
        "How often delta_sync.wait() checks for commits when no shared memory wakes it.",
        "Without shared_preload_libraries = 'delta_sync', and on a hot standby, a wait looks for "
        "finished transactions this often and probes its tables only when one finished.",
        &poll_interval_ms, 20, 1, 60000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "delta_sync.notify_interval",
        "Shortest time between two NOTIFY delta_sync of one table, sent by the notify worker.",
        "Only with shared_preload_libraries = 'delta_sync', for tables that opted into NOTIFY "
        "with delta_sync.set_notify.",
        &notify_interval_ms, 50, 1, 60000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("delta_sync");

    if (!process_shared_preload_libraries_in_progress) return;
    prev_shmem_request = shmem_request_hook;
    shmem_request_hook = live_shmem_request;
    prev_shmem_startup = shmem_startup_hook;
    shmem_startup_hook = live_shmem_startup;
    RegisterXactCallback(live_xact_callback, nullptr);
    register_notify_worker();
}

}  // namespace delta_sync
