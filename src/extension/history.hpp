// Where in a cluster's WAL history a cursor was taken, and whether that point lies in the history
// of the server a cursor is brought to (PostgreSQL timelines). The argument is in history.cpp.
//
// Plain C++: no PostgreSQL headers, so it is unit-tested without a server. The extension reads the
// server's position and its timeline history file in server_history.cpp.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace delta_sync {

// A point of WAL history: a timeline and a WAL position (an XLogRecPtr) on it.
struct HistoryPoint {
    std::uint32_t timeline = 0;  // 0: unknown (a cursor issued by version 1.1)
    std::uint64_t lsn = 0;

    bool known() const noexcept { return timeline != 0; }
    bool operator==(const HistoryPoint& o) const noexcept {
        return timeline == o.timeline && lsn == o.lsn;
    }
};

// One line of a timeline history file: this history left timeline `parent` at `switchpoint`.
struct TimelineSwitch {
    std::uint32_t parent = 0;
    std::uint64_t switchpoint = 0;
};

// Parses the history file of timeline `timeline` (the text of pg_wal/<timeline>.history) by the
// rules of PostgreSQL's readTimeLineHistory(): blank lines and lines starting with '#' are
// skipped, each other line is "<parent tli>\t<hi>/<lo>[\t<reason>]", parents strictly increase
// and are below `timeline`. Returns false (and leaves `out` empty) for anything else: a server
// whose history cannot be read accepts cursors of its current timeline only.
bool parse_timeline_history(std::string_view text, std::uint32_t timeline,
                            std::vector<TimelineSwitch>& out);

enum class HistoryPlace {
    in_history,         // every WAL byte before the point is in this server's history
    ahead_on_timeline,  // on a standby: its own timeline, not yet replayed that far
    elsewhere,          // not in this server's history: the cursor resyncs
};

// Where `point` lies relative to a server at `current` (its insert position on a primary, its
// replay position on a standby) whose timeline left its ancestors at `ancestors`.
HistoryPlace locate(const HistoryPoint& point, const HistoryPoint& current, bool in_recovery,
                    const std::vector<TimelineSwitch>& ancestors);

// The later of two points of one history (a point that `locate` placed in_history or
// ahead_on_timeline of `current`): what a client holds after a delta answered at `current`.
HistoryPoint later_point(const HistoryPoint& point, const HistoryPoint& current);

}  // namespace delta_sync
