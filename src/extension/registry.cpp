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
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
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
}  // namespace

RegistryRow read_registry_row(Oid relid) {
    RegistryRow row{false, 0, 0, 0, 0, true, InvalidOid};
    Oid registry = get_relname_relid("tracked", get_namespace_oid("delta_sync", false));
    if (!OidIsValid(registry)) elog(ERROR, "delta_sync: the registry table is missing");
    Relation rel = table_open(registry, AccessShareLock);
    Oid pkey = RelationGetPrimaryKeyIndex(rel);
    ScanKeyData key;
    ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    SysScanDesc scan = systable_beginscan(rel, pkey, OidIsValid(pkey), GetActiveSnapshot(), 1, &key);
    HeapTuple tup = systable_getnext(scan);
    if (HeapTupleIsValid(tup)) {
        TupleDesc desc = RelationGetDescr(rel);
        bool isnull;
        row.found = true;
        row.max_changes = DatumGetInt32(heap_getattr(tup, column(desc, "max_changes"), desc, &isnull));
        row.horizon = DatumGetUInt64(heap_getattr(tup, column(desc, "horizon"), desc, &isnull));
        if (AttrNumber a = column(desc, "purged_through"); a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.purged_through = DatumGetUInt64(v);
        }
        if (AttrNumber a = column(desc, "purged_by"); a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.purged_by = DatumGetUInt64(v);
        }
        if (AttrNumber a = column(desc, "notify"); a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.notify = DatumGetBool(v);
        }
        if (AttrNumber a = column(desc, "tombstones"); a != InvalidAttrNumber) {
            Datum v = heap_getattr(tup, a, desc, &isnull);
            if (!isnull) row.tombstones = DatumGetObjectId(v);
        }
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return row;
}

}  // namespace delta_sync
