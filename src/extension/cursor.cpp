// Cursor codec. Layout before base64url (no padding):
//   u8 format (=2) | u64le system_id | varint timeline | varint lsn | u64le xmin
//   | varint (xmax - xmin) | varint count
//   | count x varint (gap to the previous xip, the first relative to xmin) | u32le crc32c of all before
// Format 1 (version 1.1) is the same without timeline and lsn; it decodes to an unknown history
// point (timeline 0), which delta_since answers with fullResyncRequired. Format 3 (a shaped
// delta) is format 2 with a u64le shape digest (never 0) after lsn.
// Decoding accepts only what encoding produces: canonical base64, a checksum that matches, and
// fields that describe a real snapshot. Anything else is an error, never a guess.
#include "cursor.hpp"
#include "plain_cpp.hpp"  // plain C++: including a PostgreSQL header here fails the build

#include <algorithm>
#include <array>

namespace delta_sync {

namespace {

constexpr unsigned char format_v1 = 1;  // version 1.1: no history point
constexpr unsigned char format_version = 2;
constexpr unsigned char format_shaped = 3;  // format 2 plus the digest of the cursor's shape
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int, 256> make_decode_table() {
    std::array<int, 256> t{};
    for (auto& v : t) v = -1;
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
}
constexpr auto decode_table = make_decode_table();

constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
        t[i] = c;
    }
    return t;
}
constexpr auto crc_table = make_crc_table();

void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

// Reads from a byte range, refusing to run past its end.
struct Reader {
    const unsigned char* p;
    const unsigned char* end;

    bool u64(std::uint64_t& v) {
        if (end - p < 8) return false;
        v = 0;
        for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
        p += 8;
        return true;
    }
    bool varint(std::uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p == end) return false;
            unsigned char b = *p++;
            std::uint64_t part = b & 0x7f;
            if (shift == 63 && part > 1) return false;  // would overflow 64 bits
            v |= part << shift;
            if (!(b & 0x80)) return !(b == 0 && shift > 0);  // no overlong forms
        }
        return false;
    }
};

std::string base64url(const std::string& bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out.push_back(alphabet[(n >> 18) & 63]);
        out.push_back(alphabet[(n >> 12) & 63]);
        out.push_back(alphabet[(n >> 6) & 63]);
        out.push_back(alphabet[n & 63]);
    }
    std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        std::uint32_t n = byte(i) << 16;
        out.push_back(alphabet[(n >> 18) & 63]);
        out.push_back(alphabet[(n >> 12) & 63]);
    } else if (rest == 2) {
        std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
        out.push_back(alphabet[(n >> 18) & 63]);
        out.push_back(alphabet[(n >> 12) & 63]);
        out.push_back(alphabet[(n >> 6) & 63]);
    }
    return out;
}

// Strict decoding: unused low bits of the last character must be zero, so that each byte string
// has exactly one text (otherwise a changed last character could decode to the same bytes).
// Characters are judged before the length, so a text with a character no cursor has says so
// whatever its length.
CursorError unbase64url(std::string_view text, std::string& bytes) {
    for (char ch : text)
        if (decode_table[static_cast<unsigned char>(ch)] < 0) return CursorError::bad_character;
    if (text.size() % 4 == 1) return CursorError::bad_length;
    bytes.clear();
    bytes.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char ch : text) {
        int v = decode_table[static_cast<unsigned char>(ch)];
        if (v < 0) return CursorError::bad_character;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return CursorError::bad_character;
    return CursorError::none;
}

}  // namespace

std::uint32_t crc32c(const unsigned char* data, std::size_t size) noexcept {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < size; ++i) c = crc_table[(c ^ data[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

bool Cursor::sees(std::uint64_t xid) const noexcept {
    if (xid < xmin) return true;
    if (xid >= xmax) return false;
    return !std::binary_search(xip.begin(), xip.end(), xid);
}

Cursor join(const Cursor& a, const Cursor& b) {
    Cursor j;
    j.system_id = b.system_id;
    j.shape = b.shape;
    j.point = later_point(a.point, b.point);
    // Below the larger xmin one of them sees every xid; from the larger xmax on neither does.
    j.xmin = std::max(a.xmin, b.xmin);
    j.xmax = std::max(a.xmax, b.xmax);
    // In between, an xid stays in progress only when neither sees it.
    for (const Cursor* c : {&a, &b})
        for (std::uint64_t x : c->xip)
            if (x >= j.xmin && !a.sees(x) && !b.sees(x)) j.xip.push_back(x);
    // xids at or above the smaller xmax are unborn for one side and in progress (listed) or
    // visible for the other: only listed ones stay in progress, and those were added above.
    std::sort(j.xip.begin(), j.xip.end());
    j.xip.erase(std::unique(j.xip.begin(), j.xip.end()), j.xip.end());
    return j;
}

bool Cursor::sees_everything_through(std::uint64_t xid) const noexcept {
    return xid < xmax && (xip.empty() || xip.front() > xid);
}

std::string encode_cursor(const Cursor& cursor) {
    std::string bytes;
    bytes.reserve(32 + cursor.xip.size() * 2);
    bool v1 = !cursor.point.known();
    bool shaped = !v1 && cursor.shape != 0;
    bytes.push_back(static_cast<char>(v1 ? format_v1 : shaped ? format_shaped : format_version));
    put_u64(bytes, cursor.system_id);
    if (!v1) {
        put_varint(bytes, cursor.point.timeline);
        put_varint(bytes, cursor.point.lsn);
    }
    if (shaped) put_u64(bytes, cursor.shape);
    put_u64(bytes, cursor.xmin);
    put_varint(bytes, cursor.xmax - cursor.xmin);
    put_varint(bytes, cursor.xip.size());
    std::uint64_t prev = cursor.xmin;
    for (std::uint64_t x : cursor.xip) {
        put_varint(bytes, x - prev);
        prev = x;
    }
    std::uint32_t crc =
        crc32c(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    return base64url(bytes);
}

CursorError decode_cursor(std::string_view text, Cursor& out) {
    if (text.empty()) return CursorError::empty;
    if (text.size() > max_cursor_text) return CursorError::too_long;
    std::string bytes;
    if (CursorError e = unbase64url(text, bytes); e != CursorError::none) return e;
    // format + system id + xmin + two one-byte varints + crc (format 1, the shortest)
    if (bytes.size() < 1 + 8 + 8 + 1 + 1 + 4) return CursorError::bad_length;

    auto data = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t body = bytes.size() - 4;
    std::uint32_t stored = 0;
    for (int i = 0; i < 4; ++i) stored |= static_cast<std::uint32_t>(data[body + i]) << (8 * i);
    if (crc32c(data, body) != stored) return CursorError::bad_checksum;
    if (data[0] != format_version && data[0] != format_v1 && data[0] != format_shaped)
        return CursorError::bad_version;

    Reader r{data + 1, data + body};
    Cursor c;
    std::uint64_t span = 0, count = 0;
    if (!r.u64(c.system_id)) return CursorError::bad_layout;
    if (data[0] != format_v1) {
        std::uint64_t timeline = 0;
        if (!r.varint(timeline) || !r.varint(c.point.lsn)) return CursorError::bad_layout;
        // Timeline ids start at 1 and are 32 bits wide.
        if (timeline == 0 || timeline > UINT32_MAX) return CursorError::bad_layout;
        c.point.timeline = static_cast<std::uint32_t>(timeline);
    }
    // A shaped cursor's digest is never 0 (that is "no shape", written in format 2).
    if (data[0] == format_shaped && (!r.u64(c.shape) || c.shape == 0)) return CursorError::bad_layout;
    if (!r.u64(c.xmin) || !r.varint(span) || !r.varint(count)) return CursorError::bad_layout;
    // No snapshot has an xmin below the first normal xid (3); pg_snapshot refuses 0 outright.
    if (c.xmin < 3) return CursorError::bad_layout;
    if (span > UINT64_MAX - c.xmin) return CursorError::bad_layout;
    c.xmax = c.xmin + span;
    // Each xip takes at least one byte: a count beyond the bytes left is a lie, not a reason to
    // reserve memory.
    if (count > static_cast<std::uint64_t>(r.end - r.p) || count > span)
        return CursorError::bad_layout;
    c.xip.reserve(count);
    std::uint64_t prev = c.xmin;
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t gap = 0;
        if (!r.varint(gap)) return CursorError::bad_layout;
        if (i > 0 && gap == 0) return CursorError::bad_layout;  // strictly increasing
        if (gap >= c.xmax - prev) return CursorError::bad_layout;  // inside [xmin, xmax)
        prev += gap;
        c.xip.push_back(prev);
    }
    if (r.p != r.end) return CursorError::bad_layout;
    out = std::move(c);
    return CursorError::none;
}

const char* describe(CursorError error) noexcept {
    switch (error) {
    case CursorError::none: return "valid";
    case CursorError::empty: return "it is empty";
    case CursorError::too_long: return "it is far longer than any serverVersion";
    case CursorError::bad_character: return "it contains characters a serverVersion never has";
    case CursorError::bad_length: return "it has the length of no serverVersion";
    case CursorError::bad_checksum: return "its checksum does not match (altered or truncated)";
    case CursorError::bad_version: return "it was written in a format this version does not read";
    case CursorError::bad_layout: return "its fields do not describe a snapshot";
    }
    return "it is invalid";
}

}  // namespace delta_sync
