// The per-table NOTIFY setting (delta_sync.tracked.notify), cached per backend so the statement
// trigger reads no registry row per statement. set_notify() invalidates the table's relcache
// entry through _notify_setting_changed(); the relcache callback drops the cached value, and a
// reset of all caches (sinval overflow) drops them all.
//
// The row is read with a fresh snapshot, not the caller's: an invalidation is processed once,
// and a value read through an older snapshot (a REPEATABLE READ transaction that began before
// set_notify committed) would stay cached after it, silencing the table for this backend. A
// change the fresh snapshot misses commits after it was taken and sends its invalidation after
// that: processed after the value is cached, it drops it; processed while the row is being read
// (opening the registry accepts invalidations), it moves `generation` and the value is not kept.
#include "live.hpp"
#include "registry.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

namespace delta_sync {

namespace {

struct NotifyEntry {
    Oid relid;  // hash key
    bool notify;
};

HTAB* settings = nullptr;

std::uint64_t generation = 0;  // moved by every relcache invalidation

void relcache_changed(Datum, Oid relid) {
    ++generation;
    if (!settings) return;
    if (OidIsValid(relid)) {
        hash_search(settings, &relid, HASH_REMOVE, nullptr);
        return;
    }
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, settings);
    while (auto* e = static_cast<NotifyEntry*>(hash_seq_search(&seq)))
        hash_search(settings, &e->relid, HASH_REMOVE, nullptr);
}

bool registered = false;

}  // namespace

bool table_notifies(Oid relid) {
    if (!registered) {
        CacheRegisterRelcacheCallback(relcache_changed, 0);
        registered = true;
    }
    if (!settings) {
        HASHCTL ctl;
        ctl.keysize = sizeof(Oid);
        ctl.entrysize = sizeof(NotifyEntry);
        ctl.hcxt = TopMemoryContext;
        settings = hash_create("delta_sync notify settings", 64, &ctl,
                               HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    bool found;
    auto* e = static_cast<NotifyEntry*>(hash_search(settings, &relid, HASH_FIND, &found));
    if (e) return e->notify;
    std::uint64_t before = generation;
    PushActiveSnapshot(GetLatestSnapshot());
    RegistryRow row = read_registry_row(relid);  // an error pops the snapshot with the (sub)transaction
    PopActiveSnapshot();
    bool notify = row.found && row.notify;
    if (generation != before) return notify;
    e = static_cast<NotifyEntry*>(hash_search(settings, &relid, HASH_ENTER, &found));
    e->notify = notify;
    return notify;
}

namespace {

Datum notify_setting_changed(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the table must not be NULL")));
    Oid relid = PG_GETARG_OID(0);
    if (!pg_class_ownercheck(relid, GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("must be owner of table \"%s\" to change its notifications",
                               get_rel_name(relid) ? get_rel_name(relid) : "?")));
    CacheInvalidateRelcacheByRelid(relid);
    PG_RETURN_VOID();
}

}  // namespace

}  // namespace delta_sync

DELTA_SYNC_FUNCTION(delta_sync_notify_setting_changed, [](FunctionCallInfo fcinfo) {
    return delta_sync::pg_guard([&] { return delta_sync::notify_setting_changed(fcinfo); });
})
