// From PostgreSQL's snapshot of the running statement to a Cursor, and the checks that decide
// whether a client's cursor can be answered with a delta or needs a full resync.
#pragma once

#include "cursor.hpp"

#include <cstdint>

namespace delta_sync {

// Facts about this server that a cursor is checked against.
struct ServerClock {
    std::uint64_t system_id;  // pg_control's system identifier
    std::uint64_t next_xid;   // the next full transaction id to be assigned (or replayed)
    bool in_recovery;         // a hot standby
    HistoryPoint position;    // where this server is in its WAL history (see history.cpp)
};

// The statement's active snapshot as a cursor that never claims an xid is finished when it was
// not: on a standby the in-progress xids are read from subxip (xip is empty there; when it
// overflowed it still lists every top-level xid, and row versions are top-level xids); the
// calling transaction's own xid, which a snapshot never lists, is added as in progress.
// `own_xid` is set to that xid (0 if none). The cursor's history point is the server's position
// read after the snapshot was taken (history.cpp says why that is late enough).
Cursor cursor_from_active_snapshot(ServerClock& clock, std::uint64_t& own_xid);

enum class CursorFate {
    usable,
    other_cluster,      // different system identifier
    other_history,      // taken at a point of WAL history this server does not have, or unknown
    from_the_future,    // xmax beyond the next xid: a restored backup, or time travel
    before_horizon,     // from before the table's tracking start, last TRUNCATE, ALTER or restore
    before_purge,       // may not have seen deletions that purge() has since removed
};

// horizon: the xid of the table's last event that history cannot express (tracking start,
// TRUNCATE, ALTER TABLE, restore); a cursor that does not see it predates the event.
// purged_through (0: never purged): the newest version among rows purge() removed; a cursor must
// have seen every transaction up to it, or it may have missed a deletion that is now gone —
// unless it sees purged_by (0: unknown), the last purging transaction itself: then it was taken
// after every deletion that purge removed had committed.
// All are exact: an unrelated old transaction still running does not force a resync.
CursorFate judge_cursor(const Cursor& cursor, const ServerClock& clock, std::uint64_t horizon,
                        std::uint64_t purged_through, std::uint64_t purged_by);

}  // namespace delta_sync
