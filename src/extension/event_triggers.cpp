// The event triggers: a dropped table leaves the registry, a schema change that rewrites records
// without versioning them raises the horizon of every tracked table it reaches, and a restored
// table gets versions of this cluster.
//
// They fire inside anybody's DDL, and what they must do needs more than the caller may have:
// writing other roles' registry rows, rewriting the version columns of a restored table. None of
// them is SECURITY DEFINER, and none runs a user's code (triggers, defaults, operators, index
// expressions) with rights that code's author lacks:
//  - the registry is written as the registry's owner under SECURITY_RESTRICTED_OPERATION, by
//    fully qualified SQL that touches only the registry and the system catalogs;
//  - the restamp UPDATE of a restored table runs as the table's owner under
//    SECURITY_RESTRICTED_OPERATION (as PostgreSQL's VACUUM, ANALYZE and CREATE INDEX do), and only
//    when the role creating the trigger has that owner's privileges.
//
// Lock order, the same on every path that writes a registry row: the table first (at least SHARE
// UPDATE EXCLUSIVE, which conflicts with itself), then its row. Two writers of one row therefore
// meet at the table, never at the row while holding it.
#include "boundary.hpp"
#include "partitions.hpp"

#include <algorithm>

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/xid8.h"
}

namespace delta_sync {

namespace {

// Who the code runs as while it writes what the caller may not.
struct SavedUser {
    Oid user;
    int sec_context;
};

SavedUser become(Oid role) {
    SavedUser saved;
    GetUserIdAndSecContext(&saved.user, &saved.sec_context);
    SetUserIdAndSecContext(
        role, saved.sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
    return saved;
}

// On an error the (sub)transaction's abort restores the user; this is the normal way back.
void restore(SavedUser saved) {
    SetUserIdAndSecContext(saved.user, saved.sec_context);
}

Oid registry_relid() {
    Oid registry = get_relname_relid("tracked", get_namespace_oid("delta_sync", false));
    if (!OidIsValid(registry)) elog(ERROR, "relation \"delta_sync.tracked\" does not exist");
    return registry;
}

Oid owner_of(Oid relid) {
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tup)) return InvalidOid;
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->relowner;
    ReleaseSysCache(tup);
    return owner;
}

void check_event_trigger(FunctionCallInfo fcinfo, const char* name) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("function \"%s\" can only be called as an event trigger", name)));
}

// The tracked tables whose records an object change can alter without versioning them. `start`
// is a SELECT of (classid, objid) pairs: tables and types changed. From them the walk follows
// pg_depend to what depends on them (columns of tables, child tables and partitions, domains,
// array, range and composite types, typed tables), and from a table or composite type to its row
// type and back, since a column of a row type depends on the type, not on its relation.
constexpr const char* reached_sql = R"sql(
WITH RECURSIVE start(classid, objid) AS (%s),
reached(classid, objid) AS (
    SELECT s.classid, s.objid FROM start s
     WHERE s.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
        OR s.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
  UNION
    SELECT x.classid, x.objid
      FROM reached r
      CROSS JOIN LATERAL (
          SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
           WHERE d.refclassid OPERATOR(pg_catalog.=) r.classid
             AND d.refobjid OPERATOR(pg_catalog.=) r.objid
             AND (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                  OR d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass)
          UNION ALL
          SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid, c.reltype
            FROM pg_catalog.pg_class c
           WHERE r.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
             AND c.oid OPERATOR(pg_catalog.=) r.objid AND c.reltype OPERATOR(pg_catalog.<>) 0
          UNION ALL
          SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, t.typrelid
            FROM pg_catalog.pg_type t
           WHERE r.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
             AND t.oid OPERATOR(pg_catalog.=) r.objid AND t.typrelid OPERATOR(pg_catalog.<>) 0
      ) x
)
SELECT k.relid::pg_catalog.oid FROM delta_sync.tracked k
  JOIN reached r ON r.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND r.objid OPERATOR(pg_catalog.=) k.relid::pg_catalog.oid
 ORDER BY 1)sql";

// Sets the horizon of the given registry rows to this transaction, each table locked first.
// Runs as the registry's owner (see the file's head); the caller is connected to SPI.
void raise_horizons(const Oid* relids, uint64 n) {
    if (n == 0) return;
    // SHARE UPDATE EXCLUSIVE, like purge: it waits for TRUNCATE, ALTER TABLE, untrack, DROP and
    // purge, which hold the table while they write its row, and lets readers and writers be. The
    // oids are sorted, so two of these cannot cross.
    for (uint64 i = 0; i < n; ++i) LockRelationOid(relids[i], ShareUpdateExclusiveLock);
    Oid types[2] = {REGCLASSOID, XID8OID};
    for (uint64 i = 0; i < n; ++i) {
        Datum values[2] = {ObjectIdGetDatum(relids[i]),
                           FullTransactionIdGetDatum(GetTopFullTransactionId())};
        int rc = SPI_execute_with_args(
            "UPDATE delta_sync.tracked SET horizon = $2 "
            "WHERE relid OPERATOR(pg_catalog.=) $1",
            2, types, values, nullptr, false, 0);
        if (rc != SPI_OK_UPDATE)
            elog(ERROR, "could not raise the horizon: %s", SPI_result_code_string(rc));
    }
}

// The tracked tables `start` reaches (reached_sql), their horizons raised. Connected to SPI.
void raise_reached(const char* start) {
    char* sql = psprintf(reached_sql, start);
    int rc = SPI_execute(sql, false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "could not find the changed tables: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    Oid* relids = static_cast<Oid*>(palloc(sizeof(Oid) * (n + 1)));
    for (uint64 i = 0; i < n; ++i) {
        bool isnull;
        relids[i] = DatumGetObjectId(
            SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    }
    raise_horizons(relids, n);
}

// The trees of the partitions this command dropped, their horizons raised (see forget_dropped).
// Connected to SPI, as the registry's owner.
void raise_dropped_partitions() {
    int rc = SPI_execute(
        "SELECT DISTINCT t.objid FROM pg_catalog.pg_event_trigger_dropped_objects() tg"
        "  JOIN pg_catalog.pg_event_trigger_dropped_objects() t"
        "    ON t.object_type OPERATOR(pg_catalog.=) 'table'"
        "   AND tg.object_identity OPERATOR(pg_catalog.=)"
        "       ('delta_sync_notify on ' OPERATOR(pg_catalog.||) t.object_identity)"
        " WHERE tg.object_type OPERATOR(pg_catalog.=) 'trigger'"
        "   AND NOT EXISTS (SELECT 1 FROM delta_sync.tracked d"
        "                    WHERE d.relid::pg_catalog.oid OPERATOR(pg_catalog.=) t.objid)"
        " ORDER BY 1",
        true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "could not find the dropped partitions: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    Oid* roots = static_cast<Oid*>(palloc(sizeof(Oid) * (n + 1)));
    uint64 n_roots = 0;
    bool unknown = false;
    for (uint64 i = 0; i < n; ++i) {
        bool isnull, known;
        Oid part = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        Oid root = dropped_partition_root(part, &known);
        if (!OidIsValid(root)) {
            unknown = true;
            continue;
        }
        bool seen = false;
        for (uint64 j = 0; j < n_roots; ++j) seen = seen || roots[j] == root;
        if (!seen) roots[n_roots++] = root;
    }
    forget_dropped_partitions();
    if (unknown) {
        raise_reached(
            "SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, c.oid"
            "  FROM delta_sync.tracked k JOIN pg_catalog.pg_class c"
            "    ON c.oid OPERATOR(pg_catalog.=) k.relid::pg_catalog.oid"
            " WHERE c.relkind OPERATOR(pg_catalog.=) 'p'");
        return;
    }
    std::sort(roots, roots + n_roots);
    // A dropped root (DROP TABLE of the whole tree) has no registry row to raise any more.
    raise_horizons(roots, n_roots);
}

// sql_drop: registry rows of dropped tables go; a dropped column (of a tracked table, of a
// composite type or parent it uses: DROP TYPE ... CASCADE, DROP COLLATION ... CASCADE) changed
// records without versions, so the tables it reaches resync.
Datum forget_dropped(FunctionCallInfo fcinfo) {
    check_event_trigger(fcinfo, "delta_sync._forget_dropped");
    Oid registry = registry_relid();
    bool has_tombstones = get_attnum(registry, "tombstones") != InvalidAttrNumber;
    SavedUser saved = become(owner_of(registry));
    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    // A partition of a tracked tree dropped (DROP TABLE, DROP SCHEMA ... CASCADE, DROP OWNED):
    // its rows left the tree's view without a version, so the tree's cursors resync. The catalog
    // no longer links the partition to its tree: the tree is the one the DROP's ddl_command_start
    // noted (partitions.hpp), or, for a partition it did not note (another command dropped it),
    // every tracked partitioned table. A dropped table carrying delta_sync_notify that is not
    // itself tracked is such a partition.
    raise_dropped_partitions();
    int rc = SPI_execute(
        has_tombstones
            ? "DELETE FROM delta_sync.tracked t USING "
              "pg_catalog.pg_event_trigger_dropped_objects() o"
              " WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
              "   AND o.objsubid OPERATOR(pg_catalog.=) 0"
              "   AND t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) o.objid"
              " RETURNING t.tombstones::pg_catalog.oid"
            : "DELETE FROM delta_sync.tracked t USING "
              "pg_catalog.pg_event_trigger_dropped_objects() o"
              " WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
              "   AND o.objsubid OPERATOR(pg_catalog.=) 0"
              "   AND t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) o.objid",
        false, 0);
    if (rc != SPI_OK_DELETE && rc != SPI_OK_DELETE_RETURNING)
        elog(ERROR, "could not forget the dropped tables: %s", SPI_result_code_string(rc));
    // The tombstone tables of dropped tables (hard-delete mode) go too, dropped below as the
    // dropping role, which must own them: it does only what it could do itself.
    uint64 n_tombstones = rc == SPI_OK_DELETE_RETURNING ? SPI_processed : 0;
    Oid* tombstones = static_cast<Oid*>(palloc(sizeof(Oid) * (n_tombstones + 1)));
    uint64 kept = 0;
    for (uint64 i = 0; i < n_tombstones; ++i) {
        bool isnull;
        Datum v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
        if (!isnull) tombstones[kept++] = DatumGetObjectId(v);
    }
    raise_reached(
        "SELECT o.classid, o.objid FROM pg_catalog.pg_event_trigger_dropped_objects() o"
        " WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
        "   AND o.objsubid OPERATOR(pg_catalog.<>) 0");
    SPI_finish();
    restore(saved);
    for (uint64 i = 0; i < kept; ++i) {
        Oid ts = tombstones[i];
        char* name = get_rel_name(ts);
        if (!name || !pg_class_ownercheck(ts, GetUserId())) continue;
        char* sql =
            psprintf("DROP TABLE IF EXISTS %s",
                     quote_qualified_identifier(get_namespace_name(get_rel_namespace(ts)), name));
        if (int connected = SPI_connect(); connected != SPI_OK_CONNECT)
            elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(connected));
        rc = SPI_execute(sql, false, 0);
        if (rc != SPI_OK_UTILITY)
            elog(ERROR, "could not drop the tombstone tables: %s", SPI_result_code_string(rc));
        SPI_finish();
    }
    return PointerGetDatum(nullptr);
}

// ddl_command_end of ALTER TABLE, ALTER FOREIGN TABLE, ALTER TYPE, CREATE (OR REPLACE) VIEW,
// ALTER VIEW and ALTER MATERIALIZED VIEW: a column added with a default, a type change, a
// rewrite, an enum value renamed, a composite's or a view's attribute added, renamed or dropped
// change records without versioning them, on the table itself or on every tracked table that
// inherits from it or has a column of a type built on it.
Datum schema_changed(FunctionCallInfo fcinfo) {
    check_event_trigger(fcinfo, "delta_sync._schema_changed");
    SavedUser saved = become(owner_of(registry_relid()));
    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    raise_reached("SELECT c.classid, c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c");
    SPI_finish();
    restore(saved);
    return PointerGetDatum(nullptr);
}

// ddl_command_end of CREATE TRIGGER. pg_dump carries the version columns, xids of the cluster the
// data came from; restored into a cluster whose xid counter is behind, rows would look changed by
// transactions that have not happened yet. pg_restore loads the data and the registry before it
// creates the triggers, so the stamp trigger created on a table the registry already lists is a
// restore: versions beyond this transaction become this transaction (with
// session_replication_role = replica, so the stamp trigger leaves updated_at alone), and the
// horizon makes every older cursor resync. track() registers a table only after creating its
// triggers, so it never gets here.
Datum restamp_restored(FunctionCallInfo fcinfo) {
    check_event_trigger(fcinfo, "delta_sync._restamp_restored");
    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    int rc = SPI_execute(
        "SELECT DISTINCT tg.tgrelid FROM pg_catalog.pg_event_trigger_ddl_commands() c"
        "  JOIN pg_catalog.pg_trigger tg"
        "    ON c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass"
        "   AND tg.oid OPERATOR(pg_catalog.=) c.objid"
        "  JOIN delta_sync.tracked k ON k.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tg.tgrelid"
        " WHERE tg.tgname OPERATOR(pg_catalog.=) 'delta_sync_stamp' ORDER BY 1",
        false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "could not find the restored tables: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    Oid* relids = static_cast<Oid*>(palloc(sizeof(Oid) * (n + 1)));
    for (uint64 i = 0; i < n; ++i) {
        bool isnull;
        relids[i] = DatumGetObjectId(
            SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    }
    Datum me = FullTransactionIdGetDatum(GetTopFullTransactionId());
    Oid registry_owner = owner_of(registry_relid());
    for (uint64 i = 0; i < n; ++i) {
        Oid relid = relids[i];
        Oid owner = owner_of(relid);
        // Only a role with the owner's rights restores a table; anyone else (a holder of the
        // TRIGGER privilege) gets no rewrite done for them.
        if (!OidIsValid(owner) || !has_privs_of_role(GetUserId(), owner)) continue;
        char* table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                                 get_rel_name(relid));
        char* sql = psprintf(
            "UPDATE %s%s SET"
            " delta_sync_created_xid = CASE WHEN delta_sync_created_xid OPERATOR(pg_catalog.>) $1"
            "   THEN $1 ELSE delta_sync_created_xid END,"
            " delta_sync_changed_xid = CASE WHEN delta_sync_changed_xid OPERATOR(pg_catalog.>) $1"
            "   THEN $1 ELSE delta_sync_changed_xid END"
            " WHERE delta_sync_changed_xid OPERATOR(pg_catalog.>) $1"
            "    OR delta_sync_created_xid OPERATOR(pg_catalog.>) $1",
            get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ", table);
        int nest = NewGUCNestLevel();
        (void)set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
                                GUC_ACTION_SAVE, true, 0, false);
        SavedUser saved = become(owner);
        Oid types[1] = {XID8OID};
        Datum values[1] = {me};
        rc = SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0);
        if (rc != SPI_OK_UPDATE)
            elog(ERROR, "could not restamp a restored table: %s", SPI_result_code_string(rc));
        restore(saved);
        AtEOXact_GUC(true, nest);
        // CREATE TRIGGER holds the table, so its row comes second here as everywhere.
        saved = become(registry_owner);
        raise_horizons(&relid, 1);
        restore(saved);
    }
    SPI_finish();
    return PointerGetDatum(nullptr);
}

}  // namespace

}  // namespace delta_sync

// Plain PostgreSQL calls only: one guard each keeps the boundary rule.
#define DELTA_SYNC_EVENT_TRIGGER(name, body)                                   \
    DELTA_SYNC_FUNCTION(name, [](FunctionCallInfo fcinfo) {                    \
        return delta_sync::pg_guard([&] { return delta_sync::body(fcinfo); }); \
    })

DELTA_SYNC_EVENT_TRIGGER(delta_sync_forget_dropped, forget_dropped)
DELTA_SYNC_EVENT_TRIGGER(delta_sync_schema_changed, schema_changed)
DELTA_SYNC_EVENT_TRIGGER(delta_sync_restamp_restored, restamp_restored)
