// Partitioned tables and inheritance (see partitions.hpp).
//
// A tracked partitioned table is one registry row, one tombstone table and one cursor for its
// whole tree. Its row triggers (stamp, soft delete, key change) are cloned into every partition,
// present and future, by PostgreSQL itself. Statement triggers are not cloned, and a statement
// that names a partition fires only that partition's: so every partition, at every level, gets
// its own delta_sync_notify and delta_sync_tombstone, which answer to the tree's root
// (partition_root). track() puts them on the partitions it finds; the event trigger
// _partitions_changed puts them on partitions created or attached later, and takes them off a
// partition detached. ATTACH and DETACH change which rows the root shows without versioning
// them, so they raise the root's horizon (cursors from before resync); a partition created by
// CREATE TABLE ... PARTITION OF is empty, so cursors stay valid.
//
// Inheritance that is not partitioning: SELECT * FROM parent shows its children's rows, which
// their own triggers version but whose deletes through the parent no statement trigger of the
// child sees. The event trigger refuses a new child of a tracked table and a table tracked in
// hard-delete mode becoming a child; track() refuses a table with children (see
// delta_sync._refuse_untrackable).
#include "partitions.hpp"

#include "registry.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/deparse_utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"
}

namespace delta_sync {

namespace {

struct NotedMove {
    FullTransactionId xact;
    SubTransactionId subxact;
    Oid relid;
    ItemPointerData tid;
};
NotedMove noted{};

// The partitions of tracked trees as the current DROP began (dropped_partition_root).
struct NotedTrees {
    LocalTransactionId lxid;  // of the command that noted them; InvalidLocalTransactionId: none
    SubTransactionId subxact;
    int n;
    Oid* partitions;  // in TopMemoryContext
    Oid* roots;
};
NotedTrees trees{InvalidLocalTransactionId, InvalidSubTransactionId, 0, nullptr, nullptr};

Oid top_of(Oid relid) {
    if (!get_rel_relispartition(relid)) return relid;
    List* ancestors = get_partition_ancestors(relid);
    Oid top = ancestors ? llast_oid(ancestors) : relid;
    list_free(ancestors);
    return top;
}

bool tracked(Oid relid) { return read_registry_row(relid).found; }

char* qualified(Oid relid) {
    char* name = get_rel_name(relid);
    if (!name) elog(ERROR, "cache lookup failed for relation %u", relid);
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), name);
}

void spi_run(const char* sql) {
    int rc = SPI_execute(sql, false, 0);
    if (rc < 0) elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
}

// The partitions of `root` (every level) and whether each has the two statement triggers.
struct PartitionState {
    Oid relid;
    bool notify, tombstone;
};

PartitionState* partitions_of(Oid root, uint64* n) {
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(root)};
    int rc = SPI_execute_with_args(
        "SELECT p.relid::pg_catalog.oid,"
        " EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid OPERATOR(pg_catalog.=) p.relid"
        "   AND tg.tgname OPERATOR(pg_catalog.=) 'delta_sync_notify' AND NOT tg.tgisinternal),"
        " EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid OPERATOR(pg_catalog.=) p.relid"
        "   AND tg.tgname OPERATOR(pg_catalog.=) 'delta_sync_tombstone' AND NOT tg.tgisinternal)"
        " FROM pg_catalog.pg_partition_tree($1) p"
        " WHERE p.relid OPERATOR(pg_catalog.<>) $1 ORDER BY 1",
        1, types, values, nullptr, false, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not list the partitions: %s", SPI_result_code_string(rc));
    *n = SPI_processed;
    auto* out = static_cast<PartitionState*>(palloc(sizeof(PartitionState) * (*n + 1)));
    for (uint64 i = 0; i < *n; ++i) {
        bool isnull;
        HeapTuple t = SPI_tuptable->vals[i];
        TupleDesc d = SPI_tuptable->tupdesc;
        out[i].relid = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
        out[i].notify = DatumGetBool(SPI_getbinval(t, d, 2, &isnull));
        out[i].tombstone = DatumGetBool(SPI_getbinval(t, d, 3, &isnull));
    }
    return out;
}

void enable_always(Oid relid, const char* trigger) {
    Relation rel = table_open(relid, ShareRowExclusiveLock);
    EnableDisableTrigger(rel, trigger, TRIGGER_FIRES_ALWAYS, false, ShareRowExclusiveLock);
    table_close(rel, NoLock);
}

// Gives every partition of `root` the statement triggers it lacks, as the calling role, which
// must own the partition (as ALTER TABLE ... ENABLE ALWAYS TRIGGER asks). Connected to SPI.
// ENABLE ALWAYS is set directly, not by ALTER TABLE, so no event trigger takes it for a change of
// the table's records.
void add_partition_triggers(Oid root) {
    uint64 n;
    PartitionState* parts = partitions_of(root, &n);
    for (uint64 i = 0; i < n; ++i) {
        if (parts[i].notify && parts[i].tombstone) continue;
        Oid relid = parts[i].relid;
        if (!pg_class_ownercheck(relid, GetUserId()))
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("must be owner of table \"%s\" to track it as a partition of \"%s\"",
                                   get_rel_name(relid), get_rel_name(root))));
        char* table = qualified(relid);
        if (!parts[i].notify) {
            spi_run(psprintf("CREATE TRIGGER delta_sync_notify AFTER INSERT OR UPDATE OR DELETE OR "
                             "TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION "
                             "delta_sync._after_statement()",
                             table));
            CommandCounterIncrement();
            enable_always(relid, "delta_sync_notify");
        }
        if (!parts[i].tombstone) {
            spi_run(psprintf("CREATE TRIGGER delta_sync_tombstone AFTER DELETE ON %s REFERENCING OLD "
                             "TABLE AS delta_sync_old FOR EACH STATEMENT EXECUTE FUNCTION "
                             "delta_sync._tombstone()",
                             table));
            CommandCounterIncrement();
            enable_always(relid, "delta_sync_tombstone");
        }
        CommandCounterIncrement();
    }
}

// Takes the statement triggers off tables that no longer belong to a tracked tree: the
// partitions of `root` being untracked (root given), or a partition just detached (root
// InvalidOid: every table carrying them that is neither tracked nor in a tracked tree). As the
// calling role. Connected to SPI.
void remove_partition_triggers(Oid root) {
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(root)};
    int rc = SPI_execute_with_args(
        "SELECT DISTINCT tg.tgrelid FROM pg_catalog.pg_trigger tg"
        "  JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) tg.tgfoid"
        "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) f.pronamespace"
        " WHERE tg.tgname OPERATOR(pg_catalog.=) ANY ('{delta_sync_notify,delta_sync_tombstone}')"
        "   AND n.nspname OPERATOR(pg_catalog.=) 'delta_sync'"
        "   AND NOT tg.tgisinternal AND tg.tgparentid OPERATOR(pg_catalog.=) 0"
        "   AND CASE WHEN $1 IS NOT NULL"
        "       THEN tg.tgrelid OPERATOR(pg_catalog.=) ANY (SELECT p.relid FROM pg_catalog.pg_partition_tree($1) p"
        "                                     WHERE p.relid OPERATOR(pg_catalog.<>) $1)"
        "       ELSE NOT EXISTS (SELECT 1 FROM delta_sync.tracked k"
        "                         WHERE k.relid::pg_catalog.oid OPERATOR(pg_catalog.=) tg.tgrelid"
        "                            OR k.relid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ("
        "                               SELECT a.relid FROM pg_catalog.pg_partition_ancestors(tg.tgrelid) a)) END"
        " ORDER BY 1",
        1, types, values, OidIsValid(root) ? nullptr : "n", false, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not list the partitions: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    Oid* relids = static_cast<Oid*>(palloc(sizeof(Oid) * (n + 1)));
    for (uint64 i = 0; i < n; ++i) {
        bool isnull;
        relids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    }
    for (uint64 i = 0; i < n; ++i) {
        char* table = qualified(relids[i]);
        spi_run(psprintf("DROP TRIGGER IF EXISTS delta_sync_notify ON %s", table));
        spi_run(psprintf("DROP TRIGGER IF EXISTS delta_sync_tombstone ON %s", table));
    }
}

// The root's horizon becomes this transaction: the rows it shows changed without versions.
// Written as the registry's owner (the caller may own only the partition), the root locked
// first, as on every path that writes a registry row. Connected to SPI.
void raise_root_horizon(Oid root) {
    LockRelationOid(root, ShareUpdateExclusiveLock);
    Oid registry = get_relname_relid("tracked", get_namespace_oid("delta_sync", false));
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(registry));
    if (!HeapTupleIsValid(tup)) elog(ERROR, "relation \"delta_sync.tracked\" does not exist");
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->relowner;
    ReleaseSysCache(tup);
    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
    Oid types[2] = {REGCLASSOID, XID8OID};
    Datum values[2] = {ObjectIdGetDatum(root), FullTransactionIdGetDatum(GetTopFullTransactionId())};
    int rc = SPI_execute_with_args(
        "UPDATE delta_sync.tracked SET horizon = $2 WHERE relid OPERATOR(pg_catalog.=) $1", 2,
        types, values, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE) elog(ERROR, "could not raise the horizon: %s", SPI_result_code_string(rc));
    SetUserIdAndSecContext(save_user, save_sec);  // on an error, the abort restores it
}

// A tracked table in the partition tree below `relid`, or InvalidOid.
Oid tracked_in_tree(Oid relid) {
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(relid)};
    int rc = SPI_execute_with_args(
        "SELECT k.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree($1) p"
        "  JOIN delta_sync.tracked k ON k.relid::pg_catalog.oid OPERATOR(pg_catalog.=) p.relid"
        " WHERE p.relid OPERATOR(pg_catalog.<>) $1 ORDER BY p.level LIMIT 1",
        1, types, values, nullptr, false, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not look for tracked partitions: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0) return InvalidOid;
    bool isnull;
    return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

bool hard_mode(Oid relid) {
    return OidIsValid(get_trigger_oid(relid, "delta_sync_key_change", true));
}

// An inheritance child (not a partition) gets a parent: refused when the parent is tracked, or
// when the child is tracked in hard-delete mode.
void check_inheritance(Oid child, Oid parent) {
    if (!OidIsValid(parent) || get_rel_relispartition(child)) return;
    if (tracked(parent))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("cannot inherit from tracked table \"%s\"", get_rel_name(parent)),
                        errdetail("SELECT * FROM \"%s\" would show the rows of \"%s\", which "
                                  "delta_sync does not report as rows of \"%s\".",
                                  get_rel_name(parent), get_rel_name(child), get_rel_name(parent)),
                        errhint("Track a partitioned table instead, or untrack \"%s\" first.",
                                get_rel_name(parent))));
    if (tracked(child) && hard_mode(child))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("table \"%s\" is tracked in hard-delete mode and cannot inherit",
                               get_rel_name(child)),
                        errdetail("A DELETE through \"%s\" would remove rows of \"%s\" without "
                                  "tombstones, and no client would hear of it.",
                                  get_rel_name(parent), get_rel_name(child)),
                        errhint("Track it with deletes => 'soft' first.")));
}

// Every inheritance parent of `child` (as check_inheritance judges them). Names in the parse
// tree are not resolved here: the search_path is not the command's.
void check_inheritance_parents(Oid child) {
    if (get_rel_relispartition(child)) return;
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(child)};
    int rc = SPI_execute_with_args(
        "SELECT i.inhparent FROM pg_catalog.pg_inherits i"
        " WHERE i.inhrelid OPERATOR(pg_catalog.=) $1 ORDER BY i.inhseqno",
        1, types, values, nullptr, false, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not read the parents: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    Oid* oids = static_cast<Oid*>(palloc(sizeof(Oid) * (n + 1)));
    for (uint64 i = 0; i < n; ++i) {
        bool isnull;
        oids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    }
    for (uint64 i = 0; i < n; ++i) check_inheritance(child, oids[i]);
}

// One ALTER TABLE subcommand of the command on `altered`. The names the subcommand holds are not
// resolved here (this function's search_path is not the command's): the catalog says the rest.
void altered_table(Oid altered, AlterTableCmd* cmd) {
    switch (cmd->subtype) {
        case AT_AttachPartition: {
            if (get_rel_relkind(altered) != RELKIND_PARTITIONED_TABLE) return;
            if (Oid inside = tracked_in_tree(top_of(altered)); OidIsValid(inside))
                ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                                errmsg("cannot attach tracked table \"%s\" as a partition of \"%s\"",
                                       get_rel_name(inside), get_rel_name(altered)),
                                errdetail("A partition is tracked with its partitioned table."),
                                errhint("Untrack \"%s\" first; tracking \"%s\" tracks its partitions.",
                                        get_rel_name(inside), get_rel_name(top_of(altered)))));
            Oid root = top_of(altered);
            if (!tracked(root)) return;
            add_partition_triggers(root);
            raise_root_horizon(root);
            return;
        }
        case AT_DetachPartition:
        case AT_DetachPartitionFinalize: {
            Oid root = top_of(altered);
            if (!tracked(root)) return;
            raise_root_horizon(root);
            remove_partition_triggers(InvalidOid);
            return;
        }
        case AT_AddInherit:
            check_inheritance_parents(altered);
            return;
        default:
            return;
    }
}

void created_table(Oid relid, CreateStmt* stmt) {
    if (stmt->partbound) {
        Oid root = top_of(relid);
        if (root != relid && tracked(root)) add_partition_triggers(root);
        return;
    }
    if (stmt->inhRelations) check_inheritance_parents(relid);
}

// ddl_command_end of CREATE TABLE and ALTER TABLE.
Datum partitions_changed(FunctionCallInfo fcinfo) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("function \"%s\" can only be called as an event trigger",
                               "delta_sync._partitions_changed")));
    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    int rc = SPI_execute("SELECT c.command FROM pg_catalog.pg_event_trigger_ddl_commands() c", true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not read the commands: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    auto** commands = static_cast<CollectedCommand**>(palloc(sizeof(CollectedCommand*) * (n + 1)));
    for (uint64 i = 0; i < n; ++i) {
        bool isnull;
        Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
        commands[i] = isnull ? nullptr : reinterpret_cast<CollectedCommand*>(DatumGetPointer(d));
    }
    for (uint64 i = 0; i < n; ++i) {
        CollectedCommand* cmd = commands[i];
        if (!cmd) continue;

        if (cmd->type == SCT_Simple && cmd->parsetree && IsA(cmd->parsetree, CreateStmt) &&
            cmd->d.simple.address.classId == RelationRelationId) {
            created_table(cmd->d.simple.address.objectId, castNode(CreateStmt, cmd->parsetree));
        } else if (cmd->type == SCT_AlterTable && cmd->d.alterTable.classId == RelationRelationId) {
            ListCell* lc;
            foreach (lc, cmd->d.alterTable.subcmds) {
                auto* sub = static_cast<CollectedATSubcmd*>(lfirst(lc));
                if (sub->parsetree && IsA(sub->parsetree, AlterTableCmd))
                    altered_table(cmd->d.alterTable.objectId, castNode(AlterTableCmd, sub->parsetree));
            }
        }
    }
    SPI_finish();
    return PointerGetDatum(nullptr);
}

// ddl_command_start of DROP TABLE, DROP SCHEMA and DROP OWNED: notes the partitions of the tracked
// partitioned tables and their tops, for the sql_drop event trigger of the same command.
Datum partitions_dropping(FunctionCallInfo fcinfo) {
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("function \"%s\" can only be called as an event trigger",
                               "delta_sync._partitions_dropping")));
    forget_dropped_partitions();
    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    int rc = SPI_execute(
        "SELECT p.relid::pg_catalog.oid, k.relid::pg_catalog.oid FROM delta_sync.tracked k"
        "  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) k.relid::pg_catalog.oid"
        " CROSS JOIN LATERAL pg_catalog.pg_partition_tree(k.relid) p"
        " WHERE c.relkind OPERATOR(pg_catalog.=) 'p'"
        "   AND p.relid OPERATOR(pg_catalog.<>) k.relid::pg_catalog.oid",
        true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not list the partitions: %s", SPI_result_code_string(rc));
    int n = static_cast<int>(SPI_processed);
    Oid* partitions = static_cast<Oid*>(MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * (n + 1)));
    Oid* roots = static_cast<Oid*>(MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * (n + 1)));
    for (int i = 0; i < n; ++i) {
        bool isnull;
        partitions[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        roots[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
    }
    SPI_finish();
    trees.partitions = partitions;
    trees.roots = roots;
    trees.n = n;
    trees.subxact = GetCurrentSubTransactionId();
    trees.lxid = MyProc->lxid;
    return PointerGetDatum(nullptr);
}

// delta_sync._track_partitions(tbl) and _untrack_partitions(tbl): track() and untrack() of a
// partitioned table, for its partitions. The caller (track, untrack) has checked ownership of
// the table; each partition's is checked here.
namespace {

// Runs change(root) under SPI when the argument is a partitioned table the caller owns.
void change_partitions(FunctionCallInfo fcinfo, void (*change)(Oid)) {
    if (PG_ARGISNULL(0)) return;
    Oid root = PG_GETARG_OID(0);
    if (get_rel_relkind(root) != RELKIND_PARTITIONED_TABLE) return;
    if (!pg_class_ownercheck(root, GetUserId()))
        aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(root));
    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    change(root);
    SPI_finish();
}

}  // namespace

Datum track_partitions(FunctionCallInfo fcinfo) {
    change_partitions(fcinfo, add_partition_triggers);
    PG_RETURN_VOID();
}

Datum untrack_partitions(FunctionCallInfo fcinfo) {
    change_partitions(fcinfo, remove_partition_triggers);
    PG_RETURN_VOID();
}

}  // namespace

Oid partition_root(Relation rel) {
    if (!rel->rd_rel->relispartition) return RelationGetRelid(rel);
    return top_of(RelationGetRelid(rel));
}

Oid dropped_partition_root(Oid relid, bool* known) {
    *known = trees.lxid != InvalidLocalTransactionId && trees.lxid == MyProc->lxid &&
             trees.subxact == GetCurrentSubTransactionId();
    if (!*known) return InvalidOid;
    for (int i = 0; i < trees.n; ++i)
        if (trees.partitions[i] == relid) return trees.roots[i];
    return InvalidOid;
}

void forget_dropped_partitions() {
    trees.lxid = InvalidLocalTransactionId;
    trees.n = 0;
    if (trees.partitions) pfree(trees.partitions);
    if (trees.roots) pfree(trees.roots);
    trees.partitions = trees.roots = nullptr;
}

void note_key_change(Relation rel, ItemPointer tid) {
    noted.xact = GetTopFullTransactionId();
    noted.subxact = GetCurrentSubTransactionId();
    noted.relid = RelationGetRelid(rel);
    ItemPointerCopy(tid, &noted.tid);
}

bool is_noted_move(Relation rel, ItemPointer tid) {
    if (!OidIsValid(noted.relid) || noted.relid != RelationGetRelid(rel) ||
        !ItemPointerEquals(&noted.tid, tid) || noted.subxact != GetCurrentSubTransactionId() ||
        !FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()) ||
        !FullTransactionIdEquals(noted.xact, GetTopFullTransactionIdIfAny()))
        return false;
    noted.relid = InvalidOid;  // one DELETE per noted row
    return true;
}

}  // namespace delta_sync

#define DELTA_SYNC_PARTITION_FUNCTION(name, body)                              \
    DELTA_SYNC_FUNCTION(name, [](FunctionCallInfo fcinfo) {                    \
        return delta_sync::pg_guard([&] { return delta_sync::body(fcinfo); }); \
    })

DELTA_SYNC_PARTITION_FUNCTION(delta_sync_partitions_changed, partitions_changed)
DELTA_SYNC_PARTITION_FUNCTION(delta_sync_partitions_dropping, partitions_dropping)
DELTA_SYNC_PARTITION_FUNCTION(delta_sync_track_partitions, track_partitions)
DELTA_SYNC_PARTITION_FUNCTION(delta_sync_untrack_partitions, untrack_partitions)
