// delta_since(tbl, since, max_changes, page_size): the DeltaResponse documents of one table.
//
// How a call works. Everything runs on the statement's active snapshot S: the function is STABLE
// and every SPI query is read-only, so the registry lookup, the threshold, the page scan and the
// returned cursor all see the same database. A row is "changed since P" when the xid that last
// wrote it is not visible in the client's cursor P; rows that S sees and P does not are the delta,
// and the cursor handed back sees what P or S saw, so a transaction that commits late is simply
// not yet visible in S and is delivered by the pull after it commits, never skipped.
//
// The first call validates the arguments, turns S into a cursor, and judges P (another cluster, a
// restored backup, or a cursor from before the table's horizon gets fullResyncRequired). A full
// sync (P is NULL) opens an SPI cursor over the live rows, and each call writes one document from
// it: a page of page_size entries, or everything when no page_size was given, so memory is bounded
// by a page. A delta with max_changes up to 10,000 is read by one query with LIMIT max_changes + 1
// and its pages built in the first call (one row more is the refusal); a larger threshold is
// counted first (the count stops at max_changes + 1) and its pages streamed like a full sync.
//
// The scan belongs to this call alone. It is not an SPI cursor: a portal lives in a table of
// names that any statement of the session can CLOSE, FETCH from or replace. The first call plans
// the query itself and keeps its QueryDesc, with a resource owner of its own for what the open
// query holds (buffer pins, locks, its snapshot). Rows come straight from the executor into the
// document through a DestReceiver that checks their types first. The scan is closed on every exit:
// after the last page, by an ExprContext shutdown callback when the caller stops early (LIMIT, a
// LATERAL rescan, CLOSE of the outer cursor, a WITH HOLD cursor persisted at COMMIT), and by the
// resource owners when the transaction or subtransaction that owns the outer query aborts.
//
// What is kept between calls: per backend and table, what the catalog says of the table (its
// shape, column codecs and prepared scans; see "What a table's shape gives" below). Every call
// still takes the table's lock, checks the caller's privilege and reads the registry row under its
// own snapshot. PostgreSQL's invalidations drop a kept entry, and an open scan holds references
// to its own codecs and plan, so nothing it runs can be freed under it.
#include "boundary.hpp"
#include "cursor.hpp"
#include "record_encoder.hpp"
#include "registry.hpp"
#include "shape.hpp"
#include "snapshot_cursor.hpp"

#include <algorithm>
#include <string>
#include <vector>

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_operator.h"
#include "access/stratnum.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

namespace delta_sync {

namespace {

using Registration = RegistryRow;

constexpr const char* created_xid_column = "delta_sync_created_xid";
constexpr const char* changed_xid_column = "delta_sync_changed_xid";
constexpr const char* deleted_at_column = "deleted_at";
constexpr int buffered_limit = 10000;  // deltas refused above this many rows are read in one query

const char* const cursor_detail =
    "A serverVersion is the opaque cursor returned in the previous delta_since() document of "
    "this server.";
const char* const cursor_hint = "Pass the last serverVersion back unchanged, or NULL for a full sync.";

enum class Bucket { created, updated, deleted };

struct CodecSet;
void release_codecs(CodecSet* set) noexcept;

// Plain data describing the table and the open scan; palloc'd in the SRF's multi-call context.
struct Scan {
    CodecSet* codec_set;   // a reference to the table's cached codecs, released with the state
    ColumnCodec* codecs;   // one per record column, in attribute order (in codec_set)
    Oid* row_types;        // what the query returns: the record columns, then the created xid
    int ncols;             // record columns; the query returns these, then the created xid
    int nkeys;             // columns of the primary key
    int key_indexes[INDEX_MAX_KEYS];  // index into codecs of each, in key order
    int deleted_at_index;  // index into codecs of deleted_at
    int gone_index;        // a shaped scan: the row's boolean "out of the shape now" (else -1)
    bool full_sync;        // since IS NULL: every live row is "created"
    // The open query, or null when there is nothing (more) to scan. Reachable from here only.
    QueryDesc* query;
    CachedPlan* plan;     // the plan the query runs; its reference is held by `owner`
    ResourceOwner owner;  // what the open query holds; a child of the caller's owner
    bool at_end;          // the query has returned its last row: never run it again
};

// Everything that lives across calls. Owned by the multi-call context: a reset callback deletes
// it, on the last call or when the query ends early or fails.
struct DeltaState {
    Scan scan{};
    Cursor since;                 // P (unused on a full sync)
    std::string server_version;   // the cursor handed back (see first_call)
    std::string snapshot_version; // S, the statement's snapshot, encoded
    int page_size = 0;            // 0: one document with everything
    bool resync = false;          // answer with one fullResyncRequired document
    bool done = false;
    long pages = 0;
    Datum* prepared = nullptr;    // pages built by the first call (a small delta), or null
    int n_prepared = 0;
    MemoryContext page_context = nullptr;
    MemoryContextCallback cleanup{};
    ExprContext* shutdown_on = nullptr;  // where close_on_shutdown is registered, or null
};

// The multi-call context goes away: on the last call, on an early stop (after close_on_shutdown
// closed the scan), or on an abort, where the resource owners release what the query held. So
// this frees the C++ state only and never touches the executor.
void delete_state(void* arg) {
    auto* state = static_cast<DeltaState*>(arg);
    release_codecs(state->scan.codec_set);
    delete state;
}

std::string quote_qualified(Oid nsp, const char* rel) {
    const char* q = pg_guard([&] { return quote_qualified_identifier(get_namespace_name(nsp), rel); });
    return q;
}

// What the first call learns about the table from the catalog.
struct TableShape {
    std::string qualified_name;
    std::string only = "ONLY ";  // "" for a partitioned table: its rows are its partitions'
    std::string select_list;
    std::vector<std::string> names;
    std::vector<Oid> types;
    std::vector<Oid> query_types;  // what the scan returns per column (json when via to_json)
    std::vector<JsonKind> kinds;
    // The primary key, in key order: each column's index into names, its name quoted, its btree
    // equality operator, and its column in the tombstone table (key_column_in_tombstones).
    std::vector<int> key_indexes;
    std::vector<std::string> key_columns;
    std::vector<std::string> key_equals;
    std::vector<std::string> key_tombstone_columns;
    int deleted_at_index = -1;
    std::string tombstone_list;     // select_list for a tombstone: the key and deleted_at from ts
    bool has_created_xid = false;
    bool has_changed_xid = false;
    std::vector<std::string> select_items;     // select_list and tombstone_list, column by column
    std::vector<std::string> tombstone_items;
    bool shaped = false;  // restricted to a shape (shaped_table): rows carry a "gone" column
    std::string filter;   // the shape's checked filter over "t" (shape.hpp), "" when none
};

// The tombstone table's column for column k (from 0) of a key of nkeys columns: "key" for a
// single-column key, key_1 ... key_n for a composite one (by position, so renaming a key column
// of the table renames nothing in its tombstone table). track() names them the same way.
std::string key_column_in_tombstones(int k, int nkeys) {
    return nkeys == 1 ? "key" : "key_" + std::to_string(k + 1);
}

struct RawAttr {
    NameData name;
    Oid type;
    AttrNumber attnum;
};

TableShape read_shape(Oid relid) {
    // Copy the attributes out under the guard; build C++ strings afterwards.
    struct Raw {
        Oid nsp;
        NameData relname;
        char relkind;
        int natts;
        RawAttr* attrs;
        int nkeys;  // 0: no usable primary key
        AttrNumber key_attnums[INDEX_MAX_KEYS];
        const char* key_equals[INDEX_MAX_KEYS];
    };
    Raw raw = pg_guard([&] {
        Raw r{};
        Relation rel = try_relation_open(relid, AccessShareLock);
        if (!rel)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                            errmsg("relation with OID %u does not exist", relid)));
        AclResult acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
        if (acl != ACLCHECK_OK)
            aclcheck_error(acl, get_relkind_objtype(rel->rd_rel->relkind),
                           RelationGetRelationName(rel));
        r.nsp = RelationGetNamespace(rel);
        namestrcpy(&r.relname, RelationGetRelationName(rel));
        r.relkind = rel->rd_rel->relkind;
        TupleDesc desc = RelationGetDescr(rel);
        r.attrs = static_cast<RawAttr*>(palloc(sizeof(RawAttr) * (desc->natts + 1)));
        for (int i = 0; i < desc->natts; ++i) {
            Form_pg_attribute a = TupleDescAttr(desc, i);
            if (a->attisdropped) continue;
            RawAttr& out = r.attrs[r.natts++];
            out.name = a->attname;
            out.type = a->atttypid;
            out.attnum = a->attnum;
        }
        Oid pk_index = RelationGetPrimaryKeyIndex(rel);
        r.nkeys = 0;
        if (OidIsValid(pk_index)) {
            Relation idx = index_open(pk_index, AccessShareLock);
            int nkeys = idx->rd_index->indnkeyatts;
            for (int k = 0; k < nkeys; ++k) {
                r.key_attnums[k] = idx->rd_index->indkey.values[k];
                r.key_equals[k] = nullptr;
                Oid op = get_opfamily_member(idx->rd_opfamily[k], idx->rd_opcintype[k],
                                             idx->rd_opcintype[k], BTEqualStrategyNumber);
                HeapTuple optup = OidIsValid(op) ? SearchSysCache1(OPEROID, ObjectIdGetDatum(op))
                                                 : nullptr;
                if (HeapTupleIsValid(optup)) {
                    auto* form = reinterpret_cast<Form_pg_operator>(GETSTRUCT(optup));
                    r.key_equals[k] = psprintf("OPERATOR(%s.%s)",
                                               quote_identifier(get_namespace_name(form->oprnamespace)),
                                               NameStr(form->oprname));
                    ReleaseSysCache(optup);
                }
            }
            // An expression in the key (indkey 0) cannot be a primary key's; be sure anyway.
            bool plain = nkeys >= 1;
            for (int k = 0; k < nkeys; ++k) plain = plain && r.key_attnums[k] != InvalidAttrNumber;
            if (plain) r.nkeys = nkeys;
            index_close(idx, AccessShareLock);
        }
        relation_close(rel, NoLock);  // keep the lock: the table must not change under the scan
        return r;
    });

    TableShape shape;
    shape.qualified_name = quote_qualified(raw.nsp, NameStr(raw.relname));
    if (raw.relkind != RELKIND_RELATION && raw.relkind != RELKIND_PARTITIONED_TABLE)
        throw SqlError(ERRCODE_WRONG_OBJECT_TYPE,
                       ("\"" + std::string(NameStr(raw.relname)) + "\" is not an ordinary table")
                           .c_str());
    if (raw.relkind == RELKIND_PARTITIONED_TABLE) shape.only.clear();
    std::vector<int> key_at(raw.nkeys, -1);
    std::vector<std::string> key_quoted(raw.nkeys);
    for (int i = 0; i < raw.natts; ++i) {
        const RawAttr& a = raw.attrs[i];
        std::string name = NameStr(a.name);
        if (name == created_xid_column) {
            shape.has_created_xid = a.type == XID8OID;
            continue;
        }
        if (name == changed_xid_column) {
            shape.has_changed_xid = a.type == XID8OID;
            continue;
        }
        bool via_sql = false;
        JsonKind kind = pg_guard([&] { return json_kind_of(a.type, via_sql); });
        std::string quoted = pg_guard([&] { return quote_identifier(NameStr(a.name)); });  // copied after the guard
        if (!shape.select_list.empty()) shape.select_list += ", ";
        if (!shape.tombstone_list.empty()) shape.tombstone_list += ", ";
        std::string column = via_sql ? "pg_catalog.to_json(t." + quoted + ")" : "t." + quoted;
        shape.select_list += column;
        for (int k = 0; k < raw.nkeys; ++k) {
            if (a.attnum != raw.key_attnums[k]) continue;
            key_at[k] = static_cast<int>(shape.names.size());
            key_quoted[k] = quoted;
            std::string ts_column = "ts." + key_column_in_tombstones(k, raw.nkeys);
            column = via_sql ? "pg_catalog.to_json(" + ts_column + ")" : ts_column;
        }
        if (name == deleted_at_column && a.type == TIMESTAMPTZOID) {
            shape.deleted_at_index = static_cast<int>(shape.names.size());
            column = "ts." + std::string(deleted_at_column);
        }
        shape.tombstone_list += column;
        shape.select_items.push_back(via_sql ? "pg_catalog.to_json(t." + quoted + ")" : "t." + quoted);
        shape.tombstone_items.push_back(column);
        shape.names.push_back(std::move(name));
        shape.types.push_back(a.type);
        shape.query_types.push_back(via_sql ? JSONOID : a.type);
        shape.kinds.push_back(kind);
    }
    // Every key column must be a record column (not one of the internal ones): else no key.
    for (int k = 0; k < raw.nkeys; ++k)
        if (key_at[k] < 0) return shape;
    for (int k = 0; k < raw.nkeys; ++k) {
        shape.key_indexes.push_back(key_at[k]);
        shape.key_columns.push_back(key_quoted[k]);
        shape.key_equals.push_back(raw.key_equals[k] ? raw.key_equals[k] : "OPERATOR(pg_catalog.=)");
        shape.key_tombstone_columns.push_back(key_column_in_tombstones(k, raw.nkeys));
    }
    return shape;
}

// The table as a shape sees it (shape.hpp): the chosen columns only, and its filter.
TableShape shaped_table(const TableShape& table, const ShapeSpec& spec) {
    TableShape shape = table;
    shape.shaped = true;
    shape.filter = spec.filter;
    if (spec.all_columns) return shape;
    shape.select_list.clear();
    shape.tombstone_list.clear();
    shape.names.clear();
    shape.types.clear();
    shape.query_types.clear();
    shape.kinds.clear();
    shape.select_items.clear();
    shape.tombstone_items.clear();
    shape.deleted_at_index = -1;
    // Every key column is among the shape's (read_shape_arguments), so each has its new index.
    shape.key_indexes.assign(table.key_indexes.size(), -1);
    for (std::size_t i = 0; i < table.names.size(); ++i) {
        if (std::find(spec.columns.begin(), spec.columns.end(), table.names[i]) == spec.columns.end())
            continue;
        int at = static_cast<int>(shape.names.size());
        for (std::size_t k = 0; k < table.key_indexes.size(); ++k)
            if (static_cast<int>(i) == table.key_indexes[k]) shape.key_indexes[k] = at;
        if (static_cast<int>(i) == table.deleted_at_index) shape.deleted_at_index = at;
        shape.select_list += (at ? ", " : "") + table.select_items[i];
        shape.tombstone_list += (at ? ", " : "") + table.tombstone_items[i];
        shape.names.push_back(table.names[i]);
        shape.types.push_back(table.types[i]);
        shape.query_types.push_back(table.query_types[i]);
        shape.kinds.push_back(table.kinds[i]);
        shape.select_items.push_back(table.select_items[i]);
        shape.tombstone_items.push_back(table.tombstone_items[i]);
    }
    return shape;
}

// The table's name as an SQL string literal, for hints that show SQL to run.
std::string sql_literal(const std::string& qualified_name) {
    const char* q = pg_guard([&] { return quote_literal_cstr(qualified_name.c_str()); });
    return q;
}

[[noreturn]] void not_tracked(const std::string& table) {
    std::string msg = "table \"" + table + "\" is not tracked by delta_sync";
    std::string hint =
        "Start tracking it with SELECT delta_sync.track(" + sql_literal(table) + ").";
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg.c_str(), nullptr, hint.c_str());
}

// A registered table that lost what tracking gave it (ALTER TABLE after track()).
void check_tracked_shape(const TableShape& shape) {
    if (!shape.key_indexes.empty() && shape.deleted_at_index >= 0 && shape.has_created_xid &&
        shape.has_changed_xid)
        return;
    const std::string& table = shape.qualified_name;
    std::string literal = sql_literal(table);
    std::string retrack = "Untrack the table and track it again with SELECT delta_sync.untrack(" +
                          literal + ") and SELECT delta_sync.track(" + literal + ").";
    if (shape.key_indexes.empty()) {
        std::string msg = "tracked table \"" + table + "\" no longer has a primary key";
        std::string hint = "Add a primary key back, or stop tracking the table with "
                           "SELECT delta_sync.untrack(" + literal + ").";
        throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg.c_str(),
                       "Rows of a tracked table are identified by their primary key.", hint.c_str());
    }
    const char* missing = nullptr;
    const char* type = "xid8";
    if (shape.deleted_at_index < 0) {
        missing = deleted_at_column;
        type = "timestamptz";
    } else if (!shape.has_created_xid) {
        missing = created_xid_column;
    } else if (!shape.has_changed_xid) {
        missing = changed_xid_column;
    }
    if (!missing) return;
    std::string msg = "tracked table \"" + table + "\" has no column \"" + missing + "\" of type " +
                      type + ", which delta_sync needs";
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg.c_str(),
                   "The column was dropped or changed after tracking started.", retrack.c_str());
}

// The tombstone table has the key columns track() gives it for the table's primary key (key, or
// key_1 ... key_n, of the key columns' types, and no more): a key replaced since needs track()
// again, which replaces the tombstone table.
void check_tombstones_fit(Oid tombstones, const TableShape& shape) {
    int n = static_cast<int>(shape.key_indexes.size());
    std::vector<const char*> names;
    for (const std::string& name : shape.key_tombstone_columns) names.push_back(name.c_str());
    // One column past the key (key_{n+1}, or key_1 beside a single column's key) must be absent.
    std::string past = n == 1 ? std::string("key_1") : "key_" + std::to_string(n + 1);
    const char* past_name = past.c_str();
    const char* const* key_names = names.data();
    const int* key_indexes = shape.key_indexes.data();
    const Oid* types = shape.types.data();
    bool fit = pg_guard([&] {
        for (int k = 0; k < n; ++k) {
            AttrNumber att = get_attnum(tombstones, key_names[k]);
            if (att == InvalidAttrNumber || get_atttype(tombstones, att) != types[key_indexes[k]])
                return false;
        }
        return get_attnum(tombstones, past_name) == InvalidAttrNumber;
    });
    if (fit) return;
    std::string msg = "the tombstone table of tracked table \"" + shape.qualified_name +
                      "\" does not fit its primary key";
    std::string hint = "Track the table again with SELECT delta_sync.track(" +
                       sql_literal(shape.qualified_name) + "), which replaces the tombstone table.";
    throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg.c_str(),
                   "The table's primary key was replaced after tracking started.", hint.c_str());
}

Registration read_registration(Oid relid) {
    return pg_guard([&] { return read_registry_row(relid); });
}

std::string snapshot_text(const Cursor& c) {
    std::string s = std::to_string(c.xmin) + ":" + std::to_string(c.xmax) + ":";
    for (std::size_t i = 0; i < c.xip.size(); ++i) {
        if (i) s += ",";
        s += std::to_string(c.xip[i]);
    }
    return s;
}

// Whether row t is in the table's (shape's) copy now: live, and matching the shape's filter.
// A row changed since P that is not is reported deleted, when P saw it created.
std::string in_shape(const TableShape& shape) {
    std::string live = std::string("t.") + deleted_at_column + " IS NULL";
    if (shape.filter.empty()) return live;
    return "(" + live + " AND (" + shape.filter + ") IS TRUE)";
}

// The WHERE clause of "changed since P, as the client must hear of it": $1 = P.xmin (xid8),
// $2 = P as a pg_snapshot (a parameter of that type, not text cast in the query: a generic plan
// would parse the text again for every row), $3 = our own xid (xid8, 0 when none), $4 = the largest xid8 (a bound
// every row meets: it is there for the planner, see plan_for). Operators are qualified so that no
// search_path can substitute its own.
std::string delta_predicate(const TableShape& shape) {
    return std::string("t.") + changed_xid_column + " OPERATOR(pg_catalog.>=) $1" + " AND t." +
           changed_xid_column + " OPERATOR(pg_catalog.<=) $4" +
           " AND NOT pg_catalog.pg_visible_in_snapshot(t." + changed_xid_column +
           ", $2)" + " AND t." + changed_xid_column +
           " OPERATOR(pg_catalog.<>) $3" + " AND (" + in_shape(shape) +
           " OR pg_catalog.pg_visible_in_snapshot(t." + created_xid_column +
           ", $2))";
}

// The tombstones a delta reports (hard-delete mode): deletions P does not see, of keys P saw
// created, and not superseded by a row of the table with the same key (a key inserted again after
// its deletion is that row's to report, as created or updated, never deleted). The same key as
// clients see it: equal under the key's equality (through the primary key index) and spelled the
// same ('1.0' and '1.00' are equal numerics but different keys to a client).
std::string tombstone_predicate(const TableShape& shape) {
    std::string same_key;
    for (std::size_t k = 0; k < shape.key_columns.size(); ++k) {
        std::string x = "x." + shape.key_columns[k];
        std::string ts = "ts." + shape.key_tombstone_columns[k];
        same_key += (k ? " AND " : "") + x + " " + shape.key_equals[k] + " " + ts + " AND " + x +
                    "::pg_catalog.text OPERATOR(pg_catalog.=) " + ts + "::pg_catalog.text";
    }
    return std::string("ts.") + changed_xid_column + " OPERATOR(pg_catalog.>=) $1" +
           " AND NOT pg_catalog.pg_visible_in_snapshot(ts." + changed_xid_column +
           ", $2::pg_catalog.pg_snapshot) AND ts." + changed_xid_column +
           " OPERATOR(pg_catalog.<>) $3 AND pg_catalog.pg_visible_in_snapshot(ts." +
           created_xid_column + ", $2::pg_catalog.pg_snapshot) AND NOT EXISTS (SELECT 1 FROM " +
           shape.only + shape.qualified_name + " x WHERE " + same_key + ")";
}

enum class DeltaRows { records, count, tombstones_only };

// The one query text of a delta's rows: the table's changed rows, then its tombstones (when it
// has a tombstone table), both with the record's columns (a tombstone's are null but for its key
// and deleted_at, so the receiver files it under "deleted"), then the created xid.
std::string delta_rows_sql(const TableShape& shape, const std::string& tombstones, DeltaRows what) {
    bool records = what == DeltaRows::records;
    std::string sql;
    // A shaped scan says of each row whether it left the shape (a tombstone always has).
    std::string gone = shape.shaped ? ", NOT " + in_shape(shape) : "";
    if (what != DeltaRows::tombstones_only)
        sql = "SELECT " + (records ? shape.select_list + ", t." + created_xid_column + gone : "1") +
              " FROM " + shape.only + shape.qualified_name + " t WHERE " + delta_predicate(shape);
    if (tombstones.empty()) return sql;
    if (!sql.empty()) sql += " UNION ALL ";
    gone = shape.shaped ? ", true" : "";
    sql += "SELECT " + (records ? shape.tombstone_list + ", ts." + created_xid_column + gone : "1") +
           " FROM " + tombstones + " ts" +
           (records ? " LEFT JOIN " + shape.only + shape.qualified_name + " t ON false" : "") +
           " WHERE " + tombstone_predicate(shape);
    return sql;
}

std::string full_predicate(const TableShape& shape) {
    return std::string("t.") + deleted_at_column + " IS NULL AND t." + changed_xid_column +
           " OPERATOR(pg_catalog.<>) $3" + (shape.filter.empty() ? "" : " AND (" + shape.filter + ")");
}

// The parameters of every query of a call: $1-$4 as delta_predicate() says, $5 the LIMIT of the
// scan (int8; NULL: no limit).
constexpr int n_params = 5;
struct QueryArgs {
    Oid types[n_params] = {XID8OID, PG_SNAPSHOTOID, XID8OID, XID8OID, INT8OID};
    Datum values[n_params] = {};
    char nulls[n_params] = {' ', ' ', ' ', ' ', 'n'};
};

// The scan's query: the record columns, then the created xid, of the live rows (a full sync) or
// of the rows changed since P and the tombstones P has not seen (delta_rows_sql). Every query text that reads a table's rows is built here, so a
// change of the query reaches the plan cache below through its text alone.
std::string scan_sql(const TableShape& shape, bool full_sync, const std::string& tombstones) {
    if (full_sync)
        return "SELECT " + shape.select_list + ", t." + created_xid_column +
               (shape.shaped ? ", false" : "") + " FROM " + shape.only + shape.qualified_name +
               " t WHERE " + full_predicate(shape) + " LIMIT $5";
    return delta_rows_sql(shape, tombstones, DeltaRows::records) + " LIMIT $5";
}

// Counts changed rows, stopping at limit: a huge delta costs no more to refuse than a small one.
long count_changes(const TableShape& shape, const std::string& tombstones, QueryArgs& args,
                   long limit, DeltaRows what = DeltaRows::count) {
    std::string sql = "SELECT pg_catalog.count(*) FROM (" +
                      delta_rows_sql(shape, tombstones, what) + " LIMIT " +
                      std::to_string(limit) + ") s";
    return pg_guard([&] {
        int rc = SPI_execute_with_args(sql.c_str(), n_params, args.types, args.values, args.nulls,
                                       true, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "could not count the changed rows: %s", SPI_result_code_string(rc));
        bool isnull;
        return static_cast<long>(DatumGetInt64(
            SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
    });
}

// Did this transaction rewrite or soft-delete rows that existed before it?
bool rewrote_existing_rows(const std::string& table, const std::string& tombstones,
                           std::uint64_t own_xid) {
    std::string sql = "SELECT 1 FROM " + table + " t WHERE t." + changed_xid_column +
                      " OPERATOR(pg_catalog.=) $1 AND t." + created_xid_column +
                      " OPERATOR(pg_catalog.<>) $1";
    if (!tombstones.empty())
        sql += " UNION ALL SELECT 1 FROM " + tombstones + " ts WHERE ts." + changed_xid_column +
               " OPERATOR(pg_catalog.=) $1 AND ts." + created_xid_column +
               " OPERATOR(pg_catalog.<>) $1";
    sql += " LIMIT 1";
    return pg_guard([&] {
        Oid types[1] = {XID8OID};
        Datum values[1] = {UInt64GetDatum(own_xid)};
        int rc = SPI_execute_with_args(sql.c_str(), 1, types, values, nullptr, true, 1);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "could not look for rows this transaction rewrote: %s", SPI_result_code_string(rc));
        return SPI_processed > 0;
    });
}

// Takes the table's lock (receiving the invalidations of what committed before it) and checks the
// caller's privilege: on every call, cached or not.
void open_table(Oid relid) {
    pg_guard([&] {
        Relation rel = try_relation_open(relid, AccessShareLock);
        if (!rel)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                            errmsg("relation with OID %u does not exist", relid)));
        AclResult acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
        if (acl != ACLCHECK_OK)
            aclcheck_error(acl, get_relkind_objtype(rel->rd_rel->relkind),
                           RelationGetRelationName(rel));
        if (rel->rd_rel->relkind != RELKIND_RELATION &&
            rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
            ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                            errmsg("\"%s\" is not an ordinary table", RelationGetRelationName(rel))));
        relation_close(rel, NoLock);  // keep the lock: the table must not change under the scan
    });
}

// ---------------------------------------------------------------------------------------------
// What a table's shape gives, kept per backend: the shape itself, the column codecs and the
// prepared scan statements. Each call still opens the table (its lock, the caller's privilege)
// and reads the registry row; what is cached is only what the catalog says about the table.
//
// An entry is dropped when PostgreSQL says its catalog rows changed: a relcache invalidation of
// the table (ALTER TABLE of any kind, RENAME, DROP, policies, indexes, and the same for every
// relation when the whole relcache is reset), or a syscache invalidation of pg_type, pg_namespace
// or pg_proc (a renamed schema, a changed type, a replaced output function: these reach every
// entry). The callbacks run for this backend's own changes at the next command of the same
// transaction, and for other sessions' at commit, before the table's lock can be had: a changed
// table is never read with a stale shape. Callbacks only mark entries stale; the next look-up
// drops them, unless a call is still using one (pinned), and rebuilds.
//
// Nothing a scan keeps points into an entry: its codecs are a reference-counted CodecSet (the
// entry holds one reference, each open scan another, released when the scan's state goes, on
// every path), and its plan is a CachedPlan whose reference the scan's resource owner holds.
// The statements are CachedPlanSources, which PostgreSQL revalidates itself on every use (the
// relations' invalidations, search_path, and the user and row_security setting when row-level
// security applies to the query), so a plan made under one role is never used under another.

struct CodecSet {
    MemoryContext context;  // everything below, and the first codec's scratch context
    int refs;               // the entry's reference and one per open scan
    ColumnCodec* codecs;    // one per record column
    Oid* row_types;         // what the scan returns: the record columns, then the created xid
};

void release_codecs(CodecSet* set) noexcept {
    if (set && --set->refs == 0) MemoryContextDelete(set->context);
}

enum PlanKind { full_plan, small_delta_plan, large_delta_plan, n_plan_kinds };

struct TableEntry {
    bool valid = true;      // no invalidation reached it since it was built
    bool complete = false;  // built to the end (an error while building leaves it incomplete)
    int pins = 0;           // calls using it now: never dropped while pinned
    TableShape* shape = nullptr;
    CodecSet* codecs = nullptr;
    // Unshaped plans, then one per kind for the last shape used (a shape's query is its own).
    CachedPlanSource* plans[2 * n_plan_kinds] = {};
    std::string plan_sql[2 * n_plan_kinds];  // the query each plan was made from
};

struct CacheSlot {
    Oid relid;  // the hash key
    TableEntry* entry;
};

HTAB* table_cache = nullptr;
std::vector<TableEntry*>* retired = nullptr;  // stale entries still pinned, dropped when free

void mark_all_stale() noexcept {
    if (!table_cache) return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, table_cache);
    while (auto* slot = static_cast<CacheSlot*>(hash_seq_search(&status)))
        slot->entry->valid = false;
}

void relation_changed(Datum, Oid relid) noexcept {
    if (!table_cache) return;
    if (!OidIsValid(relid)) {
        mark_all_stale();
        return;
    }
    auto* slot = static_cast<CacheSlot*>(hash_search(table_cache, &relid, HASH_FIND, nullptr));
    if (slot) slot->entry->valid = false;
}

void catalog_changed(Datum, int, uint32) noexcept { mark_all_stale(); }

// Frees an entry no call is using.
void drop_entry(TableEntry* e) {
    pg_guard([&] {
        for (CachedPlanSource*& plan : e->plans) {
            CachedPlanSource* p = plan;
            plan = nullptr;
            if (p) DropCachedPlan(p);  // a scan running its plan holds that CachedPlan itself
        }
        CodecSet* set = e->codecs;
        e->codecs = nullptr;
        release_codecs(set);
    });
    delete e->shape;
    delete e;
}

// Takes every stale entry out of the cache (those of dropped tables, too) and frees those that
// no call is using; the others wait in `retired` for a later sweep.
void sweep_stale() {
    std::vector<Oid> stale;
    pg_guard([&] {
        HASH_SEQ_STATUS status;
        hash_seq_init(&status, table_cache);
        while (auto* slot = static_cast<CacheSlot*>(hash_seq_search(&status)))
            if (!slot->entry->valid || !slot->entry->complete) stale.push_back(slot->relid);
    });
    if (!retired) retired = new std::vector<TableEntry*>();
    for (Oid relid : stale) {
        TableEntry* e = pg_guard([&] {
            auto* slot =
                static_cast<CacheSlot*>(hash_search(table_cache, &relid, HASH_REMOVE, nullptr));
            return slot ? slot->entry : nullptr;
        });
        if (e) retired->push_back(e);
    }
    std::vector<TableEntry*> keep;
    std::vector<TableEntry*> free;
    for (TableEntry* e : *retired) (e->pins > 0 ? keep : free).push_back(e);
    retired->swap(keep);
    for (TableEntry* e : free) drop_entry(e);
}

CodecSet* build_codecs(const TableShape& shape) {
    return pg_guard([&] {
        MemoryContext context =
            AllocSetContextCreate(CacheMemoryContext, "delta_since codecs", ALLOCSET_SMALL_SIZES);
        MemoryContext old = MemoryContextSwitchTo(context);
        int ncols = static_cast<int>(shape.names.size());
        auto* set = static_cast<CodecSet*>(palloc0(sizeof(CodecSet)));
        set->context = context;
        set->refs = 1;
        set->codecs = static_cast<ColumnCodec*>(palloc0(sizeof(ColumnCodec) * (ncols + 1)));
        set->row_types = static_cast<Oid*>(palloc(sizeof(Oid) * (ncols + 2)));
        PG_TRY();
        {
            for (int i = 0; i < ncols; ++i) {
                init_codec(set->codecs[i], shape.names[i].c_str(), shape.types[i], shape.kinds[i],
                           i == 0);
                set->row_types[i] = shape.query_types[i];
            }
        }
        PG_CATCH();
        {
            MemoryContextSwitchTo(old);
            MemoryContextDelete(context);
            PG_RE_THROW();
        }
        PG_END_TRY();
        set->row_types[ncols] = XID8OID;
        set->row_types[ncols + 1] = BOOLOID;  // a shaped scan's "gone" column
        MemoryContextSwitchTo(old);
        return set;
    });
}

// A call's hold on an entry: released on every way out of the call's first step.
struct PinnedEntry {
    TableEntry* entry = nullptr;
    PinnedEntry() = default;
    PinnedEntry(const PinnedEntry&) = delete;
    PinnedEntry& operator=(const PinnedEntry&) = delete;
    ~PinnedEntry() {
        if (entry) --entry->pins;
    }
};

// The entry of a table whose lock the caller holds (so the invalidations of its committed
// changes have been received), built when missing or stale, and pinned for the caller.
void table_entry(Oid relid, PinnedEntry& pin) {
    static bool callbacks = false;
    pg_guard([&] {
        if (!table_cache) {
            HASHCTL ctl{};
            ctl.keysize = sizeof(Oid);
            ctl.entrysize = sizeof(CacheSlot);
            ctl.hcxt = CacheMemoryContext;
            table_cache = hash_create("delta_since tables", 16, &ctl,
                                      HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
        }
        if (!callbacks) {
            CacheRegisterRelcacheCallback(relation_changed, 0);
            CacheRegisterSyscacheCallback(TYPEOID, catalog_changed, 0);
            CacheRegisterSyscacheCallback(NAMESPACEOID, catalog_changed, 0);
            CacheRegisterSyscacheCallback(PROCOID, catalog_changed, 0);
            callbacks = true;
        }
    });
    auto* slot = pg_guard([&] {
        return static_cast<CacheSlot*>(hash_search(table_cache, &relid, HASH_FIND, nullptr));
    });
    if (slot && slot->entry->valid && slot->entry->complete) {
        ++slot->entry->pins;
        pin.entry = slot->entry;
        return;
    }
    sweep_stale();  // takes this table's stale entry out, too
    auto* e = new TableEntry();
    pg_guard([&] {
        bool found;
        auto* s = static_cast<CacheSlot*>(hash_search(table_cache, &relid, HASH_ENTER, &found));
        s->entry = e;  // from now on an invalidation marks it stale
    });
    ++e->pins;
    pin.entry = e;
    e->shape = new TableShape(read_shape(relid));
    e->codecs = build_codecs(*e->shape);
    e->complete = true;  // used by this call even if an invalidation came meanwhile
}

// The prepared statement of one kind of scan of the entry's table, made on first use.
// A small delta (read whole, at most 10,001 rows) runs the generic plan, planned once: no
// parameter would change its plan but the bounds of the changed xid, and with those unknown the
// planner takes `$1 <= changed_xid <= $4` for a narrow range and reads it through the table's
// index on that column, which is what a delta of at most that many rows wants ($4 is the largest
// xid8: the bound is for the planner and leaves no row out). A large delta is planned for its
// parameters on every call (the index or a sequential scan, as its size calls for). A full sync
// reads every live row: one plan for all.
CachedPlanSource* plan_for(TableEntry* e, const TableShape& shape, PlanKind kind,
                           const std::string& tombstones) {
    // The tombstone table is named per call from the registry (and left out for a role that may
    // not read it), and a shape is the call's: a plan made for another query is made again. A
    // scan running the old plan holds its CachedPlan itself, as in drop_entry().
    std::string sql = scan_sql(shape, kind == full_plan, tombstones);
    int slot = kind + (shape.shaped ? n_plan_kinds : 0);
    if (e->plans[slot] && e->plan_sql[slot] == sql) return e->plans[slot];
    if (CachedPlanSource* old = e->plans[slot]) {
        e->plans[slot] = nullptr;
        pg_guard([&] { DropCachedPlan(old); });
    }
    e->plan_sql[slot] = sql;
    QueryArgs args;
    int options = kind == large_delta_plan ? CURSOR_OPT_CUSTOM_PLAN : CURSOR_OPT_GENERIC_PLAN;
    e->plans[slot] = pg_guard([&] {
        MemoryContext work = AllocSetContextCreate(CurrentMemoryContext, "delta_since prepare",
                                                   ALLOCSET_DEFAULT_SIZES);
        MemoryContext old = MemoryContextSwitchTo(work);
        CachedPlanSource* volatile source = nullptr;
        PG_TRY();
        {
            const char* text = sql.c_str();
            List* raw = raw_parser(text, RAW_PARSE_DEFAULT);
            RawStmt* stmt = linitial_node(RawStmt, raw);
            CachedPlanSource* ps = CreateCachedPlan(stmt, text, CMDTAG_SELECT);
            List* analyzed =
                pg_analyze_and_rewrite_fixedparams(stmt, text, args.types, n_params, nullptr);
            CompleteCachedPlan(ps, analyzed, nullptr, args.types, n_params, nullptr, nullptr,
                               options, true);
            SaveCachedPlan(ps);  // now a child of CacheMemoryContext, revalidated by PostgreSQL
            source = ps;
        }
        PG_FINALLY();
        {
            MemoryContextSwitchTo(old);
            MemoryContextDelete(work);
        }
        PG_END_TRY();
        return static_cast<CachedPlanSource*>(source);
    });
    return e->plans[slot];
}

// ---------------------------------------------------------------------------------------------

// One DeltaResponse document, written straight into a text datum: the varlena header is reserved
// up front so the buffer becomes the result without a copy.
struct Document {
    StringInfoData created, updated, deleted;
    int n_created, n_updated, n_deleted;
};

void append_entry(StringInfo buf, int& count) {
    if (count++ > 0) appendStringInfoChar(buf, ',');
}

// Receives the scan's rows from the executor and writes each into the document's bucket.
struct RowReceiver {
    DestReceiver dest;  // first member: the executor sees only this
    const Scan* scan;
    const Cursor* since;
    Document* doc;
    MemoryContext page_context;
    long rows;
};

// The executor calls these from C: PostgreSQL errors only, no C++ exceptions, no destructors.
void check_row_type(DestReceiver* self, int, TupleDesc desc) noexcept {
    const Scan& scan = *reinterpret_cast<RowReceiver*>(self)->scan;
    bool same = desc->natts == scan.ncols + 1 + (scan.gone_index >= 0 ? 1 : 0);
    for (int i = 0; same && i < desc->natts; ++i)
        same = TupleDescAttr(desc, i)->atttypid == scan.row_types[i];
    if (!same)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("the table's columns changed while delta_since was reading it")));
}

bool receive_row(TupleTableSlot* slot, DestReceiver* self) noexcept {
    auto* r = reinterpret_cast<RowReceiver*>(self);
    const Scan& scan = *r->scan;
    Document& doc = *r->doc;
    slot_getallattrs(slot);
    const Datum* values = slot->tts_values;
    const bool* nulls = slot->tts_isnull;
    MemoryContext old = MemoryContextSwitchTo(r->page_context);
    Bucket bucket = Bucket::created;
    if (!scan.full_sync) {
        if (scan.gone_index >= 0 ? DatumGetBool(values[scan.gone_index])
                                 : !nulls[scan.deleted_at_index])
            bucket = Bucket::deleted;
        else {
            std::uint64_t created_xid = nulls[scan.ncols] ? 0 : DatumGetUInt64(values[scan.ncols]);
            bucket = r->since->sees(created_xid) ? Bucket::updated : Bucket::created;
        }
    }
    if (bucket == Bucket::deleted) {
        append_entry(&doc.deleted, doc.n_deleted);
        if (scan.nkeys == 1)
            append_key(&doc.deleted, scan.codecs, scan.key_indexes[0], values[scan.key_indexes[0]]);
        else
            append_composite_key(&doc.deleted, scan.codecs, scan.key_indexes, scan.nkeys, values);
    } else if (bucket == Bucket::updated) {
        append_entry(&doc.updated, doc.n_updated);
        append_record_values(&doc.updated, scan.codecs, scan.ncols, values, nulls);
    } else {
        append_entry(&doc.created, doc.n_created);
        append_record_values(&doc.created, scan.codecs, scan.ncols, values, nulls);
    }
    MemoryContextSwitchTo(old);
    ++r->rows;
    return true;
}

void receiver_nothing(DestReceiver*) noexcept {}

// Starts the scan's prepared statement, in a child of `multi` and under a resource owner of its
// own, which holds the reference to the plan too. Called inside pg_guard().
void open_scan(Scan& scan, CachedPlanSource* source, QueryArgs& args, MemoryContext multi) {
    MemoryContext context =
        AllocSetContextCreate(multi, "delta_since scan", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(context);
    char* query_string = pstrdup(source->query_string);  // the source may go before the scan
    ParamListInfo params = makeParamList(n_params);
    for (int i = 0; i < n_params; ++i) {
        ParamExternData& p = params->params[i];
        p.ptype = args.types[i];
        p.isnull = args.nulls[i] == 'n';
        p.pflags = PARAM_FLAG_CONST;
        int16 len;
        bool byval;
        get_typlenbyval(args.types[i], &len, &byval);
        p.value = p.isnull ? 0 : datumCopy(args.values[i], byval, len);
    }
    auto* receiver = static_cast<RowReceiver*>(palloc0(sizeof(RowReceiver)));
    receiver->dest.receiveSlot = receive_row;
    receiver->dest.rStartup = check_row_type;
    receiver->dest.rShutdown = receiver_nothing;
    receiver->dest.rDestroy = receiver_nothing;
    receiver->dest.mydest = DestNone;
    receiver->scan = &scan;
    ResourceOwner caller = CurrentResourceOwner;
    ResourceOwner owner = ResourceOwnerCreate(caller, "delta_since scan");
    QueryDesc* volatile query = nullptr;
    CachedPlan* plan = GetCachedPlan(source, params, owner, nullptr);
    scan.plan = plan;
    scan.owner = owner;  // should what follows fail, close_scan() is not called: the owner's
                         // parent releases the plan and the rest on the abort
    if (list_length(plan->stmt_list) != 1)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("the table's rules changed what delta_since reads")));
    CurrentResourceOwner = owner;  // the query's snapshot is registered with it, too
    PG_TRY();
    {
        query = CreateQueryDesc(linitial_node(PlannedStmt, plan->stmt_list), query_string,
                                GetActiveSnapshot(), InvalidSnapshot, &receiver->dest, params,
                                nullptr, 0);
        ExecutorStart(query, 0);
    }
    PG_FINALLY();
    {
        CurrentResourceOwner = caller;
    }
    PG_END_TRY();
    scan.query = query;
    scan.owner = owner;
    scan.at_end = false;
    MemoryContextSwitchTo(old);
}

// Reads up to `limit` rows (0: all) from the scan into the document. Returns rows read.
// Called inside pg_guard().
long fill_document(Document& doc, Scan& scan, const Cursor& since, long limit,
                   MemoryContext page_context) {
    if (!scan.query || scan.at_end) return 0;
    auto* receiver = reinterpret_cast<RowReceiver*>(scan.query->dest);
    receiver->since = &since;
    receiver->doc = &doc;
    receiver->page_context = page_context;
    receiver->rows = 0;
    ResourceOwner caller = CurrentResourceOwner;
    CurrentResourceOwner = scan.owner;
    PG_TRY();
    {
        PushActiveSnapshot(scan.query->estate->es_snapshot);
        ExecutorRun(scan.query, ForwardScanDirection, static_cast<uint64>(limit), false);
        PopActiveSnapshot();
    }
    PG_FINALLY();
    {
        CurrentResourceOwner = caller;
    }
    PG_END_TRY();
    long rows = receiver->rows;
    if (limit == 0 || rows < limit) scan.at_end = true;
    return rows;
}

// Ends the scan's query and releases what it held. Locks go to the caller's owner: they are kept
// to the end of the transaction, as every lock a query takes. Called inside pg_guard() or from C.
void close_scan(Scan& scan) {
    QueryDesc* query = scan.query;
    ResourceOwner owner = scan.owner;
    CachedPlan* plan = scan.plan;
    if (!query) return;
    scan.query = nullptr;  // never ended twice, whatever happens below
    scan.owner = nullptr;
    scan.plan = nullptr;
    ResourceOwner caller = CurrentResourceOwner;
    CurrentResourceOwner = owner;
    PG_TRY();
    {
        ExecutorFinish(query);
        ExecutorEnd(query);
        FreeQueryDesc(query);
        ReleaseCachedPlan(plan, owner);
    }
    PG_FINALLY();
    {
        CurrentResourceOwner = caller;
    }
    PG_END_TRY();
    ResourceOwnerRelease(owner, RESOURCE_RELEASE_BEFORE_LOCKS, true, false);
    ResourceOwnerRelease(owner, RESOURCE_RELEASE_LOCKS, true, false);
    ResourceOwnerRelease(owner, RESOURCE_RELEASE_AFTER_LOCKS, true, false);
    ResourceOwnerDelete(owner);
}

// The caller stopped before the last page (LIMIT, a rescan, the outer cursor closed or persisted):
// the outer executor shuts down our ExprContext. Called by PostgreSQL, never on an abort.
void close_on_shutdown(Datum arg) {
    auto* state = reinterpret_cast<DeltaState*>(DatumGetPointer(arg));
    state->shutdown_on = nullptr;
    close_scan(state->scan);
}

// start_document() and finish_document() call PostgreSQL: run them inside pg_guard().
Datum finish_document(Document& doc, const std::string& server_version, bool resync) {
    StringInfo out = &doc.created;
    {
        appendStringInfoString(out, "],\"updated\":[");
        appendBinaryStringInfo(out, doc.updated.data, doc.updated.len);
        appendStringInfoString(out, "],\"deleted\":[");
        appendBinaryStringInfo(out, doc.deleted.data, doc.deleted.len);
        appendStringInfoString(out, "],\"serverVersion\":\"");
        appendBinaryStringInfo(out, server_version.data(), static_cast<int>(server_version.size()));
        appendStringInfoString(out, resync ? "\",\"fullResyncRequired\":true}"
                                           : "\",\"fullResyncRequired\":false}");
        SET_VARSIZE(out->data, out->len);
        return PointerGetDatum(out->data);
    }
}

void start_document(Document& doc, MemoryContext result_context, MemoryContext page_context) {
    {
        MemoryContext old = MemoryContextSwitchTo(result_context);
        initStringInfo(&doc.created);
        appendBinaryStringInfo(&doc.created, "\0\0\0\0", VARHDRSZ);  // the text header, set last
        appendStringInfoString(&doc.created, "{\"created\":[");
        MemoryContextSwitchTo(page_context);
        initStringInfo(&doc.updated);
        initStringInfo(&doc.deleted);
        MemoryContextSwitchTo(old);
        doc.n_created = doc.n_updated = doc.n_deleted = 0;
    }
}

int int_arg(FunctionCallInfo fcinfo, int n, const char* name, int fallback) {
    if (PG_ARGISNULL(n)) return fallback;
    int v = PG_GETARG_INT32(n);
    if (v < 1) {
        std::string msg = std::string(name) + " must be at least 1, not " + std::to_string(v);
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, msg.c_str());
    }
    return v;
}

// A document is one text value, so at most 1 GB: past that, appending fails with 54000
// (program_limit_exceeded). Runs `f` and adds to that error the advice the caller can act on.
// The hint is static: ReThrowError() copies the error's strings and nothing frees this one.
template <class F>
auto with_size_advice(int page_size, F&& f) -> decltype(f()) {
    static char no_pages[] =
        "Pass page_size to delta_since() to split the answer into documents of at most that many "
        "entries each.";
    static char smaller_pages[] = "Pass a smaller page_size to delta_since().";
    try {
        return f();
    } catch (const PgError& e) {
        ErrorData* data = e.data();
        if (data->sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED && !data->hint)
            data->hint = page_size == 0 ? no_pages : smaller_pages;
        throw;
    }
}

// Builds every page of a delta of at most max_changes rows (the query stops at max_changes + 1),
// or marks the answer a resync when it has more. Called with the scan open.
void prepare_pages(DeltaState& state, MemoryContext multi, int max_changes) {
    int n = 0;
    bool too_many = pg_guard([&] {
        long total = 0;
        int capacity = 4;
        Datum* pages = static_cast<Datum*>(MemoryContextAlloc(multi, sizeof(Datum) * capacity));
        for (;;) {
            MemoryContextReset(state.page_context);
            Document doc{};
            start_document(doc, multi, state.page_context);
            long rows = fill_document(doc, state.scan, state.since, state.page_size,
                                      state.page_context);
            total += rows;
            if (total > max_changes) return true;
            if (rows == 0 && n > 0) break;
            if (n == capacity) {
                capacity *= 2;
                pages = static_cast<Datum*>(repalloc(pages, sizeof(Datum) * capacity));
            }
            pages[n++] = finish_document(doc, state.server_version, false);
            if (state.page_size == 0 || rows < state.page_size) break;
        }
        state.prepared = pages;
        return false;
    });
    if (too_many) {
        state.resync = true;  // answered with the statement's own snapshot, as every refusal is
        state.server_version = state.snapshot_version;
        return;
    }
    state.n_prepared = n;
}

void first_call(FunctionCallInfo fcinfo, FuncCallContext* funcctx) {
    if (PG_ARGISNULL(0))
        throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "the table must not be NULL");
    Oid relid = PG_GETARG_OID(0);
    int max_changes_arg = int_arg(fcinfo, 2, "max_changes", 0);
    int page_size = int_arg(fcinfo, 3, "page_size", 0);

    Cursor since;
    bool full_sync = PG_ARGISNULL(1);
    if (!full_sync) {
        text* t = pg_guard([&] { return PG_GETARG_TEXT_PP(1); });
        std::string_view v(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
        CursorError e = decode_cursor(v, since);
        if (e != CursorError::none) {
            std::string msg = std::string("invalid serverVersion: ") + describe(e);
            throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, msg.c_str(), cursor_detail, cursor_hint);
        }
    }

    MemoryContext multi = funcctx->multi_call_memory_ctx;
    auto* state = new DeltaState();
    pg_guard([&] {
        state->cleanup.func = delete_state;
        state->cleanup.arg = state;
        MemoryContextRegisterResetCallback(multi, &state->cleanup);
        funcctx->user_fctx = state;
        state->page_context =
            AllocSetContextCreate(multi, "delta_since page", ALLOCSET_DEFAULT_SIZES);
    });
    state->page_size = page_size;
    state->since = since;

    open_table(relid);
    PinnedEntry pin;
    table_entry(relid, pin);
    const TableShape& table = *pin.entry->shape;

    ServerClock clock{};
    std::uint64_t own_xid = 0;
    Cursor now = cursor_from_active_snapshot(clock, own_xid);
    state->snapshot_version = state->server_version = encode_cursor(now);

    Registration reg = read_registration(relid);
    if (!reg.found) not_tracked(table.qualified_name);
    check_tracked_shape(table);
    // A shape (columns, filter): the call reads the shaped table, with codecs of its own, and its
    // cursors carry the shape's digest; a cursor of another shape resyncs.
    std::vector<std::string> key_names;
    for (int k : table.key_indexes) key_names.push_back(table.names[k]);
    ShapeSpec spec = read_shape_arguments(fcinfo, 4, 5, relid, table.names, key_names);
    TableShape shaped;
    if (spec.shaped) {
        shaped = shaped_table(table, spec);
        now.shape = spec.digest;
        state->snapshot_version = state->server_version = encode_cursor(now);
        if (!full_sync && since.shape != spec.digest) state->resync = true;
    } else if (!full_sync && since.shape != 0) {
        state->resync = true;
    }
    const TableShape& shape = spec.shaped ? shaped : table;
    int max_changes = max_changes_arg ? max_changes_arg : reg.max_changes;

    QueryArgs args;
    std::string snap_text = snapshot_text(since);
    args.values[0] = UInt64GetDatum(since.xmin);
    args.values[2] = UInt64GetDatum(own_xid);
    args.values[3] = UInt64GetDatum(PG_UINT64_MAX);
    if (full_sync) args.nulls[1] = 'n';  // no P: $2 is not used
    else args.values[1] = pg_guard([&] {  // in the multi-call context: the scan is opened after SPI_finish
        MemoryContext old = MemoryContextSwitchTo(multi);
        Datum d = DirectFunctionCall1(pg_snapshot_in, CStringGetDatum(snap_text.c_str()));
        MemoryContextSwitchTo(old);
        return d;
    });

    // Hard-delete mode: the tombstone table (named afresh: it may have been renamed).
    std::string tombstones;
    Oid tombstones_owner = InvalidOid;
    if (OidIsValid(reg.tombstones)) {
        const char* name = pg_guard([&]() -> const char* {
            char* rel = get_rel_name(reg.tombstones);
            if (!rel) return nullptr;
            // The registry row is the table owner's to write: only a table of the same owner
            // is read as its tombstones.
            HeapTuple a = SearchSysCache1(RELOID, ObjectIdGetDatum(reg.tombstones));
            HeapTuple b = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
            if (!HeapTupleIsValid(a) || !HeapTupleIsValid(b)) return nullptr;
            tombstones_owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(a))->relowner;
            Oid table_owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(b))->relowner;
            ReleaseSysCache(a);
            ReleaseSysCache(b);
            if (tombstones_owner != table_owner) return nullptr;
            return quote_qualified_identifier(get_namespace_name(get_rel_namespace(reg.tombstones)),
                                              rel);
        });
        if (!name) {
            std::string msg = "the tombstone table of tracked table " + shape.qualified_name +
                              " is missing or not the table owner's";
            std::string literal = sql_literal(shape.qualified_name);
            std::string hint = "Untrack the table and track it again with SELECT delta_sync.untrack(" +
                               literal + ") and SELECT delta_sync.track(" + literal +
                               ", deletes => 'hard').";
            throw SqlError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, msg.c_str(), nullptr,
                           hint.c_str());
        }
        tombstones = name;
        check_tombstones_fit(reg.tombstones, table);
    }

    if (!full_sync && !state->resync &&
        judge_cursor(since, clock, reg.horizon, reg.purged_through, reg.purged_by) != CursorFate::usable)
        state->resync = true;
    // A tombstone has no columns that row-level security could judge: a role the table's policies
    // apply to never reads one (it would learn the key of a row it may not have seen; the
    // tombstone table's own policy hides them from it). If a deletion it did not see exists, its
    // cursor is answered with a resync instead. Whether one exists is asked as the tombstone
    // table's owner (the table's), under SECURITY_RESTRICTED_OPERATION: the answer is one bit.
    if (!tombstones.empty() && !full_sync && !state->resync &&
        pg_guard([&] { return check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED; })) {
        Oid save_user;
        int save_sec;
        pg_guard([&] {
            GetUserIdAndSecContext(&save_user, &save_sec);
            SetUserIdAndSecContext(tombstones_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
                                                         SECURITY_RESTRICTED_OPERATION);
        });
        // On an error the (sub)transaction's abort restores the user and ends SPI.
        pg_guard([] {
            if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
                elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
        });
        long unseen = count_changes(shape, tombstones, args, 1, DeltaRows::tombstones_only);
        pg_guard([&] {
            SPI_finish();
            SetUserIdAndSecContext(save_user, save_sec);
        });
        if (unseen > 0) state->resync = true;
        tombstones.clear();
    }
    // A delta of at most max_changes rows is read by one query with LIMIT max_changes + 1 and its
    // pages are built now: one row more means refusing it. Past buffered_limit that would hold too
    // much in memory, so count first (stopping at max_changes + 1), then stream the pages.
    bool buffered = !full_sync && !state->resync && max_changes <= buffered_limit;
    // The two checks below are rare (a large threshold, a transaction that wrote): they use SPI.
    bool spi = (!full_sync && !state->resync && !buffered) || (own_xid != 0 && !state->resync);
    if (spi)
        pg_guard([] {
            if (int rc = SPI_connect(); rc != SPI_OK_CONNECT)
                elog(ERROR, "could not connect to SPI manager: %s", SPI_result_code_string(rc));
        });
    if (!full_sync && !state->resync && !buffered &&
        count_changes(shape, tombstones, args, static_cast<long>(max_changes) + 1) > max_changes)
        state->resync = true;

    // The cursor handed back sees what the client's cursor saw and what this snapshot sees: the
    // client holds both. (They differ when a lagging standby answers a cursor from the primary.)
    if (!full_sync && !state->resync) state->server_version = encode_cursor(join(since, now));

    // Rows this transaction rewrote are left out (they are its uncommitted writes), and so are
    // their committed versions, which it cannot see. Should it roll back, those versions must
    // still reach the client, but no cursor can name them without also forgetting rows the client
    // does hold: answer with one that does not see the table's horizon, so the next pull resyncs.
    if (own_xid != 0 && !state->resync && rewrote_existing_rows(shape.only + shape.qualified_name, tombstones, own_xid)) {
        Cursor resync_next;
        resync_next.system_id = clock.system_id;
        resync_next.point = now.point;
        resync_next.xmin = resync_next.xmax = reg.horizon;
        resync_next.shape = spec.digest;
        state->server_version = encode_cursor(resync_next);
    }

    if (spi) pg_guard([] { SPI_finish(); });

    Scan& scan = state->scan;
    scan.full_sync = full_sync;
    scan.ncols = static_cast<int>(shape.names.size());
    scan.nkeys = static_cast<int>(shape.key_indexes.size());
    for (int k = 0; k < scan.nkeys; ++k) scan.key_indexes[k] = shape.key_indexes[k];
    scan.deleted_at_index = shape.deleted_at_index;
    scan.gone_index = shape.shaped ? scan.ncols + 1 : -1;
    CodecSet* codecs = pin.entry->codecs;
    if (shape.shaped && !spec.all_columns)
        codecs = build_codecs(shape);  // the call's own: its one reference is the scan's
    else
        ++codecs->refs;  // released by delete_state(), on every way the call ends
    scan.codec_set = codecs;
    scan.codecs = codecs->codecs;
    scan.row_types = codecs->row_types;
    if (state->resync) return;
    PlanKind kind = full_sync ? full_plan : buffered ? small_delta_plan : large_delta_plan;
    CachedPlanSource* source =
        plan_for(pin.entry, shape, kind, full_sync ? std::string() : tombstones);
    if (buffered) {
        args.values[4] = Int64GetDatum(static_cast<long>(max_changes) + 1);
        args.nulls[4] = ' ';
    }
    pg_guard([&] { open_scan(scan, source, args, multi); });
    if (buffered) {
        with_size_advice(state->page_size, [&] { prepare_pages(*state, multi, max_changes); });
        pg_guard([&] { close_scan(scan); });
        return;
    }
    // Pages follow in later calls: should the caller stop before the last one, the outer
    // executor's shutdown of this ExprContext closes the scan.
    pg_guard([&] {
        auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
        RegisterExprContextCallback(rsinfo->econtext, close_on_shutdown, PointerGetDatum(state));
        state->shutdown_on = rsinfo->econtext;
    });
}

// The last call: the scan is closed now, not left to the outer executor.
void finish_scan(DeltaState& state) {
    pg_guard([&] {
        if (state.shutdown_on) {
            UnregisterExprContextCallback(state.shutdown_on, close_on_shutdown,
                                          PointerGetDatum(&state));
            state.shutdown_on = nullptr;
        }
        close_scan(state.scan);
    });
}

Datum delta_since_impl(FunctionCallInfo fcinfo) {
    FuncCallContext* funcctx;
    if (SRF_IS_FIRSTCALL()) {
        funcctx = pg_guard([&] { return SRF_FIRSTCALL_INIT(); });
        first_call(fcinfo, funcctx);
    }
    funcctx = pg_guard([&] { return SRF_PERCALL_SETUP(); });
    auto* state = static_cast<DeltaState*>(funcctx->user_fctx);
    if (state->done) {
        finish_scan(*state);
        return pg_guard([&]() -> Datum { SRF_RETURN_DONE(funcctx); });
    }

    if (state->prepared && !state->resync) {
        if (state->pages >= state->n_prepared) {
            state->done = true;
            return delta_since_impl(fcinfo);
        }
        Datum result = state->prepared[state->pages++];
        SRF_RETURN_NEXT(funcctx, result);
    }

    MemoryContext result_context = CurrentMemoryContext;
    Document doc{};
    pg_guard([&] {
        MemoryContextReset(state->page_context);
        start_document(doc, result_context, state->page_context);
    });

    long rows = 0;
    if (!state->resync) {
        rows = with_size_advice(state->page_size, [&] {
            return pg_guard([&] {
                return fill_document(doc, state->scan, state->since, state->page_size,
                                     state->page_context);
            });
        });
    }
    // Without page_size everything went into this document. With it, a page that came back short
    // was the last; a full one may be followed by more (or by nothing, then no empty page is sent).
    if (state->resync || state->page_size == 0 || rows < state->page_size) state->done = true;
    if (rows == 0 && state->pages > 0) {
        state->done = true;
        return delta_since_impl(fcinfo);
    }
    ++state->pages;
    Datum result =
        with_size_advice(state->page_size, [&] {
            return pg_guard([&] { return finish_document(doc, state->server_version, state->resync); });
        });
    SRF_RETURN_NEXT(funcctx, result);
}

}  // namespace

}  // namespace delta_sync

DELTA_SYNC_FUNCTION(delta_since, delta_sync::delta_since_impl)
