// The notify worker: with the library preloaded, tables that opted into NOTIFY are notified by a
// background worker instead of by their writers, so that no writer takes the notification lock
// (a cluster-wide lock held through the commit's WAL flush).
//
// NOTIFY is per database and a worker connects to one database for its life, so a launcher
// (no database) starts one worker per database that has something to send; that worker sends
// one NOTIFY delta_sync, '<schema>.<table>' (each name quoted as quote_ident does) per changed
// table, at most every delta_sync.notify_interval, and exits after a few idle seconds so that it
// never holds up DROP DATABASE for long. Committers flag the table (TableSlot::notify_pending)
// and its database (NotifyDatabase::pending) and set the worker's or the launcher's latch.
//
// Plain C-style code: a worker's errors end the worker (FATAL), which the launcher restarts.
#include "live.hpp"

extern "C" {
#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PGDLLEXPORT void delta_sync_notify_launcher_main(Datum arg);
PGDLLEXPORT void delta_sync_notify_worker_main(Datum arg);
}

namespace delta_sync {

namespace {

constexpr long idle_exit_ms = 2000;

void reload_if_asked() {
    if (ConfigReloadPending) {
        ConfigReloadPending = false;
        ProcessConfigFile(PGC_SIGHUP);
    }
}

bool start_worker(int index) {
    BackgroundWorker w;
    memset(&w, 0, sizeof(w));
    snprintf(w.bgw_name, BGW_MAXLEN, "delta_sync notify worker for database %u",
             pg_atomic_read_u32(&notify_database_at(index)->dboid));
    snprintf(w.bgw_type, BGW_MAXLEN, "delta_sync notify worker");
    w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = BGW_NEVER_RESTART;
    snprintf(w.bgw_library_name, BGW_MAXLEN, "delta_sync");
    snprintf(w.bgw_function_name, BGW_MAXLEN, "delta_sync_notify_worker_main");
    w.bgw_main_arg = Int32GetDatum(index);
    return RegisterDynamicBackgroundWorker(&w, nullptr);
}

bool worker_connected = false;

void worker_exit(int, Datum arg) {
    NotifyDatabase* d = notify_database_at(DatumGetInt32(arg));
    // A database that could not be joined (dropped) keeps nothing pending, or it would be
    // restarted for ever; otherwise what came in while exiting starts a new worker.
    if (!worker_connected) pg_atomic_write_u32(&d->pending, 0);
    pg_atomic_write_u32(&d->worker_procno, static_cast<uint32>(-1));
    pg_atomic_write_u32(&d->running, 0);
    pg_memory_barrier();
    if (pg_atomic_read_u32(&d->pending)) wake_launcher();
}

// One transaction sending the pending notifications of this database.
void send_pending(Oid dboid, MemoryContext scratch) {
    MemoryContext old = MemoryContextSwitchTo(scratch);
    int n = 0;
    Oid* relids = static_cast<Oid*>(palloc(sizeof(Oid) * table_slot_count()));
    for (int i = 0; i < table_slot_count(); ++i) {
        TableSlot* s = table_slot_at(i);
        std::uint64_t key = pg_atomic_read_u64(&s->key);
        if (key == 0 || static_cast<Oid>(key >> 32) != dboid) continue;
        if (pg_atomic_read_u32(&s->notify_pending) && pg_atomic_exchange_u32(&s->notify_pending, 0))
            relids[n++] = static_cast<Oid>(key & 0xffffffff);
    }
    MemoryContextSwitchTo(old);
    if (n == 0) return;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "NOTIFY delta_sync");
    for (int i = 0; i < n; ++i) {
        char* rel = get_rel_name(relids[i]);
        Oid nsp = get_rel_namespace(relids[i]);
        char* nspname = OidIsValid(nsp) ? get_namespace_name(nsp) : nullptr;
        if (rel && nspname) Async_Notify("delta_sync", quote_qualified_identifier(nspname, rel));
    }
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
    MemoryContextReset(scratch);
}

}  // namespace

void register_notify_worker() {
    BackgroundWorker w;
    memset(&w, 0, sizeof(w));
    snprintf(w.bgw_name, BGW_MAXLEN, "delta_sync notify launcher");
    snprintf(w.bgw_type, BGW_MAXLEN, "delta_sync notify launcher");
    w.bgw_flags = BGWORKER_SHMEM_ACCESS;
    w.bgw_start_time = BgWorkerStart_RecoveryFinished;
    w.bgw_restart_time = 10;
    snprintf(w.bgw_library_name, BGW_MAXLEN, "delta_sync");
    snprintf(w.bgw_function_name, BGW_MAXLEN, "delta_sync_notify_launcher_main");
    RegisterBackgroundWorker(&w);
}

}  // namespace delta_sync

using namespace delta_sync;

void delta_sync_notify_launcher_main(Datum) {
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    set_launcher_procno(MyProc->pgprocno);
    for (;;) {
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        reload_if_asked();
        for (int i = 0; i < notify_databases; ++i) {
            NotifyDatabase* d = notify_database_at(i);
            if (!pg_atomic_read_u32(&d->dboid) || !pg_atomic_read_u32(&d->pending)) continue;
            uint32 expected = 0;
            if (!pg_atomic_compare_exchange_u32(&d->running, &expected, 1)) continue;
            if (!start_worker(i)) pg_atomic_write_u32(&d->running, 0);  // no free slot: next round
        }
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000,
                        PG_WAIT_EXTENSION);
    }
}

void delta_sync_notify_worker_main(Datum arg) {
    int index = DatumGetInt32(arg);
    NotifyDatabase* d = notify_database_at(index);
    Oid dboid = pg_atomic_read_u32(&d->dboid);
    before_shmem_exit(worker_exit, arg);
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
    worker_connected = true;
    pg_atomic_write_u32(&d->worker_procno, static_cast<uint32>(MyProc->pgprocno));
    MemoryContext scratch =
        AllocSetContextCreate(TopMemoryContext, "delta_sync notify worker", ALLOCSET_DEFAULT_SIZES);
    TimestampTz idle_since = GetCurrentTimestamp();
    for (;;) {
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        reload_if_asked();
        if (pg_atomic_read_u32(&d->pending) && pg_atomic_exchange_u32(&d->pending, 0)) {
            send_pending(dboid, scratch);
            idle_since = GetCurrentTimestamp();
            // At most one NOTIFY per table per interval: what commits meanwhile waits for the next.
            (void)WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, notify_interval_ms,
                            PG_WAIT_EXTENSION);
            continue;
        }
        if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), idle_exit_ms)) proc_exit(0);
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 500,
                        PG_WAIT_EXTENSION);
    }
}
