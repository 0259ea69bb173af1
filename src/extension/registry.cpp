// Reading delta_sync.tracked through its primary key index (see registry.hpp). Columns are found
// by name, so the code reads a 1.0 registry (before purged_through, notify and purged_by existed) as well.
#include "registry.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

#include <cstring>

namespace delta_sync {

namespace {
AttrNumber column(TupleDesc desc, const char* name) {
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (!a->attisdropped && std::strcmp(NameStr(a->attname), name) == 0) return a->attnum;
    }
    return InvalidAttrNumber;
}

// Where the registry is: its table, primary key index and columns, found by name once per
// backend and forgotten when PostgreSQL invalidates the registry's relcache entry (ALTER, DROP,
// the extension dropped or upgraded, a full reset) or any schema (a renamed schema). The row
// itself is read on every call, as the caller's snapshot sees it: a cached row could not be
// both kept across statements and what each statement's snapshot says (a REPEATABLE READ
// transaction, a writer whose commit is visible before its invalidations are sent).
struct RegistryPlace {
    bool known;
    Oid table;
    Oid pkey;
    AttrNumber max_changes, horizon, purged_through, purged_by, notify, tombstones;
};
RegistryPlace place{};
bool callbacks = false;

void registry_changed(Datum, Oid relid) noexcept {
    if (!OidIsValid(relid) || relid == place.table) place.known = false;
}
void schema_changed(Datum, int, uint32) noexcept { place.known = false; }

void find_registry(Relation rel) {
    TupleDesc desc = RelationGetDescr(rel);
    place.pkey = RelationGetPrimaryKeyIndex(rel);
    place.max_changes = column(desc, "max_changes");
    place.horizon = column(desc, "horizon");
    place.purged_through = column(desc, "purged_through");
    place.purged_by = column(desc, "purged_by");
    place.notify = column(desc, "notify");
    place.tombstones = column(desc, "tombstones");
    if (place.max_changes == InvalidAttrNumber || place.horizon == InvalidAttrNumber)
        elog(ERROR, "relation \"delta_sync.tracked\" lacks the columns of delta_sync's registry");
}
}  // namespace

RegistryRow read_registry_row(Oid relid) {
    RegistryRow row{false, 0, 0, 0, 0, true, InvalidOid};
    if (!callbacks) {
        CacheRegisterRelcacheCallback(registry_changed, 0);
        CacheRegisterSyscacheCallback(NAMESPACEOID, schema_changed, 0);
        callbacks = true;
    }
    Oid registry = place.known ? place.table : InvalidOid;
    if (!OidIsValid(registry)) {
        registry = get_relname_relid("tracked", get_namespace_oid("delta_sync", false));
        if (!OidIsValid(registry)) elog(ERROR, "relation \"delta_sync.tracked\" does not exist");
    }
    Relation rel = table_open(registry, AccessShareLock);
    // Taking the lock may have received an invalidation of the registry: look again then.
    if (!place.known || place.table != registry) {
        place.known = false;
        place.table = registry;
        find_registry(rel);
        place.known = true;
    }
    Oid pkey = place.pkey;
    ScanKeyData key;
    ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    SysScanDesc scan = systable_beginscan(rel, pkey, OidIsValid(pkey), GetActiveSnapshot(), 1, &key);
    HeapTuple tup = systable_getnext(scan);
    if (HeapTupleIsValid(tup)) {
        TupleDesc desc = RelationGetDescr(rel);
        bool isnull;
        row.found = true;
        row.max_changes = DatumGetInt32(heap_getattr(tup, place.max_changes, desc, &isnull));
        row.horizon = DatumGetUInt64(heap_getattr(tup, place.horizon, desc, &isnull));
        if (AttrNumber a = place.purged_through; a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.purged_through = DatumGetUInt64(v);
        }
        if (AttrNumber a = place.purged_by; a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.purged_by = DatumGetUInt64(v);
        }
        if (AttrNumber a = place.notify; a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.notify = DatumGetBool(v);
        }
        if (AttrNumber a = place.tombstones; a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.tombstones = DatumGetObjectId(v);
        }
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return row;
}

}  // namespace delta_sync
