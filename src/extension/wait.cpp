// delta_sync.wait(tables regclass[], since text[], timeout interval) RETURNS regclass[]:
// returns as soon as one of the tables has a committed change its cursor does not see (every
// such table, or all whose cursor needs a resync), or an empty array when the timeout passes.
//
// The answer always comes from a probe of the tables' version indexes with a fresh snapshot, so
// it is right on a primary and on a hot standby alike, and never counts an uncommitted or
// rolled-back write. A change is a visible row version whose xid the cursor does not see: one
// at or past the cursor's xmax, or one of its in-progress xids (index look-ups, no scan of what
// the cursor already saw). A cursor the table can no longer answer (horizon, purge, another
// cluster) counts as a change: the client's next pull resyncs.
//
// Between probes the backend sleeps on its latch holding no lock (only the calling statement's
// own snapshot, as any statement does: callers keep timeouts short, the client uses 0.5 s):
//  - preloaded, on a primary: committers of these tables set the latch (live_shmem.cpp); a probe
//    runs when a table's shared change counter moved, and once a second if any transaction
//    finished (changes no trigger reports: COMMIT PREPARED, ALTER TABLE raising a horizon);
//  - otherwise (not preloaded, or a hot standby, where WAL replay applies commits and none of
//    our code runs): every delta_sync.poll_interval, probing only if a transaction finished
//    since the last probe (the server's transaction completion counter, replay included).
// Cancel, statement_timeout, termination and a lost client work as in any query (the latch wait
// checks for interrupts each round; the client's socket is checked every few seconds).
#include "cursor.hpp"
#include "live.hpp"
#include "registry.hpp"
#include "server_history.hpp"
#include "snapshot_cursor.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
// libpq/libpq.h needs the GSSAPI headers; the one declaration needed here:
bool pq_check_connection(void);
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <string>
#include <vector>

namespace delta_sync {

namespace {

// Most tables one wait watches. Each costs an index probe per round and some memory held for
// the whole wait; a client waits on the tables it syncs, far fewer.
constexpr int max_tables = 10000;

constexpr const char* cursor_hint =
    "Pass the serverVersion of the last delta_since() the client applied, or NULL for now.";

struct Watched {
    Oid relid;
    Cursor since;
    TableSlot* slot;  // preloaded only; nullptr: counted in the overflow counter
};

// The version index, opened: a valid btree, not partial, whose first column is
// delta_sync_changed_xid; nullptr when there is none.
Relation open_version_index(Relation rel, AttrNumber changed_xid) {
    List* indexes = RelationGetIndexList(rel);
    ListCell* lc;
    Relation found = nullptr;
    foreach (lc, indexes) {
        Relation idx = index_open(lfirst_oid(lc), AccessShareLock);
        if (idx->rd_rel->relam == BTREE_AM_OID && idx->rd_index->indisvalid &&
            idx->rd_index->indkey.values[0] == changed_xid &&
            heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, nullptr)) {
            found = idx;
            break;
        }
        index_close(idx, AccessShareLock);
    }
    list_free(indexes);
    return found;
}

AttrNumber column_number(Relation rel, const char* name) {
    TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0 && a->atttypid == XID8OID)
            return a->attnum;
    }
    return InvalidAttrNumber;
}

// Whether the index holds a row version visible in `snap` with a version matching the key.
bool any_visible(Relation heap, Relation index, Snapshot snap, StrategyNumber strategy,
                 RegProcedure proc, std::uint64_t xid, TupleTableSlot* slot) {
    ScanKeyData key;
    ScanKeyInit(&key, 1, strategy, proc, UInt64GetDatum(xid));
    IndexScanDesc scan = index_beginscan(heap, index, snap, 1, 0);
    index_rescan(scan, &key, 1, nullptr, 0);
    bool found = index_getnext_slot(scan, ForwardScanDirection, slot);
    index_endscan(scan);
    return found;
}

// The same question asked in SQL as the caller, for a table whose row-level security policies
// apply to the caller: a change counts only in a row the caller may see (the index alone would
// tell the caller when rows hidden from it are written). Read-only SPI with the probe's snapshot,
// in a subtransaction that is rolled back: the locks the query took (the table, its indexes,
// whatever its policies read) go with it, so the wait sleeps holding none.
bool query_changed(Relation rel, const Watched& w) {
    char* sql = psprintf(
        "SELECT 1 FROM %s%s t WHERE t.delta_sync_changed_xid OPERATOR(pg_catalog.>=) $1"
        " OR t.delta_sync_changed_xid OPERATOR(pg_catalog.=) ANY ($2) LIMIT 1",
        rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
        quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
                                   RelationGetRelationName(rel)));
    int n = static_cast<int>(w.since.xip.size());
    Datum* xips = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    for (int i = 0; i < n; ++i) xips[i] = UInt64GetDatum(w.since.xip[i]);
    Oid types[2] = {XID8OID, XID8ARRAYOID};
    Datum values[2] = {UInt64GetDatum(w.since.xmax),
                       PointerGetDatum(construct_array(xips, n, XID8OID, sizeof(uint64),
                                                       FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
    MemoryContext context = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    volatile bool found = false;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(context);
    PG_TRY();
    {
        if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
            elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
        int rc = SPI_execute_with_args(sql, 2, types, values, nullptr, true, 1);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "could not probe the table for changes: %s", SPI_result_code_string(rc));
        found = SPI_processed > 0;
        SPI_finish();
    }
    PG_CATCH();
    {
        // Out of the subtransaction before the error goes on: whoever catches it (a PL/pgSQL
        // exception block) rolls back its own subtransaction, not this one.
        MemoryContextSwitchTo(context);
        ErrorData* error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(context);
        CurrentResourceOwner = owner;
        ReThrowError(error);
    }
    PG_END_TRY();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
    return found;
}

// Whether the tombstone table has a deletion the cursor does not see (as for the table's rows).
bool tombstones_changed(Oid tombstones, const Watched& w, Snapshot snap) {
    Relation ts = try_table_open(tombstones, AccessShareLock);
    if (!ts) return true;  // gone: the client's next pull says what to do
    AttrNumber changed_xid = column_number(ts, "delta_sync_changed_xid");
    Relation index =
        changed_xid != InvalidAttrNumber ? open_version_index(ts, changed_xid) : nullptr;
    bool changed = true;
    if (index) {
        TupleTableSlot* slot = table_slot_create(ts, nullptr);
        changed = any_visible(ts, index, snap, BTGreaterEqualStrategyNumber, F_XID8GE, w.since.xmax,
                              slot);
        for (std::size_t i = 0; !changed && i < w.since.xip.size(); ++i)
            changed =
                any_visible(ts, index, snap, BTEqualStrategyNumber, F_XID8EQ, w.since.xip[i], slot);
        ExecDropSingleTupleTableSlot(slot);
        index_close(index, AccessShareLock);
    }
    table_close(ts, AccessShareLock);
    return changed;
}

// Plain data for the probe: whether table `w` changed for its cursor, seen from `snap`.
bool table_changed(const Watched& w, Snapshot snap, const ServerClock& clock) {
    Relation rel = try_table_open(w.relid, AccessShareLock);
    if (!rel) return true;  // dropped: the client finds out on its next pull
    bool changed = false;
    RegistryRow reg = read_registry_row(w.relid);
    AttrNumber changed_xid = column_number(rel, "delta_sync_changed_xid");
    // A partitioned table has no storage of its own to probe: its partitions are asked in SQL.
    bool partitioned = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE;
    Relation index = changed_xid != InvalidAttrNumber && !partitioned
                         ? open_version_index(rel, changed_xid)
                         : nullptr;
    if (!reg.found || (!index && !partitioned) ||
        judge_cursor(w.since, clock, reg.horizon, reg.purged_through, reg.purged_by) !=
            CursorFate::usable) {
        changed = true;
    } else if (partitioned || check_enable_rls(w.relid, InvalidOid, true) == RLS_ENABLED) {
        changed = query_changed(rel, w);
    } else {
        TupleTableSlot* slot = table_slot_create(rel, nullptr);
        changed = any_visible(rel, index, snap, BTGreaterEqualStrategyNumber, F_XID8GE,
                              w.since.xmax, slot);
        for (std::size_t i = 0; !changed && i < w.since.xip.size(); ++i)
            changed = any_visible(rel, index, snap, BTEqualStrategyNumber, F_XID8EQ, w.since.xip[i],
                                  slot);
        ExecDropSingleTupleTableSlot(slot);
    }
    // Rows deleted for real (hard-delete mode, cascaded deletes) left tombstones; a role under
    // row-level security is told of them too, as its next delta_since() is (fullResyncRequired).
    if (!changed && OidIsValid(reg.tombstones))
        changed = tombstones_changed(reg.tombstones, w, snap);
    if (index) index_close(index, AccessShareLock);
    table_close(rel, AccessShareLock);  // released now: a wait holds no lock while it sleeps
    return changed;
}

// One probe of every table with one fresh snapshot; the changed ones are set in `hit`.
int probe(const std::vector<Watched>& watched, bool* hit, MemoryContext scratch) {
    MemoryContext old = MemoryContextSwitchTo(scratch);
    Snapshot snap = RegisterSnapshot(GetLatestSnapshot());
    PushActiveSnapshot(snap);
    // As delta_since() judges a cursor: the history point is read after the snapshot.
    bool in_recovery = RecoveryInProgress();
    ServerClock clock{GetSystemIdentifier(), U64FromFullTransactionId(ReadNextFullTransactionId()),
                      in_recovery, current_history_point(in_recovery)};
    int n = 0;
    for (std::size_t i = 0; i < watched.size(); ++i) {
        CHECK_FOR_INTERRUPTS();
        hit[i] = table_changed(watched[i], snap, clock);
        n += hit[i];
    }
    PopActiveSnapshot();
    UnregisterSnapshot(snap);
    MemoryContextSwitchTo(old);
    MemoryContextReset(scratch);
    return n;
}

std::uint64_t completed_transactions() {
    pg_memory_barrier();
    return *static_cast<volatile std::uint64_t*>(&ShmemVariableCache->xactCompletionCount);
}

std::uint64_t shared_changes(const std::vector<Watched>& watched) {
    std::uint64_t sum = overflow_changes();
    for (const Watched& w : watched)
        if (w.slot) sum += pg_atomic_read_u64(&w.slot->changes);
    return sum;
}

// Withdraws the waiter on every way out of the wait (an error included; the abort callback is
// the backstop for FATAL exits).
struct WaiterAnnouncement {
    bool on = false;
    ~WaiterAnnouncement() {
        if (on) announce_waiter(0);
    }
};

Datum wait_for_changes(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0))
        throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "the tables to wait on must not be NULL");
    if (PG_ARGISNULL(2))
        throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "the timeout must not be NULL");

    struct Args {
        Datum* tables;
        bool* table_nulls;
        int n_tables;
        Datum* since;
        bool* since_nulls;
        int n_since;
        long timeout_ms;
        bool bad_timeout;
    };
    Args a = pg_guard([&] {
        Args r{};
        ArrayType* t = PG_GETARG_ARRAYTYPE_P(0);
        if (ARR_NDIM(t) > 1)
            ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                            errmsg("the tables to wait on must be a one-dimensional array")));
        int given = ArrayGetNItems(ARR_NDIM(t), ARR_DIMS(t));
        if (given > max_tables)
            ereport(
                ERROR,
                (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("too many tables to wait on"),
                 errdetail("A wait watches at most %d tables; %d were given.", max_tables, given)));
        deconstruct_array(t, REGCLASSOID, 4, true, TYPALIGN_INT, &r.tables, &r.table_nulls,
                          &r.n_tables);
        if (!PG_ARGISNULL(1)) {
            ArrayType* s = PG_GETARG_ARRAYTYPE_P(1);
            if (ARR_NDIM(s) > 1)
                ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                                errmsg("the cursors must be a one-dimensional array")));
            deconstruct_array(s, TEXTOID, -1, false, TYPALIGN_INT, &r.since, &r.since_nulls,
                              &r.n_since);
        }
        Interval* iv = PG_GETARG_INTERVAL_P(2);
        double ms = (static_cast<double>(iv->time) +
                     (static_cast<double>(iv->day) + iv->month * 30.0) * USECS_PER_DAY) /
                    1000.0;
        r.bad_timeout = !(ms >= 0 && ms <= 365.0 * 86400 * 1000);
        r.timeout_ms = r.bad_timeout ? 0 : static_cast<long>(ms);
        return r;
    });
    if (a.bad_timeout)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "the timeout must be between 0 and 365 days");
    if (a.n_tables == 0)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "there must be at least one table to wait on");
    if (a.n_since != 0 && a.n_since != 1 && a.n_since != a.n_tables)
        throw SqlError(ERRCODE_ARRAY_SUBSCRIPT_ERROR,
                       "there must be one cursor per table, or one for all of them", nullptr,
                       cursor_hint);

    // The cursor of "now", for tables given none.
    ServerClock clock{};
    std::uint64_t own_xid = 0;
    Cursor now = cursor_from_active_snapshot(clock, own_xid);

    std::vector<Watched> watched;
    for (int i = 0; i < a.n_tables; ++i) {
        if (a.table_nulls[i])
            throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                           "the tables to wait on must not be NULL");
        Watched w{DatumGetObjectId(a.tables[i]), now, nullptr};
        int s = a.n_since == 1 ? 0 : i;
        if (a.n_since != 0 && !a.since_nulls[s]) {
            text* t = pg_guard([&] { return DatumGetTextPP(a.since[s]); });
            std::string_view v(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
            CursorError e = decode_cursor(v, w.since);
            if (e != CursorError::none) {
                std::string msg = std::string("invalid serverVersion: ") + describe(e);
                throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, msg.c_str(), nullptr, cursor_hint);
            }
        }
        struct Check {
            bool exists, readable, tracked;
        };
        Check c = pg_guard([&] {
            Check r{false, false, false};
            r.exists = get_rel_name(w.relid) != nullptr;
            if (!r.exists) return r;
            r.readable = pg_class_aclcheck(w.relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
            if (r.readable) r.tracked = read_registry_row(w.relid).found;
            return r;
        });
        if (!c.exists) {
            std::string msg = "relation with OID " + std::to_string(w.relid) + " does not exist";
            throw SqlError(ERRCODE_UNDEFINED_TABLE, msg.c_str());
        }
        std::string name =
            pg_guard([&] { return static_cast<const char*>(get_rel_name(w.relid)); });
        if (!c.readable) {
            std::string msg = "permission denied for table \"" + name + "\"";
            throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE, msg.c_str());
        }
        if (!c.tracked) {
            // As delta_since says it: the qualified name, and a hint that is SQL to run.
            const char* q = pg_guard([&] {
                return quote_qualified_identifier(get_namespace_name(get_rel_namespace(w.relid)),
                                                  name.c_str());
            });
            std::string qualified = q;
            std::string literal = pg_guard([&] { return quote_literal_cstr(q); });
            std::string msg = "table \"" + qualified + "\" is not tracked by delta_sync";
            std::string hint = "Start tracking it with SELECT delta_sync.track(" + literal + ").";
            throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg.c_str(), nullptr,
                           hint.c_str());
        }
        w.slot = pg_guard([&] { return table_slot(w.relid); });
        watched.push_back(w);
    }

    bool* hits =
        pg_guard([&] { return static_cast<bool*>(palloc0(sizeof(bool) * watched.size())); });
    WaiterAnnouncement announcement;
    std::uint64_t mask = 0;
    for (const Watched& w : watched) mask |= pg_guard([&] { return waiter_bit(w.relid); });

    int found = pg_guard([&] {
        MemoryContext scratch =
            AllocSetContextCreate(CurrentMemoryContext, "delta_sync wait", ALLOCSET_DEFAULT_SIZES);
        TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), a.timeout_ms);
        TimestampTz next_tick = 0;  // the next check of finished transactions
        TimestampTz next_connection_check =
            TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
        bool first = true;
        std::uint64_t seen_changes = 0, seen_completed = 0;
        int n = 0;
        for (;;) {
            ResetLatch(MyLatch);
            CHECK_FOR_INTERRUPTS();
            // Preloaded shared counters are set by commits on a primary only.
            bool signalled = live_preloaded() && !RecoveryInProgress();
            if (signalled && !announcement.on) {
                announce_waiter(mask);
                announcement.on = true;
            } else if (!signalled && announcement.on) {
                announce_waiter(0);
                announcement.on = false;
            }
            TimestampTz now_ts = GetCurrentTimestamp();
            bool run = first;
            if (signalled) {
                std::uint64_t c = shared_changes(watched);
                if (c != seen_changes) run = true;
                seen_changes = c;
            }
            if (now_ts >= next_tick) {
                std::uint64_t c = completed_transactions();
                if (c != seen_completed) run = true;
                seen_completed = c;
                next_tick =
                    TimestampTzPlusMilliseconds(now_ts, signalled ? 1000 : poll_interval_ms);
            }
            if (run) {
                n = probe(watched, hits, scratch);
                if (n > 0) break;
            }
            first = false;
            now_ts = GetCurrentTimestamp();
            if (now_ts >= deadline) break;
            long sleep_ms = TimestampDifferenceMilliseconds(now_ts, Min(deadline, next_tick));
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                            Max(sleep_ms, 1), PG_WAIT_EXTENSION);
            // A client that went away ends the wait (PostgreSQL itself notices only on its next
            // read, or with client_connection_check_interval): one poll() of the socket a second.
            if (MyProcPort && GetCurrentTimestamp() >= next_connection_check) {
                if (!pq_check_connection())
                    ereport(FATAL, (errcode(ERRCODE_CONNECTION_FAILURE),
                                    errmsg("connection to client lost")));
                next_connection_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
            }
        }
        MemoryContextDelete(scratch);
        return n;
    });

    return pg_guard([&] {
        Datum* out = static_cast<Datum*>(palloc(sizeof(Datum) * (found ? found : 1)));
        int k = 0;
        for (std::size_t i = 0; i < watched.size(); ++i)
            if (hits[i]) out[k++] = ObjectIdGetDatum(watched[i].relid);
        return PointerGetDatum(construct_array(out, k, REGCLASSOID, 4, true, TYPALIGN_INT));
    });
}

}  // namespace

}  // namespace delta_sync

DELTA_SYNC_FUNCTION(delta_sync_wait, delta_sync::wait_for_changes)
