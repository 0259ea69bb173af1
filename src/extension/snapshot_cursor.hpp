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
};

// The statement's active snapshot as a cursor that never claims an xid is finished when it was
// not: on a standby the in-progress xids are read from subxip (xip is empty there; when it
// overflowed it still lists every top-level xid, and row versions are top-level xids); the
// calling transaction's own xid, which a snapshot never lists, is added as in progress.
// `own_xid` is set to that xid (0 if none).
Cursor cursor_from_active_snapshot(ServerClock& clock, std::uint64_t& own_xid);

enum class CursorFate {
    usable,
    other_cluster,      // different system identifier
    from_the_future,    // xmax beyond the next xid: a restored backup, or time travel
    before_horizon,     // older than the table's tracking start, last TRUNCATE or purge
};

// horizon: the xid of the table's last horizon event; a cursor whose xmin is not beyond it may
// have missed what that event removed.
CursorFate judge_cursor(const Cursor& cursor, const ServerClock& clock, std::uint64_t horizon);

}  // namespace delta_sync
