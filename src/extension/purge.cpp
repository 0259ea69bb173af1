// delta_sync.purge(tbl, older_than): physically removes rows soft-deleted more than older_than
// ago and moves the table's purge horizon past them.
//
// Why the horizon: a client whose cursor did not yet see such a deletion would never hear of it
// once the row is gone. The table's purged_through becomes the newest version xid among the
// removed rows, and delta_since() answers every cursor that had not seen all transactions up to
// it with fullResyncRequired; cursors taken after all those deletions had finished keep working.
//
// The physical DELETE must get past the soft-delete trigger. Only this function can open that
// door: it names the table in a backend-local variable that the trigger reads, set and cleared
// here (and cleared again on any error), never through a setting a user could change.
//
// The DELETE fires the table's triggers and evaluates its index expressions: it runs as the
// table's owner under SECURITY_RESTRICTED_OPERATION (as VACUUM does), so a superuser's scheduled
// purge runs no code of the table's owner with the superuser's rights.
//
// Lock order, the same as TRUNCATE, ALTER TABLE, untrack and DROP (which take the table and then
// write its registry row): the table first (SHARE UPDATE EXCLUSIVE), then the registry row. The
// other way round, a purge waiting for the table while holding the row deadlocked against them.
//
// purged_by records the purging transaction: a cursor that sees it was taken after every
// deletion the purge removed had committed, and need not resync for it.
#include "boundary.hpp"

#include <string>

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"
}

namespace delta_sync {

// Read by the soft-delete trigger: the table whose deletes are physical right now, if any.
Oid purging_relid = InvalidOid;

namespace {

struct PurgeTarget {
    const char* qualified;
    bool owner;
    Oid relowner;
    bool partitioned;  // a partitioned table: the DELETE reaches its partitions
};

// Clears the purge door however the DELETE ends.
struct PurgeDoor {
    explicit PurgeDoor(Oid relid) { purging_relid = relid; }
    ~PurgeDoor() { purging_relid = InvalidOid; }
    PurgeDoor(const PurgeDoor&) = delete;
    PurgeDoor& operator=(const PurgeDoor&) = delete;
};

Datum purge_impl(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0))
        throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "the table must not be NULL");
    if (PG_ARGISNULL(1))
        throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "older_than must not be NULL");
    Oid relid = PG_GETARG_OID(0);
    Interval* older_than = PG_GETARG_INTERVAL_P(1);

    PurgeTarget target = pg_guard([&] {
        PurgeTarget t{};
        char* rel = get_rel_name(relid);
        if (!rel)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                            errmsg("relation with OID %u does not exist", relid)));
        t.qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
        t.owner = pg_class_ownercheck(relid, GetUserId());
        t.partitioned = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE;
        Interval zero{};
        if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(older_than),
                                             IntervalPGetDatum(&zero))))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("older_than must not be negative")));
        return t;
    });
    std::string table = target.qualified;
    if (!target.owner)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       ("must be owner of table \"" + table + "\" to purge it").c_str());
    // The table before the registry row. It may have been dropped or given away while we waited,
    // so its owner is read (and checked again) only once it is locked.
    pg_guard([&] {
        // Self-conflicting, so two purges (and the event triggers' horizon updates) meet here;
        // readers and writers go on. The DELETE adds ROW EXCLUSIVE.
        LockRelationOid(relid, ShareUpdateExclusiveLock);
        HeapTuple classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
        if (!HeapTupleIsValid(classtup)) {
            target.relowner = InvalidOid;
            return;
        }
        target.relowner = reinterpret_cast<Form_pg_class>(GETSTRUCT(classtup))->relowner;
        ReleaseSysCache(classtup);
        target.owner = pg_class_ownercheck(relid, GetUserId());
    });
    if (!OidIsValid(target.relowner))
        throw SqlError(ERRCODE_UNDEFINED_TABLE,
                       ("table \"" + table + "\" no longer exists").c_str());
    if (!target.owner)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       ("must be owner of table \"" + table + "\" to purge it").c_str());

    std::string sql =
        "WITH gone AS (DELETE FROM " + std::string(target.partitioned ? "" : "ONLY ") + table +
        " t WHERE t.deleted_at OPERATOR(pg_catalog.<) $1 RETURNING t.delta_sync_changed_xid AS v)"
        " SELECT pg_catalog.count(*), pg_catalog.max(v) FROM gone";

    struct Outcome {
        bool tracked;
        int64 removed;
    };
    PurgeDoor door(relid);
    Outcome out = pg_guard([&] {
        Outcome o{false, 0};
        // Restored on an error by the (sub)transaction's abort.
        Oid save_user;
        int save_sec;
        GetUserIdAndSecContext(&save_user, &save_sec);
        SetUserIdAndSecContext(target.relowner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
                                                    SECURITY_RESTRICTED_OPERATION);
        if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
            elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
        Oid reg_types[1] = {REGCLASSOID};
        Datum reg_values[1] = {ObjectIdGetDatum(relid)};
        int rc = SPI_execute_with_args(
            "SELECT 1 FROM delta_sync.tracked WHERE relid OPERATOR(pg_catalog.=) $1 FOR UPDATE", 1,
            reg_types, reg_values, nullptr, false, 1);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "could not look up the table in the registry: %s",
                 SPI_result_code_string(rc));
        if (SPI_processed == 0) {
            SPI_finish();
            SetUserIdAndSecContext(save_user, save_sec);
            return o;
        }
        o.tracked = true;
        // Hard-delete mode: the tombstone table, named afresh (it may have been renamed).
        Oid registry = get_relname_relid("tracked", get_namespace_oid("delta_sync", false));
        const char* tombstones = nullptr;
        if (get_attnum(registry, "tombstones") != InvalidAttrNumber) {
            rc = SPI_execute_with_args(
                "SELECT tombstones::pg_catalog.oid FROM delta_sync.tracked"
                " WHERE relid OPERATOR(pg_catalog.=) $1 AND tombstones IS NOT NULL",
                1, reg_types, reg_values, nullptr, true, 1);
            if (rc != SPI_OK_SELECT)
                elog(ERROR, "could not look up the registry: %s", SPI_result_code_string(rc));
            if (SPI_processed == 1) {
                bool null;
                Oid ts = DatumGetObjectId(
                    SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null));
                char* name = get_rel_name(ts);
                if (name)
                    tombstones =
                        quote_qualified_identifier(get_namespace_name(get_rel_namespace(ts)), name);
            }
        }
        TimestampTz cutoff = DatumGetTimestampTz(DirectFunctionCall2(
            timestamptz_mi_interval, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
            IntervalPGetDatum(older_than)));
        Oid types[1] = {TIMESTAMPTZOID};
        Datum values[1] = {TimestampTzGetDatum(cutoff)};
        rc = SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, false, 0);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "could not purge the table: %s", SPI_result_code_string(rc));
        bool isnull;
        o.removed =
            DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        Datum newest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
        if (tombstones) {
            // Tombstones older than the cutoff go the same way, and move the same horizon.
            char* ts_sql = psprintf(
                "WITH gone AS (DELETE FROM %s ts WHERE ts.deleted_at OPERATOR(pg_catalog.<) $1"
                " RETURNING ts.delta_sync_changed_xid AS v)"
                " SELECT pg_catalog.count(*), pg_catalog.max(v) FROM gone",
                tombstones);
            rc = SPI_execute_with_args(ts_sql, 1, types, values, nullptr, false, 0);
            if (rc != SPI_OK_SELECT || SPI_processed != 1)
                elog(ERROR, "could not purge the tombstones: %s", SPI_result_code_string(rc));
            bool ts_null;
            o.removed += DatumGetInt64(
                SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &ts_null));
            Datum ts_newest =
                SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &ts_null);
            if (!ts_null && (isnull || DatumGetUInt64(ts_newest) > DatumGetUInt64(newest))) {
                newest = ts_newest;
                isnull = false;
            }
        }
        if (!isnull) {
            Oid htypes[3] = {REGCLASSOID, XID8OID, XID8OID};
            Datum hvalues[3] = {ObjectIdGetDatum(relid), newest,
                                FullTransactionIdGetDatum(GetTopFullTransactionId())};
            // A 1.1 registry (the library is new, ALTER EXTENSION UPDATE not yet run) has no
            // purged_by: its cursors resync as 1.1 made them.
            bool has_purged_by = get_attnum(registry, "purged_by") != InvalidAttrNumber;
            rc = SPI_execute_with_args(
                has_purged_by
                    ? "UPDATE delta_sync.tracked SET purged_through = GREATEST(purged_through, "
                      "$2), "
                      "purged_by = $3 WHERE relid OPERATOR(pg_catalog.=) $1"
                    : "UPDATE delta_sync.tracked SET purged_through = GREATEST(purged_through, $2) "
                      "WHERE relid OPERATOR(pg_catalog.=) $1",
                has_purged_by ? 3 : 2, htypes, hvalues, nullptr, false, 0);
            if (rc != SPI_OK_UPDATE || SPI_processed != 1)
                elog(ERROR, "could not raise the purge horizon: %s", SPI_result_code_string(rc));
        }
        SPI_finish();
        SetUserIdAndSecContext(save_user, save_sec);
        return o;
    });
    if (!out.tracked)
        throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                       ("table \"" + table + "\" is not tracked by delta_sync").c_str());
    PG_RETURN_INT64(out.removed);
}

}  // namespace

}  // namespace delta_sync

DELTA_SYNC_FUNCTION(delta_sync_purge, delta_sync::purge_impl)
