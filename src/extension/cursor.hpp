// The serverVersion cursor: a PostgreSQL snapshot (xmin, xmax, in-progress xids) plus the
// cluster's system identifier and the point of WAL history where the snapshot was taken (see
// history.cpp), packed into an opaque, URL-safe, checksummed string.
//
// Plain C++: no PostgreSQL headers, so it is unit-tested and fuzzed without a server. The
// extension converts between PostgreSQL's SnapshotData and this Cursor (snapshot_cursor.cpp).
#pragma once

#include "history.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace delta_sync {

struct Cursor {
    std::uint64_t system_id = 0;    // pg_control's system identifier of the cluster that made it
    HistoryPoint point;             // where in the WAL history (unknown in cursors of 1.1)
    std::uint64_t xmin = 0;         // every xid below this had finished when the cursor was taken
    std::uint64_t xmax = 0;         // every xid at or above this had not started
    std::vector<std::uint64_t> xip; // in progress at the time, sorted, each in [xmin, xmax)
    std::uint64_t shape = 0;        // digest of the shape it was read with (shape.hpp); 0: none

    // Was a change written by (committed, top-level) transaction `xid` already visible?
    bool sees(std::uint64_t xid) const noexcept;
    // Was every transaction up to and including `xid` finished (and so, if committed, visible)?
    bool sees_everything_through(std::uint64_t xid) const noexcept;

    bool operator==(const Cursor& o) const noexcept {
        return system_id == o.system_id && point == o.point && xmin == o.xmin && xmax == o.xmax &&
               xip == o.xip && shape == o.shape;
    }
};

enum class CursorError {
    none,
    empty,
    too_long,
    bad_character,  // outside the base64url alphabet, or non-canonical trailing bits
    bad_length,     // a length no encoding of a cursor has
    bad_checksum,   // altered or truncated
    bad_version,    // a format this build does not read
    bad_layout,     // checksum fine but the fields make no sense (xmin > xmax, unsorted xips, ...)
};

// Longest text accepted: far more than any real snapshot needs, small enough to refuse junk fast.
inline constexpr std::size_t max_cursor_text = 1 << 20;

// The cursor that sees an xid when a or b sees it (system id and shape of b, the later history point of the
// two: only for an `a` whose point lies in b's history or ahead on b's timeline). A delta answered from snapshot
// b to a client at cursor a hands this back: the client holds what either saw. Handing back b
// alone would forget what a lagging standby (b) has not replayed yet although the client got it
// from the primary (a), and a cursor blind to a row's creation leaves the row's deletion out.
Cursor join(const Cursor& a, const Cursor& b);

// A cursor with a known history point is written in format 2, or 3 when it belongs to a shape;
// one without (timeline 0) in the format of version 1.1, so that every cursor decoded re-encodes
// to the text it came from. (A shaped cursor always has a history point.)
std::string encode_cursor(const Cursor& cursor);
CursorError decode_cursor(std::string_view text, Cursor& out);
const char* describe(CursorError error) noexcept;

// CRC-32C (Castagnoli): detects every error burst of up to 32 bits, so every single-character
// change of the base64 text (at most 6 bits, spanning at most two bytes).
std::uint32_t crc32c(const unsigned char* data, std::size_t size) noexcept;

}  // namespace delta_sync
