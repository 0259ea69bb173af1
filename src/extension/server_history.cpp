// Reads where this server is in its WAL history: its position and its timeline's history file.
// What those are used for, and why these positions, is argued in history.cpp.
//
// The history file is parsed here rather than by PostgreSQL's readTimeLineHistory(), which raises
// FATAL on a malformed file and would end the client's session; a file that cannot be read or
// parsed makes only cursors of older timelines resync. The file is read with the server's own
// rights, as the backend reads any file of the data directory: the caller learns nothing from it
// but whether its cursor is answered with a delta.
#include "server_history.hpp"

#include "boundary.hpp"

#include <string_view>
#include <vector>

extern "C" {
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogrecovery.h"
#include "lib/stringinfo.h"
#include "storage/fd.h"
}

namespace delta_sync {

namespace {

// History files are a line per ancestor timeline: a megabyte is far beyond any real one.
constexpr int max_history_file = 1 << 20;

struct RawFile {
    bool found;
    char* data;  // palloc'd
    int len;
};

// The text of pg_wal/<timeline>.history, or found = false.
RawFile read_history_file(std::uint32_t timeline) {
    return pg_guard([&] {
        RawFile r{};
        char path[MAXPGPATH];
        TLHistoryFilePath(path, timeline);
        FILE* f = AllocateFile(path, "r");
        if (f == nullptr) return r;
        StringInfoData buf;
        initStringInfo(&buf);
        char chunk[4096];
        size_t n;
        while (buf.len <= max_history_file && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            appendBinaryStringInfo(&buf, chunk, static_cast<int>(n));
        bool failed = ferror(f) != 0 || buf.len > max_history_file;
        FreeFile(f);
        if (failed) return r;
        r.found = true;
        r.data = buf.data;
        r.len = buf.len;
        return r;
    });
}

// Per backend: the ancestors of the last timeline whose history file was read and parsed.
struct AncestorCache {
    std::uint32_t timeline = 0;
    std::vector<TimelineSwitch> ancestors;
};
AncestorCache cache;

const std::vector<TimelineSwitch> none;

const std::vector<TimelineSwitch>& ancestors_of(std::uint32_t timeline) {
    if (cache.timeline == timeline) return cache.ancestors;
    if (timeline <= 1) return none;  // timeline 1 has no history file and no ancestors
    RawFile raw = read_history_file(timeline);
    if (!raw.found) return none;
    std::vector<TimelineSwitch> parsed;
    if (!parse_timeline_history(std::string_view(raw.data, static_cast<std::size_t>(raw.len)),
                                timeline, parsed))
        return none;
    cache.timeline = timeline;
    cache.ancestors = std::move(parsed);
    return cache.ancestors;
}

}  // namespace

HistoryPoint current_history_point(bool in_recovery) {
    struct Raw {
        std::uint32_t timeline;
        std::uint64_t lsn;
    };
    Raw raw = pg_guard([&] {
        Raw r{};
        if (in_recovery) {
            TimeLineID tli = 0;
            r.lsn = GetCurrentReplayRecPtr(&tli);
            r.timeline = tli;
        } else {
            r.timeline = GetWALInsertionTimeLine();
            XLogRecPtr at = GetXLogInsertRecPtr();
            // Just past a page header: the previous record ended at the page boundary.
            if (XLogSegmentOffset(at, wal_segment_size) == SizeOfXLogLongPHD)
                at -= SizeOfXLogLongPHD;
            else if (at % XLOG_BLCKSZ == SizeOfXLogShortPHD)
                at -= SizeOfXLogShortPHD;
            r.lsn = at;
        }
        return r;
    });
    return HistoryPoint{raw.timeline, raw.lsn};
}

bool cursor_in_history(const HistoryPoint& point, const HistoryPoint& current, bool in_recovery) {
    if (!point.known()) return false;
    const std::vector<TimelineSwitch>& ancestors =
        point.timeline < current.timeline ? ancestors_of(current.timeline) : none;
    return locate(point, current, in_recovery, ancestors) != HistoryPlace::elsewhere;
}

}  // namespace delta_sync
