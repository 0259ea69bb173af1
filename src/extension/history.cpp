// Cursors that know their history.
//
// The problem. A cursor is a snapshot: it names the transactions whose changes the client holds.
// Transaction ids alone do not say which server history those transactions belong to. A standby
// promoted after missing the last commits of its primary, or a base backup restored to an earlier
// point in time and promoted, goes on assigning the same transaction ids to other transactions.
// Once it has assigned more than the cursor saw, a cursor from the lost history looks valid, and a
// client keeps for ever the rows of commits that this server never had.
//
// PostgreSQL already names points of history without ambiguity: a timeline and a WAL position.
// Every time a server leaves recovery to write WAL of its own (promotion of a standby, the end of
// a point-in-time or archive recovery), it starts a new timeline, with an id it finds unused (it
// looks for history files in pg_wal and, with a restore_command, in the archive), and writes a
// history file for it: for each ancestor timeline, the position where this history left
// it (access/transam/timeline.c). WAL on one timeline is the same on every server that has it: a
// standby copies it byte for byte. So (timeline, position) names one prefix of WAL, and the rule
// by which PostgreSQL lets a standby follow a server is the rule we need: a standby that has WAL up
// to position P on timeline T can stream from a server iff T is that server's timeline, or T is an
// ancestor and P is at or before the switch point where the server's history left T
// (StartReplication() in walsender.c refuses anything else: "requested starting point ... is not
// in this server's history"). The client's copy is a function of a WAL prefix in exactly the
// same way, so:
//
//   a cursor is answered with a delta only when the point where it was taken lies in the
//   history of the server answering: its timeline is the server's current timeline and its
//   position is at or before the server's position, or its timeline is an ancestor and its
//   position is at or before the switch point where the server left that timeline.
//
// Which position a cursor records. It must be at or after the end of every commit record whose
// transaction is visible in the snapshot; then each of them is in every WAL prefix that contains
// the point. On a primary a transaction becomes visible (ProcArrayEndTransaction) only after its
// commit record was inserted, and the statement's snapshot was taken before delta_since reads the
// insert position, so the insert position read then is late enough. (If it points just past a page
// header we step back over the header: those bytes hold no record, and a standby's replay position
// and a promotion's switch point never include them, so a failover that lost nothing resyncs no
// one.) On a standby a transaction becomes visible when the startup process applies its commit
// record; the position of the record being applied (GetCurrentReplayRecPtr()) is set before the
// record is applied, so it is late enough too; lastReplayedEndRecPtr, set afterwards, would not be.
// A later point is never wrong, only stricter: the recorded point may include WAL of transactions
// still running, and a failover that loses that WAL resyncs the clients that pulled in its last
// moments, which costs a full sync and loses nothing.
//
// Standbys. A standby that has not replayed up to a cursor taken on its primary (a lagging
// replica) will replay that very WAL of its own timeline: it answers from its older snapshot and
// hands back a cursor that keeps the client's point (later_point), so the client may be sent
// changes again but never loses any. If instead that standby is promoted before reaching the
// point, its new timeline's switch point lies before the point and the kept cursor resyncs.
// A cursor taken on a timeline newer than a standby's (a new primary's, before the standby has
// followed it) is not in the standby's history yet: it resyncs.
//
// What is left out. Timelines only tell apart histories that PostgreSQL itself tells apart. A copy
// of a data directory or a base backup started without recovery.signal or standby.signal runs
// crash recovery and stays on its timeline: such a fork is not an operation PostgreSQL supports
// for restoring (its archive would then receive two different WAL files of one name). Cursors from
// its origin still resync there while they are ahead of it (position and transaction ids), as in
// version 1.1. The same holds for a crash that loses WAL written with synchronous_commit = off:
// commits readers had seen are gone, as PostgreSQL documents for asynchronous commit.
//
// Cursors of version 1.1 carry no point (timeline 0): nothing tells whether they belong to this
// server's history, so they resync once.
#include "history.hpp"

namespace delta_sync {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads an unsigned 32-bit number in base 10 or 16 at line[pos]; false if there is none or it
// overflows.
bool read_u32(std::string_view line, std::size_t& pos, int base, std::uint32_t& out) {
    std::uint64_t v = 0;
    std::size_t start = pos;
    while (pos < line.size()) {
        int d = base == 16 ? hex_value(line[pos])
                           : (line[pos] >= '0' && line[pos] <= '9' ? line[pos] - '0' : -1);
        if (d < 0) break;
        v = v * static_cast<unsigned>(base) + static_cast<unsigned>(d);
        if (v > UINT32_MAX) return false;
        ++pos;
    }
    out = static_cast<std::uint32_t>(v);
    return pos > start;
}

}  // namespace

bool parse_timeline_history(std::string_view text, std::uint32_t timeline,
                            std::vector<TimelineSwitch>& out) {
    out.clear();
    std::vector<TimelineSwitch> result;
    std::size_t begin = 0;
    while (begin < text.size()) {
        std::size_t end = text.find('\n', begin);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(begin, end - begin);
        begin = end + 1;

        std::size_t pos = 0;
        while (pos < line.size() && is_space(line[pos])) ++pos;
        if (pos == line.size() || line[pos] == '#') continue;

        TimelineSwitch s;
        std::uint32_t hi = 0, lo = 0;
        if (!read_u32(line, pos, 10, s.parent)) return false;
        std::size_t gap = pos;
        while (pos < line.size() && is_space(line[pos])) ++pos;
        if (pos == gap) return false;
        if (!read_u32(line, pos, 16, hi) || pos >= line.size() || line[pos++] != '/' ||
            !read_u32(line, pos, 16, lo))
            return false;
        // The reason that follows is free text, ignored as PostgreSQL ignores it.
        s.switchpoint = (static_cast<std::uint64_t>(hi) << 32) | lo;
        if (s.parent == 0 || (!result.empty() && s.parent <= result.back().parent)) return false;
        result.push_back(s);
    }
    if (!result.empty() && result.back().parent >= timeline) return false;
    out = std::move(result);
    return true;
}

HistoryPlace locate(const HistoryPoint& point, const HistoryPoint& current, bool in_recovery,
                    const std::vector<TimelineSwitch>& ancestors) {
    if (!point.known() || !current.known()) return HistoryPlace::elsewhere;
    if (point.timeline == current.timeline) {
        if (point.lsn <= current.lsn) return HistoryPlace::in_history;
        // A primary is never behind on its own timeline: WAL beyond its position on it was
        // written by a server that has since been replaced by this one.
        return in_recovery ? HistoryPlace::ahead_on_timeline : HistoryPlace::elsewhere;
    }
    for (const TimelineSwitch& s : ancestors)
        if (s.parent == point.timeline)
            return point.lsn <= s.switchpoint ? HistoryPlace::in_history : HistoryPlace::elsewhere;
    return HistoryPlace::elsewhere;
}

HistoryPoint later_point(const HistoryPoint& point, const HistoryPoint& current) {
    if (point.timeline == current.timeline && point.lsn > current.lsn) return point;
    return current;
}

}  // namespace delta_sync
