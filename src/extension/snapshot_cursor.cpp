// Reading the active snapshot. Recovery snapshots (hot standby) differ from normal ones: all
// in-progress xids, top-level and sub, are in subxip and xip is unused, and subxip may overflow.
// pg_current_snapshot() reads xip only, so on a standby it reports running transactions as
// finished: a cursor built from it would lose their changes. This file reads the struct itself.
//
// An overflowed recovery snapshot lacks subxids only: every running top-level xid is still in
// subxip (XidInMVCCSnapshot maps a subxid to its top-level xid and then searches subxip for it).
// Row versions are top-level xids, so the list is exact for them and is used as it is. A cursor
// must never see less than the client holds either: a delta's rows are visible in the snapshot,
// and a cursor that does not see a row's creation leaves the row's later deletion out.
#include "snapshot_cursor.hpp"

#include "boundary.hpp"
#include "server_history.hpp"

#include <algorithm>

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "utils/snapmgr.h"
}

namespace delta_sync {

namespace {

// The 64-bit form of a 32-bit xid that is at most 2^31 away from `next` (as xid8funcs.c does).
std::uint64_t widen(FullTransactionId next, TransactionId xid) {
    if (!TransactionIdIsNormal(xid)) return xid;
    TransactionId next32 = XidFromFullTransactionId(next);
    return U64FromFullTransactionId(next) +
           static_cast<std::int64_t>(static_cast<std::int32_t>(xid - next32));
}

// Plain data copied out of PostgreSQL under the guard.
struct RawSnapshot {
    std::uint64_t xmin, xmax, own_xid, next_xid, system_id;
    bool recovery, in_recovery;
    int count;
    std::uint64_t* xids;  // palloc'd
};

}  // namespace

Cursor cursor_from_active_snapshot(ServerClock& clock, std::uint64_t& own_xid) {
    RawSnapshot raw = pg_guard([] {
        RawSnapshot r{};
        Snapshot snap = GetActiveSnapshot();
        FullTransactionId next = ReadNextFullTransactionId();
        r.next_xid = U64FromFullTransactionId(next);
        r.system_id = GetSystemIdentifier();
        r.in_recovery = RecoveryInProgress();
        r.xmin = widen(next, snap->xmin);
        r.xmax = widen(next, snap->xmax);
        r.recovery = snap->takenDuringRecovery;
        FullTransactionId own = GetTopFullTransactionIdIfAny();
        r.own_xid = FullTransactionIdIsValid(own) ? U64FromFullTransactionId(own) : 0;
        const TransactionId* src = r.recovery ? snap->subxip : snap->xip;
        r.count = r.recovery ? snap->subxcnt : static_cast<int>(snap->xcnt);
        r.xids = static_cast<std::uint64_t*>(palloc(sizeof(std::uint64_t) * (r.count + 1)));
        for (int i = 0; i < r.count; ++i) r.xids[i] = widen(next, src[i]);
        return r;
    });

    // Read after the snapshot was taken (it is the statement's): late enough for its commits.
    HistoryPoint position = current_history_point(raw.in_recovery);
    clock = ServerClock{raw.system_id, raw.next_xid, raw.in_recovery, position};
    own_xid = raw.own_xid;

    Cursor c;
    c.system_id = raw.system_id;
    c.point = position;
    c.xmin = raw.xmin;
    c.xmax = raw.xmax;
    // Not an xmin-only cursor when subxip overflowed: the rows of this response include rows
    // created by xids at or after xmin, and a cursor blind to their creation would leave out
    // their deletion later (the client keeps them for ever).
    for (int i = 0; i < raw.count; ++i)
        if (raw.xids[i] >= c.xmin && raw.xids[i] < c.xmax) c.xip.push_back(raw.xids[i]);
    // Our own uncommitted writes are left out of the response, so the cursor must keep our xid
    // in progress. The snapshot's xmin ignores our xid, which may therefore lie below it.
    if (own_xid != 0 && own_xid < c.xmax) {
        if (own_xid < c.xmin) c.xmin = own_xid;
        c.xip.push_back(own_xid);
    }
    std::sort(c.xip.begin(), c.xip.end());
    c.xip.erase(std::unique(c.xip.begin(), c.xip.end()), c.xip.end());
    return c;
}

CursorFate judge_cursor(const Cursor& cursor, const ServerClock& clock, std::uint64_t horizon,
                        std::uint64_t purged_through, std::uint64_t purged_by) {
    if (cursor.system_id != clock.system_id) return CursorFate::other_cluster;
    if (!cursor_in_history(cursor.point, clock.position, clock.in_recovery))
        return CursorFate::other_history;
    // A standby behind the primary that issued the cursor is merely lagging: answering from its
    // older snapshot can only re-deliver. A primary that never reached that xid was restored.
    if (!clock.in_recovery && cursor.xmax > clock.next_xid) return CursorFate::from_the_future;
    if (!cursor.sees(horizon)) return CursorFate::before_horizon;
    if (purged_through != 0 && !cursor.sees_everything_through(purged_through) &&
        !(purged_by != 0 && cursor.sees(purged_by)))
        return CursorFate::before_purge;
    return CursorFate::usable;
}

}  // namespace delta_sync
