// The triggers delta_sync.track() installs on a table.
//
//  stamp (BEFORE INSERT OR UPDATE, each row): the writing transaction's top-level 64-bit xid
//    becomes the row's version (and, on insert, its creation version); updated_at = now();
//    created_at and the creation version cannot be changed by an UPDATE.
//  soft_delete (BEFORE DELETE, each row): the row stays, with deleted_at = now(), through an
//    UPDATE (so stamp gives it a new version); the physical delete is skipped.
//  tombstone (hard-delete mode, instead of soft_delete; AFTER DELETE for each statement, from
//    its transition table, and AFTER UPDATE for each row whose key changed): the row is really
//    deleted, and its old key, creation version, this
//    transaction and deleted_at go into the table's tombstone table (as its owner); the stamp
//    trigger lets the key change in this mode and makes the new key a new row.
//  after_statement (AFTER INSERT/UPDATE/DELETE/TRUNCATE, each statement): tells live.hpp the
//    table changed (waiters, opt-in NOTIFY); on TRUNCATE also raises the table's horizon, so
//    every older cursor resyncs.
//  In a partition of a tracked partitioned table the triggers answer to the top of its tree: its
//  registry row, its tombstone table, its waiters (partitions.hpp); a key change there writes its
//  tombstone in the stamp trigger, in both modes, since the row may move to another partition.
//
// These run inside other people's statements, once per row: plain data only, one guard each, no
// catalog look-up per row or per statement (a table's column numbers and key are kept per
// backend, checked when a statement takes them, dropped on invalidation), no SQL parsed per row
// (the soft delete's plan is kept per table).
#include "boundary.hpp"
#include "live.hpp"
#include "partitions.hpp"
#include "registry.hpp"

#include <cstdint>

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "executor/tuptable.h"
#include "utils/snapmgr.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"
}

namespace delta_sync {

extern Oid purging_relid;  // purge.cpp: the table whose soft-deleted rows are being removed

namespace {

// A table's shape (the tracking columns' numbers, the key), kept per backend (kept_shapes), with a
// statement's own copy in fn_extra that also holds its row buffers and its tombstone table.
struct TrackingColumns {
    Oid relid;
    std::uint64_t generation;  // shape_generation when this copy was last checked
    // The tracked table: relid, or the top of relid's partition tree, and its owner. Derived from
    // the tree, not from relid's own catalog rows: see forget_shapes.
    Oid root, root_owner;
    AttrNumber created_at, updated_at, deleted_at, created_xid, changed_xid;
    // The primary key's columns, in key order, with their storage, types, and btree equality
    // and collation in the key's index (to find a soft-deleted row an INSERT reuses).
    int nkeys;
    AttrNumber pk[INDEX_MAX_KEYS];
    int16 pk_len[INDEX_MAX_KEYS];
    bool pk_byval[INDEX_MAX_KEYS];
    Oid pk_type[INDEX_MAX_KEYS];
    RegProcedure pk_eq_proc[INDEX_MAX_KEYS];  // InvalidOid when a column has none
    Oid pk_collation[INDEX_MAX_KEYS];
    Oid pk_index;
    // Row buffers for one deform of each tuple (stamp), sized to the descriptor.
    int natts;
    Datum *values, *old_values;
    bool *nulls, *old_nulls;
    // Hard-delete mode: the tombstone table, read from the registry once per statement.
    Oid tombstones;  // InvalidOid until looked up
    Oid tombstones_nsp, tombstones_owner;
    NameData tombstones_name;
};

AttrNumber find_column(Relation rel, TupleDesc desc, const char* name, Oid type, const char* table) {
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0) {
            if (a->atttypid != type)
                ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                                errmsg("column \"%s\" of table \"%s\" has type %s, delta_sync needs %s",
                                       name, table, format_type_be(a->atttypid),
                                       format_type_be(type))));
            return a->attnum;
        }
    }
    // The hint is SQL to run: the name qualified, quoted, and as a string literal.
    const char* literal = quote_literal_cstr(
        quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)), table));
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("tracked table \"%s\" has no column \"%s\" of type %s, which delta_sync needs",
                           table, name, format_type_be(type)),
                    errhint("Untrack the table and track it again with SELECT delta_sync.untrack(%s) "
                            "and SELECT delta_sync.track(%s).",
                            literal, literal)));
    return InvalidAttrNumber;
}

bool still_valid(const TrackingColumns* c, Relation rel) {
    if (c->relid != RelationGetRelid(rel)) return false;
    TupleDesc desc = RelationGetDescr(rel);
    const AttrNumber nums[] = {c->created_at, c->updated_at, c->deleted_at, c->created_xid,
                               c->changed_xid};
    const char* names[] = {"created_at", "updated_at", "deleted_at", "delta_sync_created_xid",
                           "delta_sync_changed_xid"};
    for (int i = 0; i < 5; ++i) {
        if (nums[i] < 1 || nums[i] > desc->natts) return false;
        Form_pg_attribute a = TupleDescAttr(desc, nums[i] - 1);
        if (a->attisdropped || strcmp(NameStr(a->attname), names[i]) != 0) return false;
    }
    // The key: the same index, every column still there with its type (a key replaced or a
    // column retyped is also an invalidation; this holds even if one were missed).
    if (c->nkeys < 1 || c->pk_index != RelationGetPrimaryKeyIndex(rel)) return false;
    for (int k = 0; k < c->nkeys; ++k) {
        if (c->pk[k] < 1 || c->pk[k] > desc->natts) return false;
        Form_pg_attribute a = TupleDescAttr(desc, c->pk[k] - 1);
        if (a->attisdropped || a->atttypid != c->pk_type[k] || a->attlen != c->pk_len[k] ||
            a->attbyval != c->pk_byval[k])
            return false;
    }
    // A partition's shape names its root; a table that became or stopped being a partition is
    // read again.
    if (rel->rd_rel->relispartition != (c->root != c->relid)) return false;
    return true;
}

// Reads the shape of `rel` into c from the catalogs: the tracking columns' numbers and the key.
TrackingColumns* read_shape(TrackingColumns* c, Relation rel) {
    TupleDesc desc = RelationGetDescr(rel);
    const char* table = RelationGetRelationName(rel);
    c->relid = InvalidOid;
    c->tombstones = InvalidOid;
    c->created_at = find_column(rel, desc, "created_at", TIMESTAMPTZOID, table);
    c->updated_at = find_column(rel, desc, "updated_at", TIMESTAMPTZOID, table);
    c->deleted_at = find_column(rel, desc, "deleted_at", TIMESTAMPTZOID, table);
    c->created_xid = find_column(rel, desc, "delta_sync_created_xid", XID8OID, table);
    c->changed_xid = find_column(rel, desc, "delta_sync_changed_xid", XID8OID, table);
    c->nkeys = 0;
    Oid pk_index = RelationGetPrimaryKeyIndex(rel);
    c->pk_index = pk_index;
    if (OidIsValid(pk_index)) {
        Relation idx = index_open(pk_index, AccessShareLock);
        int nkeys = idx->rd_index->indnkeyatts;
        bool usable = idx->rd_rel->relam == BTREE_AM_OID && nkeys >= 1;
        for (int k = 0; usable && k < nkeys; ++k) {
            c->pk[k] = idx->rd_index->indkey.values[k];
            usable = c->pk[k] != InvalidAttrNumber;
            Oid op = get_opfamily_member(idx->rd_opfamily[k], idx->rd_opcintype[k],
                                         idx->rd_opcintype[k], BTEqualStrategyNumber);
            c->pk_eq_proc[k] = OidIsValid(op) ? get_opcode(op) : InvalidOid;
            c->pk_collation[k] = idx->rd_indcollation[k];
        }
        if (usable) c->nkeys = nkeys;
        index_close(idx, AccessShareLock);
    }
    if (c->nkeys == 0)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("tracked table \"%s\" no longer has a primary key", table)));
    for (int k = 0; k < c->nkeys; ++k) {
        Form_pg_attribute pk_attr = TupleDescAttr(desc, c->pk[k] - 1);
        c->pk_len[k] = pk_attr->attlen;
        c->pk_byval[k] = pk_attr->attbyval;
        c->pk_type[k] = pk_attr->atttypid;
    }
    c->root = partition_root(rel);
    c->root_owner = rel->rd_rel->relowner;
    if (c->root != RelationGetRelid(rel)) {
        HeapTuple roottup = SearchSysCache1(RELOID, ObjectIdGetDatum(c->root));
        if (HeapTupleIsValid(roottup)) {
            c->root_owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(roottup))->relowner;
            ReleaseSysCache(roottup);
        }
    }
    c->relid = RelationGetRelid(rel);
    return c;
}

// Shapes kept per backend across statements, so that a single-row statement does no catalog
// look-up (the triggers run once per row inside other people's statements). An entry is the
// shape of one table (keyed by its relid); what a statement uses is its own copy in fn_extra.
// Trust: a table's entry is dropped by every relcache invalidation of the table (ALTER TABLE,
// a new or dropped key, untrack), all entries by a cache reset and by changes of operators (the
// key's equality); an entry is checked against the live descriptor whenever a statement takes
// it; a statement's copy is used as is only while no invalidation at all has arrived since it
// was checked (shape_generation), and an entry read while one arrived is not kept.
// A partition's entry also holds what comes from its tree (the root and the root's owner), which
// changes with catalog rows of other tables: ATTACH or DETACH at any level of the tree (the
// partition's parent and the attached or detached table are invalidated, not necessarily the
// partition nor its root), the root's owner changed. So every relcache invalidation of any table
// drops every partition's entry; tables that are no partition keep theirs.
HTAB* kept_shapes = nullptr;
std::uint64_t shape_generation = 1;

void forget_shapes(Oid relid) {
    ++shape_generation;
    if (!kept_shapes) return;
    if (OidIsValid(relid)) hash_search(kept_shapes, &relid, HASH_REMOVE, nullptr);
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, kept_shapes);
    while (auto* e = static_cast<TrackingColumns*>(hash_seq_search(&seq)))
        if (!OidIsValid(relid) || e->root != e->relid)
            hash_search(kept_shapes, &e->relid, HASH_REMOVE, nullptr);
}

void shape_relcache_changed(Datum, Oid relid) { forget_shapes(relid); }
void shape_catalog_changed(Datum, int, uint32) { forget_shapes(InvalidOid); }

// Copies the shape fields of `from` into c; c's row buffers and tombstone table are its own.
void copy_shape(TrackingColumns* c, const TrackingColumns* from) {
    int natts = c->natts;
    Datum *values = c->values, *old_values = c->old_values;
    bool *nulls = c->nulls, *old_nulls = c->old_nulls;
    *c = *from;
    c->natts = natts;
    c->values = values;
    c->old_values = old_values;
    c->nulls = nulls;
    c->old_nulls = old_nulls;
    c->tombstones = InvalidOid;  // read from the registry once per statement (find_tombstones)
}

// The shape of `rel` for this call: the statement's copy while nothing was invalidated since it
// was checked, else the backend's kept entry once checked against the descriptor, else read.
TrackingColumns* tracking_columns(FunctionCallInfo fcinfo, Relation rel) {
    auto* c = static_cast<TrackingColumns*>(fcinfo->flinfo->fn_extra);
    Oid relid = RelationGetRelid(rel);
    if (c && c->relid == relid && c->generation == shape_generation) return c;
    if (!c) {
        c = static_cast<TrackingColumns*>(
            MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TrackingColumns)));
        fcinfo->flinfo->fn_extra = c;
    }
    if (!kept_shapes) {
        HASHCTL ctl;
        ctl.keysize = sizeof(Oid);
        ctl.entrysize = sizeof(TrackingColumns);
        ctl.hcxt = TopMemoryContext;
        kept_shapes = hash_create("delta_sync table shapes", 16, &ctl,
                                  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    std::uint64_t before = shape_generation;
    auto* kept = static_cast<TrackingColumns*>(hash_search(kept_shapes, &relid, HASH_FIND, nullptr));
    if (kept && still_valid(kept, rel)) {
        copy_shape(c, kept);
        c->generation = before;
        return c;
    }
    c->relid = InvalidOid;  // until read in full: an error below leaves no usable copy
    read_shape(c, rel);     // may accept invalidations (index_open)
    c->tombstones = InvalidOid;
    c->generation = before;
    if (shape_generation == before) {
        kept = static_cast<TrackingColumns*>(hash_search(kept_shapes, &relid, HASH_ENTER, nullptr));
        *kept = *c;
        kept->natts = 0;
        kept->values = kept->old_values = nullptr;
        kept->nulls = kept->old_nulls = nullptr;
    }
    return c;
}

// Whether two values of the key are the same bytes once detoasted: an UPDATE that writes every
// column may hand the key back compressed or inline where the stored row has it the other way.
// Byte identity (as datum_image_eq) rather than the type's equality: a key equal under its
// opclass but spelled differently ('1.0' and '1.00' as numeric) would reach clients as new.
bool same_key_column(Datum a, Datum b, const TrackingColumns* c, int k) {
    if (c->pk_byval[k] || c->pk_len[k] != -1) return datumIsEqual(a, b, c->pk_byval[k], c->pk_len[k]);
    return datum_image_eq(a, b, false, -1);
}

// Whether the new row has the old row's key, column by column (values and nulls deformed).
bool same_key(const Datum* old_values, const bool* old_nulls, const Datum* values,
              const bool* nulls, const TrackingColumns* c) {
    for (int k = 0; k < c->nkeys; ++k) {
        int i = c->pk[k] - 1;
        if (old_nulls[i] != nulls[i]) return false;
        if (!nulls[i] && !same_key_column(old_values[i], values[i], c, k)) return false;
    }
    return true;
}

// Whether an UPDATE may have changed the key or the creation columns in the new row: they are
// assigned by the statement, or another BEFORE UPDATE row trigger (which could set anything)
// exists on the table.
bool old_row_needed(const TriggerData* td, const TrackingColumns* c) {
    const TriggerDesc* triggers = td->tg_relation->trigdesc;
    int before_update_row = 0;
    for (int i = 0; triggers && i < triggers->numtriggers; ++i) {
        int16 type = triggers->triggers[i].tgtype;
        if (TRIGGER_FOR_ROW(type) && TRIGGER_FOR_BEFORE(type) && TRIGGER_FOR_UPDATE(type))
            ++before_update_row;
    }
    if (before_update_row != 1) return true;
    const Bitmapset* cols = td->tg_updatedcols;
    if (!cols) return true;
    const AttrNumber kept[] = {c->created_xid, c->created_at};
    for (AttrNumber a : kept)
        if (bms_is_member(a - FirstLowInvalidHeapAttributeNumber, cols)) return true;
    for (int k = 0; k < c->nkeys; ++k)
        if (bms_is_member(c->pk[k] - FirstLowInvalidHeapAttributeNumber, cols)) return true;
    return false;
}

// Hard-delete mode: the table has the key-change trigger track(deletes => 'hard') creates.
bool hard_delete_mode(Relation rel) {
    const TriggerDesc* triggers = rel->trigdesc;
    for (int i = 0; triggers && i < triggers->numtriggers; ++i)
        if (strcmp(triggers->triggers[i].tgname, "delta_sync_key_change") == 0 &&
            triggers->triggers[i].tgenabled != TRIGGER_DISABLED)
            return true;
    return false;
}

bool find_tombstones(TrackingColumns* c, Relation rel, bool required);
void write_tombstone(const TrackingColumns* c, const Datum* keys, const bool* key_nulls,
                     Datum created, bool created_null);

// An INSERT of a key whose row is soft-deleted creates the row anew: the soft-deleted row is
// removed first, physically and without firing triggers or foreign-key actions (it left the
// application's view when it was soft-deleted; rows that still reference its key now reference
// the new row, as they referenced the soft-deleted one). No client needs to hear of the removal:
// the new row is created later than anything they saw, and reaches them as created, which
// replaces what they hold under that key. Runs the insert's own check (ON CONFLICT's too) into an
// empty slot, so `INSERT ... ON CONFLICT DO UPDATE` of a soft-deleted key inserts the new row.
void remove_soft_deleted(Relation rel, TrackingColumns* c, const Datum* values) {
    for (int k = 0; k < c->nkeys; ++k)
        if (!OidIsValid(c->pk_eq_proc[k])) return;
    Relation idx = index_open(c->pk_index, AccessShareLock);
    ScanKeyData sk[INDEX_MAX_KEYS];
    for (int k = 0; k < c->nkeys; ++k)
        ScanKeyEntryInitialize(&sk[k], 0, k + 1, BTEqualStrategyNumber, InvalidOid,
                               c->pk_collation[k], c->pk_eq_proc[k], values[c->pk[k] - 1]);
    IndexScanDesc scan = index_beginscan(rel, idx, GetActiveSnapshot(), c->nkeys, 0);
    index_rescan(scan, sk, c->nkeys, nullptr, 0);
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    ItemPointerData tid;
    bool found = false;
    Datum old_keys[INDEX_MAX_KEYS];
    bool old_key_nulls[INDEX_MAX_KEYS];
    Datum old_created = 0;
    bool old_created_null = true;
    while (index_getnext_slot(scan, ForwardScanDirection, slot)) {
        bool isnull;
        slot_getattr(slot, c->deleted_at, &isnull);
        if (!isnull) {
            tid = slot->tts_tid;
            found = true;
            for (int k = 0; k < c->nkeys; ++k)
                old_keys[k] = datumCopy(slot_getattr(slot, c->pk[k], &old_key_nulls[k]),
                                        c->pk_byval[k], c->pk_len[k]);
            old_created = slot_getattr(slot, c->created_xid, &old_created_null);
            break;
        }
    }
    index_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    index_close(idx, AccessShareLock);
    // A table tracked before tombstone tables existed keeps the old rule (23505): the removed
    // row's key, if spelled otherwise than the new one, would reach no client as deleted.
    if (!found || !find_tombstones(c, rel, false)) return;
    TM_FailureData tmfd;
    TM_Result result = table_tuple_delete(rel, &tid, GetCurrentCommandId(true), GetActiveSnapshot(),
                                          InvalidSnapshot, true, &tmfd, false);
    if (result != TM_Ok && result != TM_SelfModified)
        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                        errmsg("could not serialize access due to concurrent update"),
                        errdetail("The soft-deleted row of \"%s\" that this INSERT replaces was "
                                  "changed by another transaction.",
                                  RelationGetRelationName(rel))));
    CommandCounterIncrement();
    // Its tombstone: superseded by the new row when the key is spelled the same, reported when
    // it is spelled otherwise (1.0 soft-deleted, 1.00 inserted), so no client keeps the old one.
    write_tombstone(c, old_keys, old_key_nulls, old_created, old_created_null);
}

// The common UPDATE's new row: a copy of the executor's row with the version and updated_at
// written over in place, which costs a walk of the row instead of a deform and a form. nullptr
// when either column is null in the row or past its stored columns, or not 8 bytes by value (the
// caller then forms the row from its values). The walk is heap_deform_tuple's slow path.
HeapTuple stamped_copy(HeapTuple tuple, TupleDesc desc, const TrackingColumns* c, Datum xid,
                       Datum now) {
    HeapTupleHeader tup = tuple->t_data;
    int last = Max(c->changed_xid, c->updated_at);
    if (last > Min(HeapTupleHeaderGetNatts(tup), desc->natts)) return nullptr;
    const AttrNumber written[] = {c->changed_xid, c->updated_at};
    for (AttrNumber col : written) {
        Form_pg_attribute a = TupleDescAttr(desc, col - 1);
        if (a->attlen != sizeof(Datum) || !a->attbyval) return nullptr;
    }
    bool hasnulls = HeapTupleHasNulls(tuple);
    const bits8* bp = tup->t_bits;
    char* tp = reinterpret_cast<char*>(tup) + tup->t_hoff;
    uint32 off = 0;
    int64 xid_off = -1, now_off = -1;
    for (int i = 0; i < last; ++i) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (hasnulls && att_isnull(i, bp)) continue;
        if (a->attlen == -1)
            off = att_align_pointer(off, a->attalign, -1, tp + off);
        else
            off = att_align_nominal(off, a->attalign);
        if (i + 1 == c->changed_xid) xid_off = off;
        if (i + 1 == c->updated_at) now_off = off;
        off = att_addlength_pointer(off, a->attlen, tp + off);
    }
    if (xid_off < 0 || now_off < 0) return nullptr;
    HeapTuple result = heap_copytuple(tuple);  // with the row's identity (t_self, t_tableOid)
    char* data = reinterpret_cast<char*>(result->t_data) + result->t_data->t_hoff;
    store_att_byval(data + xid_off, xid, sizeof(Datum));
    store_att_byval(data + now_off, now, sizeof(Datum));
    return result;
}

TriggerData* trigger_data(FunctionCallInfo fcinfo, const char* name) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("function \"%s\" can only be called as a trigger", name)));
    return reinterpret_cast<TriggerData*>(fcinfo->context);
}

Datum stamp(FunctionCallInfo fcinfo) {
    TriggerData* td = trigger_data(fcinfo, "delta_sync._stamp");
    if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("function \"delta_sync._stamp\" must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));
    Relation rel = td->tg_relation;
    TupleDesc desc = RelationGetDescr(rel);
    TrackingColumns* c = tracking_columns(fcinfo, rel);
    if (c->natts != desc->natts) {
        // One allocation for the four buffers: the Datums first, so each array stays aligned.
        int n = desc->natts;
        char* room = static_cast<char*>(
            MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, (2 * sizeof(Datum) + 2 * sizeof(bool)) * n));
        c->natts = 0;
        c->values = reinterpret_cast<Datum*>(room);
        c->old_values = c->values + n;
        c->nulls = reinterpret_cast<bool*>(c->old_values + n);
        c->old_nulls = c->nulls + n;
        c->natts = n;
    }

    // pg_current_xact_id(): top-level, 64-bit, assigned if this is the first write.
    Datum xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
    Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

    // An UPDATE that leaves the key and the creation columns as they were (the usual one). Not
    // where the statement assigns any key column or another BEFORE UPDATE row trigger could
    // change one (old_row_needed): in a partition that covers the partition key too, every
    // level's, since PostgreSQL makes a partitioned table's primary key include its partition
    // key's columns; so a row that may move to another partition takes the path below.
    if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && !old_row_needed(td, c))
        if (HeapTuple result = stamped_copy(td->tg_newtuple, desc, c, xid, now))
            return PointerGetDatum(result);

    // One deform of each tuple; the new row is formed from the values (heap_modify_tuple would
    // deform it again, and reading the old row column by column walks it once per column).
    Datum* values = c->values;
    bool* nulls = c->nulls;
    HeapTuple tuple = TRIGGER_FIRED_BY_INSERT(td->tg_event) ? td->tg_trigtuple : td->tg_newtuple;
    heap_deform_tuple(tuple, desc, values, nulls);
    auto set = [&](AttrNumber col, Datum v, bool isnull) {
        values[col - 1] = v;
        nulls[col - 1] = isnull;
    };
    set(c->changed_xid, xid, false);
    set(c->updated_at, now, false);
    if (TRIGGER_FIRED_BY_INSERT(td->tg_event)) {
        bool key_null = false;
        for (int k = 0; k < c->nkeys; ++k) key_null = key_null || nulls[c->pk[k] - 1];
        if (!key_null) remove_soft_deleted(rel, c, values);
        set(c->created_xid, xid, false);
        if (nulls[c->created_at - 1]) set(c->created_at, now, false);
    } else if (!old_row_needed(td, c)) {
        // Neither the key nor the creation columns are assigned, and no other row trigger can
        // change them: the new row carries the old values, and the old row need not be read.
    } else {
        Datum* old_values = c->old_values;
        bool* old_nulls = c->old_nulls;
        heap_deform_tuple(td->tg_trigtuple, desc, old_values, old_nulls);
        // Clients know a row by its key: a changed key would leave them a row nobody deletes.
        if (!same_key(old_values, old_nulls, values, nulls, c)) {
            // In hard-delete mode the key-change trigger records the old key's tombstone; the
            // row under its new key is a new row to clients. In a partition the key holds the
            // partition key, and a changed key may move the row to another partition, which the
            // key-change trigger does not see (PostgreSQL fires no AFTER UPDATE row trigger for
            // a moved row): the tombstone is written here, in both modes, and the soft-delete
            // trigger lets the move's DELETE through. A tombstone of a key that still has a row
            // (a later trigger set the key back) is never reported.
            if (rel->rd_rel->relispartition) {
                Datum old_keys[INDEX_MAX_KEYS];
                bool old_key_nulls[INDEX_MAX_KEYS];
                for (int k = 0; k < c->nkeys; ++k) {
                    old_keys[k] = old_values[c->pk[k] - 1];
                    old_key_nulls[k] = old_nulls[c->pk[k] - 1];
                }
                find_tombstones(c, rel, true);
                write_tombstone(c, old_keys, old_key_nulls, old_values[c->created_xid - 1],
                                old_nulls[c->created_xid - 1]);
                note_key_change(rel, &td->tg_trigtuple->t_self);
            } else if (!hard_delete_mode(rel))
                ereport(ERROR,
                        (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                         errmsg("cannot change the primary key of a row of tracked table \"%s\"",
                                RelationGetRelationName(rel)),
                         errdetail("In soft-delete mode the old key would stay behind as a row "
                                   "no client hears deleted."),
                         errhint("Delete the row and insert it with the new key, or track the "
                                 "table with deletes => 'hard'.")));
            set(c->created_xid, xid, false);
            set(c->created_at, now, false);
        } else {
            set(c->created_xid, old_values[c->created_xid - 1], old_nulls[c->created_xid - 1]);
            set(c->created_at, old_values[c->created_at - 1], old_nulls[c->created_at - 1]);
        }
    }
    HeapTuple result = heap_form_tuple(desc, values, nulls);
    // The executor keeps the row's identity from the tuple it handed in.
    result->t_data->t_ctid = tuple->t_data->t_ctid;
    result->t_self = tuple->t_self;
    result->t_tableOid = tuple->t_tableOid;
    return PointerGetDatum(result);
}

// Prepared soft-delete UPDATEs, one per table. The SQL names the table, so an entry is rebuilt
// when the table's name or schema changes (schema renames are seen through a syscache callback).
//
// A plan may be running while another soft delete needs a slot: a user trigger fired by the
// soft-delete UPDATE can delete from tracked tables itself, after a schema change or through
// more tables than there are slots. A running plan is never freed: `users` counts the
// executions under way; a slot that goes stale while in use is only unlisted (relid cleared) and
// its plan freed when its last execution ends; a full cache of running plans gets a plan of its
// own for this one execution.
enum class PlanKind { soft_delete, tombstone, statement_tombstones };

// What a tombstone plan depends on besides the table: the key's types (a tombstone's $1 ... $n)
// and the table's key columns, quoted and comma-separated (what a statement's tombstones select
// from its transition table).
struct PlanKey {
    int nkeys = 0;
    const Oid* types = nullptr;
    const char* columns = "";
};

struct SoftDeletePlan {
    PlanKind kind;
    Oid relid;  // InvalidOid: unlisted (free, or stale and waiting for its users to finish)
    int nkeys;  // tombstone plans: the key's columns and their types
    Oid key_types[INDEX_MAX_KEYS];
    char* columns;  // statement_tombstones plans: PlanKey::columns (TopMemoryContext), or null
    Oid nsp;
    NameData relname;
    uint64 namespace_generation;
    SPIPlanPtr plan;
    int users;
};
constexpr int plan_slots = 32;
SoftDeletePlan plans[plan_slots];
int next_victim = 0;
uint64 namespace_generation = 1;

void namespace_changed(Datum, int, uint32) { ++namespace_generation; }

void release_slot_plan(SoftDeletePlan* slot) {
    SPIPlanPtr old = slot->plan;
    char* columns = slot->columns;
    slot->plan = nullptr;
    slot->columns = nullptr;
    slot->relid = InvalidOid;
    if (columns) pfree(columns);
    if (old) SPI_freeplan(old);
}

bool same_plan_key(const SoftDeletePlan& p, const PlanKey& key) {
    if (p.nkeys != key.nkeys) return false;
    for (int k = 0; k < key.nkeys; ++k)
        if (p.key_types[k] != key.types[k]) return false;
    return strcmp(p.columns ? p.columns : "", key.columns) == 0;
}

// The tombstone table's key columns (see track()): key, or key_1, ..., key_n.
char* tombstone_key_list(int nkeys) {
    if (nkeys == 1) return pstrdup("key");
    StringInfoData list;
    initStringInfo(&list);
    for (int k = 1; k <= nkeys; ++k) appendStringInfo(&list, "%skey_%d", k > 1 ? ", " : "", k);
    return list.data;
}

SPIPlanPtr prepare_soft_delete(Oid nsp, const char* relname) {
    char* sql = psprintf(
        "UPDATE ONLY %s t SET deleted_at = $2 WHERE t.ctid OPERATOR(pg_catalog.=) $1",
        quote_qualified_identifier(get_namespace_name(nsp), relname));
    Oid types[2] = {TIDOID, TIMESTAMPTZOID};
    SPIPlanPtr plan = SPI_prepare(sql, 2, types);
    if (!plan) elog(ERROR, "could not prepare the soft delete: %s", SPI_result_code_string(SPI_result));
    return plan;
}

// The tombstone of a key: a key deleted again keeps its first creation version (a client that
// saw any creation of the key may hold it) and takes the newest deletion. $1 ... $n are the key's
// columns, then its creation version, this transaction and deleted_at.
SPIPlanPtr prepare_tombstone(Oid nsp, const char* relname, const PlanKey& key) {
    int n = key.nkeys;
    char* keys = tombstone_key_list(n);
    StringInfoData params;
    initStringInfo(&params);
    for (int i = 1; i <= n + 3; ++i) appendStringInfo(&params, "%s$%d", i > 1 ? ", " : "", i);
    char* sql = psprintf(
        "INSERT INTO %s AS ts (%s, delta_sync_created_xid, delta_sync_changed_xid, deleted_at)"
        " VALUES (%s) ON CONFLICT (%s) DO UPDATE"
        " SET delta_sync_changed_xid = EXCLUDED.delta_sync_changed_xid,"
        " deleted_at = EXCLUDED.deleted_at",
        quote_qualified_identifier(get_namespace_name(nsp), relname), keys, params.data, keys);
    Oid types[INDEX_MAX_KEYS + 3];
    for (int k = 0; k < n; ++k) types[k] = key.types[k];
    types[n] = XID8OID;
    types[n + 1] = XID8OID;
    types[n + 2] = TIMESTAMPTZOID;
    SPIPlanPtr plan = SPI_prepare(sql, n + 3, types);
    if (!plan) elog(ERROR, "could not prepare the tombstone: %s", SPI_result_code_string(SPI_result));
    return plan;
}

// The tombstones of every row a DELETE statement removed, from its transition table.
SPIPlanPtr prepare_statement_tombstones(Oid nsp, const char* relname, const PlanKey& key) {
    char* keys = tombstone_key_list(key.nkeys);
    char* sql = psprintf(
        "INSERT INTO %s AS ts (%s, delta_sync_created_xid, delta_sync_changed_xid, deleted_at)"
        " SELECT %s, o.delta_sync_created_xid, $1, $2 FROM delta_sync_old o"
        " ON CONFLICT (%s) DO UPDATE"
        " SET delta_sync_changed_xid = EXCLUDED.delta_sync_changed_xid,"
        " deleted_at = EXCLUDED.deleted_at",
        quote_qualified_identifier(get_namespace_name(nsp), relname), keys, key.columns, keys);
    Oid types[2] = {XID8OID, TIMESTAMPTZOID};
    SPIPlanPtr plan = SPI_prepare(sql, 2, types);
    if (!plan) elog(ERROR, "could not prepare the tombstones: %s", SPI_result_code_string(SPI_result));
    return plan;
}

SPIPlanPtr prepare_plan(PlanKind kind, Oid nsp, const char* relname, const PlanKey& key) {
    switch (kind) {
        case PlanKind::soft_delete:
            return prepare_soft_delete(nsp, relname);
        case PlanKind::tombstone:
            return prepare_tombstone(nsp, relname, key);
        case PlanKind::statement_tombstones:
            break;
    }
    return prepare_statement_tombstones(nsp, relname, key);
}

// The slot holding a current plan for `rel`, or nullptr when every slot is running a plan (the
// caller then prepares an unkept plan that SPI_finish frees).
SoftDeletePlan* plan_slot(PlanKind kind, Oid relid, Oid nsp, const char* relname,
                          const PlanKey& key) {
    SoftDeletePlan* slot = nullptr;
    for (auto& p : plans) {
        if (p.plan && p.relid == relid && p.kind == kind) {
            if (p.nsp == nsp && strcmp(NameStr(p.relname), relname) == 0 &&
                p.namespace_generation == namespace_generation && same_plan_key(p, key))
                return &p;
            if (p.users > 0)
                p.relid = InvalidOid;  // stale but running: its last user frees it
            else
                slot = &p;
            break;
        }
    }
    if (!slot) {
        for (auto& p : plans)
            if (!p.plan) {
                slot = &p;
                break;
            }
    }
    for (int tried = 0; !slot && tried < plan_slots; ++tried) {
        SoftDeletePlan* victim = &plans[next_victim];
        next_victim = (next_victim + 1) % plan_slots;
        if (victim->users == 0) slot = victim;
    }
    if (!slot) return nullptr;
    if (slot->plan) release_slot_plan(slot);
    SPIPlanPtr plan = prepare_plan(kind, nsp, relname, key);
    char* columns = *key.columns ? MemoryContextStrdup(TopMemoryContext, key.columns) : nullptr;
    SPI_keepplan(plan);
    slot->kind = kind;
    slot->nkeys = key.nkeys;
    for (int k = 0; k < key.nkeys; ++k) slot->key_types[k] = key.types[k];
    slot->columns = columns;
    slot->relid = relid;
    slot->nsp = nsp;
    namestrcpy(&slot->relname, relname);
    slot->namespace_generation = namespace_generation;
    slot->plan = plan;
    slot->users = 0;
    return slot;
}

// Runs a kept plan (the soft-delete UPDATE of one row, or a tombstone's INSERT), keeping its
// slot's plan alive while it runs.
int run_plan(PlanKind kind, Oid relid, Oid nsp, const char* relname, Datum* values,
             const char* nulls, const PlanKey& key = PlanKey()) {
    SoftDeletePlan* volatile slot = plan_slot(kind, relid, nsp, relname, key);
    if (!slot) {
        SPIPlanPtr plan = prepare_plan(kind, nsp, relname, key);
        return SPI_execute_plan(plan, values, nulls, false, 0);
    }
    volatile int rc = 0;
    ++slot->users;
    PG_TRY();
    {
        rc = SPI_execute_plan(slot->plan, values, nulls, false, 0);
    }
    PG_FINALLY();
    {
        if (--slot->users == 0 && slot->relid == InvalidOid) release_slot_plan(slot);
    }
    PG_END_TRY();
    return rc;
}

Datum soft_delete(FunctionCallInfo fcinfo) {
    TriggerData* td = trigger_data(fcinfo, "delta_sync._soft_delete");
    if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !TRIGGER_FIRED_BY_DELETE(td->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("function \"delta_sync._soft_delete\" must be fired BEFORE DELETE FOR EACH ROW")));
    Relation rel = td->tg_relation;
    const TrackingColumns* c = tracking_columns(fcinfo, rel);
    HeapTuple tuple = td->tg_trigtuple;
    // The DELETE half of a row moving to another partition (see the stamp trigger): the row
    // goes on living in the other partition, so this one must really go.
    if (rel->rd_rel->relispartition && is_noted_move(rel, &tuple->t_self))
        return PointerGetDatum(tuple);
    // A delete cascaded by a foreign key (ON DELETE CASCADE of a parent whose row went away):
    // only PostgreSQL's referential-integrity queries run with SECURITY_NOFORCE_RLS. The row is
    // deleted for real, so no row is left referencing a parent that is gone, and the statement
    // trigger records its tombstone, so clients hear of it.
    if (InNoForceRLSOperation()) return PointerGetDatum(tuple);
    bool isnull;
    heap_getattr(tuple, c->deleted_at, RelationGetDescr(rel), &isnull);
    if (!isnull) {
        // delta_sync.purge() removing an old soft-deleted row: the only physical delete allowed.
        if (purging_relid == c->root) return PointerGetDatum(tuple);
        return PointerGetDatum(nullptr);  // already soft-deleted: nothing changes
    }

    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    Datum values[2] = {PointerGetDatum(&tuple->t_self),
                       TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
    int rc = run_plan(PlanKind::soft_delete, RelationGetRelid(rel), RelationGetNamespace(rel),
                      RelationGetRelationName(rel), values, nullptr);
    if (rc != SPI_OK_UPDATE) elog(ERROR, "could not soft-delete the row: %s", SPI_result_code_string(rc));
    // Not updated: row-level security hid the row from the UPDATE, or (without it) a BEFORE
    // UPDATE trigger of the table skipped the update by returning NULL.
    if (SPI_processed != 1 && check_enable_rls(RelationGetRelid(rel), InvalidOid, true) != RLS_ENABLED)
        ereport(ERROR, (errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
                        errmsg("could not soft-delete a row of \"%s\"", RelationGetRelationName(rel)),
                        errdetail("A DELETE on a tracked table is an UPDATE of deleted_at, and a "
                                  "BEFORE UPDATE trigger on the table skipped that update (it "
                                  "returned NULL)."),
                        errhint("Let the table's BEFORE UPDATE triggers pass changes of deleted_at.")));
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("could not soft-delete a row of \"%s\"", RelationGetRelationName(rel)),
                        errdetail("A DELETE on a tracked table is an UPDATE of deleted_at, and that "
                                  "UPDATE, under the table's row-level security, updated no row."),
                        errhint("Let the table's row-level security policies allow the deleting "
                                "role to update the rows it may delete.")));
    SPI_finish();
    return PointerGetDatum(nullptr);  // skip the physical delete
}

// The table's tombstone table, looked up in the registry once per statement. Without one: an
// error when `required`, else false.
bool find_tombstones(TrackingColumns* c, Relation rel, bool required) {
    if (OidIsValid(c->tombstones)) return true;
    {
        RegistryRow reg = read_registry_row(c->root);
        HeapTuple classtup = reg.found && OidIsValid(reg.tombstones)
                                 ? SearchSysCache1(RELOID, ObjectIdGetDatum(reg.tombstones))
                                 : nullptr;
        if (!HeapTupleIsValid(classtup) && !required) return false;
        if (!HeapTupleIsValid(classtup)) {
            const char* literal = quote_literal_cstr(quote_qualified_identifier(
                get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel)));
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("tracked table \"%s\" has no tombstone table",
                                   RelationGetRelationName(rel)),
                            errhint("Untrack the table and track it again with SELECT "
                                    "delta_sync.untrack(%s) and SELECT delta_sync.track(%s, "
                                    "deletes => 'hard').",
                                    literal, literal)));
        }
        auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(classtup));
        // The registry row is the table owner's to write: a tombstone table of another owner
        // would have its rows written with that owner's rights.
        if (form->relowner != c->root_owner || form->relkind != RELKIND_RELATION)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("the tombstone table \"%s\" of \"%s\" is not an ordinary table of the same owner",
                                   NameStr(form->relname), RelationGetRelationName(rel))));
        // The key columns track() gave it for this primary key (key, or key_1 ... key_n, of the
        // key's types, and no more): a key replaced since needs track() again.
        bool fit = true;
        for (int k = 0; fit && k <= c->nkeys; ++k) {
            char name[32];
            if (k == c->nkeys)
                snprintf(name, sizeof name, "key_%d", c->nkeys == 1 ? 1 : c->nkeys + 1);
            else if (c->nkeys == 1)
                snprintf(name, sizeof name, "key");
            else
                snprintf(name, sizeof name, "key_%d", k + 1);
            AttrNumber att = get_attnum(reg.tombstones, name);
            fit = k == c->nkeys ? att == InvalidAttrNumber
                                : att != InvalidAttrNumber &&
                                      get_atttype(reg.tombstones, att) == c->pk_type[k];
        }
        if (!fit) {
            const char* literal = quote_literal_cstr(quote_qualified_identifier(
                get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel)));
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("the tombstone table of tracked table \"%s\" does not fit its primary key",
                                   RelationGetRelationName(rel)),
                            errdetail("The table's primary key was replaced after tracking started."),
                            errhint("Track the table again with SELECT delta_sync.track(%s), which "
                                    "replaces the tombstone table.",
                                    literal)));
        }
        c->tombstones_nsp = form->relnamespace;
        c->tombstones_owner = form->relowner;
        c->tombstones_name = form->relname;
        ReleaseSysCache(classtup);
        c->tombstones = reg.tombstones;
    }
    return true;
}

// One tombstone: the old key and its creation version, deleted by this transaction now. Written
// as the tombstone table's owner (the table's) under SECURITY_RESTRICTED_OPERATION.
void write_tombstone(const TrackingColumns* c, const Datum* keys, const bool* key_nulls,
                     Datum created, bool created_null) {
    int n = c->nkeys;
    Datum values[INDEX_MAX_KEYS + 3];
    char nulls[INDEX_MAX_KEYS + 3];
    for (int k = 0; k < n; ++k) {
        values[k] = keys[k];
        nulls[k] = key_nulls[k] ? 'n' : ' ';
    }
    values[n] = created;
    values[n + 1] = FullTransactionIdGetDatum(GetTopFullTransactionId());
    values[n + 2] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
    if (created_null) values[n] = values[n + 1];
    nulls[n] = nulls[n + 1] = nulls[n + 2] = ' ';
    PlanKey key;
    key.nkeys = n;
    key.types = c->pk_type;

    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    SetUserIdAndSecContext(c->tombstones_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
                                                    SECURITY_RESTRICTED_OPERATION);
    if (int connected = SPI_connect(); connected != SPI_OK_CONNECT)
            elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(connected));
    int rc = run_plan(PlanKind::tombstone, c->tombstones, c->tombstones_nsp,
                      NameStr(c->tombstones_name), values, nulls, key);
    if (rc != SPI_OK_INSERT) elog(ERROR, "could not write the tombstone: %s", SPI_result_code_string(rc));
    SPI_finish();
    SetUserIdAndSecContext(save_user, save_sec);  // on an error, the abort restores it
}

// Hard-delete mode (AFTER DELETE, and AFTER UPDATE when the key changed; each row): the old key,
// the old row's creation version, this transaction and deleted_at go into the table's tombstone
// table. The deleting role needs no rights on it: the INSERT runs as the tombstone table's owner
// (the table's owner) under SECURITY_RESTRICTED_OPERATION, as PostgreSQL's RI triggers run their
// queries; what it can run is the owner's own (triggers or index expressions the owner put on the
// tombstone table), with the owner's rights.
Datum tombstone(FunctionCallInfo fcinfo) {
    TriggerData* td = trigger_data(fcinfo, "delta_sync._tombstone()");
    bool statement = TRIGGER_FIRED_AFTER(td->tg_event) && !TRIGGER_FIRED_FOR_ROW(td->tg_event) &&
                     TRIGGER_FIRED_BY_DELETE(td->tg_event) && td->tg_oldtable;
    bool row = TRIGGER_FIRED_AFTER(td->tg_event) && TRIGGER_FIRED_FOR_ROW(td->tg_event) &&
               TRIGGER_FIRED_BY_UPDATE(td->tg_event);
    if (!statement && !row)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("delta_sync._tombstone() must fire AFTER DELETE FOR EACH STATEMENT "
                               "with an old transition table, or AFTER UPDATE FOR EACH ROW")));
    Relation rel = td->tg_relation;
    // A key change in a partition had its tombstone written by the stamp trigger.
    if (row && rel->rd_rel->relispartition) return PointerGetDatum(nullptr);
    TrackingColumns* c = tracking_columns(fcinfo, rel);
    find_tombstones(c, rel, true);
    if (statement) {
        // A DELETE statement: one INSERT of the tombstones of every row it removed. In
        // soft-delete mode only cascaded deletes remove rows; purge() removes rows whose
        // deletion clients heard of already (and raises the horizon past them).
        if (tuplestore_tuple_count(td->tg_oldtable) == 0 || purging_relid == c->root)
            return PointerGetDatum(nullptr);
        Datum values[2] = {FullTransactionIdGetDatum(GetTopFullTransactionId()),
                           TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
        // The key's columns as the transition table has them: o.a, o.b, ...
        StringInfoData columns;
        initStringInfo(&columns);
        for (int k = 0; k < c->nkeys; ++k)
            appendStringInfo(&columns, "%so.%s", k > 0 ? ", " : "",
                             quote_identifier(NameStr(
                                 TupleDescAttr(RelationGetDescr(rel), c->pk[k] - 1)->attname)));
        PlanKey key;
        key.nkeys = c->nkeys;
        key.types = c->pk_type;
        key.columns = columns.data;
        Oid save_user;
        int save_sec;
        GetUserIdAndSecContext(&save_user, &save_sec);
        SetUserIdAndSecContext(c->tombstones_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
                                                        SECURITY_RESTRICTED_OPERATION);
        if (int connected = SPI_connect(); connected != SPI_OK_CONNECT)
            elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(connected));
        if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
            elog(ERROR, "could not register the transition table");
        int rc = run_plan(PlanKind::statement_tombstones, c->tombstones, c->tombstones_nsp,
                          NameStr(c->tombstones_name), values, nullptr, key);
        if (rc != SPI_OK_INSERT) elog(ERROR, "could not write the tombstones: %s", SPI_result_code_string(rc));
        SPI_finish();
        SetUserIdAndSecContext(save_user, save_sec);  // on an error, the abort restores it
        return PointerGetDatum(nullptr);
    }
    Datum keys[INDEX_MAX_KEYS];
    bool key_nulls[INDEX_MAX_KEYS];
    for (int k = 0; k < c->nkeys; ++k)
        keys[k] = heap_getattr(td->tg_trigtuple, c->pk[k], RelationGetDescr(rel), &key_nulls[k]);
    bool created_null;
    Datum created = heap_getattr(td->tg_trigtuple, c->created_xid, RelationGetDescr(rel), &created_null);
    write_tombstone(c, keys, key_nulls, created, created_null);
    return PointerGetDatum(nullptr);
}

// Raises the table's horizon to this transaction. The registry belongs to the extension's owner,
// not to whoever truncates, so the update runs as that owner (as PostgreSQL's RI triggers do).
void raise_horizon(Oid relid) {
    Oid nsp = get_namespace_oid("delta_sync", false);
    Oid registry = get_relname_relid("tracked", nsp);
    if (!OidIsValid(registry)) elog(ERROR, "relation \"delta_sync.tracked\" does not exist");
    HeapTuple classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(registry));
    if (!HeapTupleIsValid(classtup)) elog(ERROR, "relation \"delta_sync.tracked\" does not exist");
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(classtup))->relowner;
    ReleaseSysCache(classtup);

    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
                                      SECURITY_RESTRICTED_OPERATION);
    if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
        elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
    Oid types[2] = {REGCLASSOID, XID8OID};
    Datum values[2] = {ObjectIdGetDatum(relid),
                       FullTransactionIdGetDatum(GetTopFullTransactionId())};
    int rc = SPI_execute_with_args(
        "UPDATE delta_sync.tracked SET horizon = $2 WHERE relid OPERATOR(pg_catalog.=) $1", 2,
        types, values, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE) elog(ERROR, "could not raise the horizon: %s", SPI_result_code_string(rc));
    SPI_finish();
    SetUserIdAndSecContext(save_user, save_sec);
}

Datum after_statement(FunctionCallInfo fcinfo) {
    TriggerData* td = trigger_data(fcinfo, "delta_sync._after_statement");
    if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("function \"delta_sync._after_statement\" must be fired AFTER ... FOR EACH STATEMENT")));
    Relation rel = td->tg_relation;
    // A partition's statement: the tracked table is the top of its tree.
    Oid relid = partition_root(rel);
    if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event)) raise_horizon(relid);
    // NOTIFY is opt-in (delta_sync.set_notify): a writer that notifies takes one cluster-wide
    // lock at commit and holds it through its WAL flush. Preloaded, the notify worker sends it
    // instead; otherwise this transaction does, as before.
    bool notify = table_notifies(relid);
    if (live_preloaded())
        note_table_written(relid, notify);
    else if (notify)
        Async_Notify("delta_sync", quote_qualified_identifier(
                                       get_namespace_name(get_rel_namespace(relid)),
                                       get_rel_name(relid)));
    return PointerGetDatum(nullptr);
}

}  // namespace

void register_trigger_callbacks() {
    CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_changed, 0);
    CacheRegisterRelcacheCallback(shape_relcache_changed, 0);
    CacheRegisterSyscacheCallback(AMOPSTRATEGY, shape_catalog_changed, 0);
    CacheRegisterSyscacheCallback(OPEROID, shape_catalog_changed, 0);
}

}  // namespace delta_sync

// The trigger bodies hold only plain data, so one guard each keeps the boundary rule.
#define DELTA_SYNC_TRIGGER(name, body)                                                      \
    DELTA_SYNC_FUNCTION(name, [](FunctionCallInfo fcinfo) {                                 \
        return delta_sync::pg_guard([&] { return delta_sync::body(fcinfo); });              \
    })

DELTA_SYNC_TRIGGER(delta_sync_stamp, stamp)
DELTA_SYNC_TRIGGER(delta_sync_soft_delete, soft_delete)
DELTA_SYNC_TRIGGER(delta_sync_after_statement, after_statement)
DELTA_SYNC_TRIGGER(delta_sync_tombstone, tombstone)
