// libFuzzer target for the serverVersion parser, the one piece of C++ that reads text straight
// from any client. Built with AddressSanitizer and UBSan by tests/fuzz.sh (`make fuzz`).
//
// Three modes, chosen by the first byte:
//  - 0: the rest is a serverVersion text as a client could send it (mostly dies at the
//    alphabet, length or checksum checks);
//  - 1: the rest is a cursor body that gets a correct checksum and encoding before decoding,
//    so the fuzzer reaches the field parser behind the checksum;
//  - 2: as 1, then the last two bytes pick one character of the text and what replaces it: a
//    valid cursor altered by one character, as a client bug or an attacker would alter it.
// Whatever decodes must describe a real snapshot and re-encode to exactly the text it came from:
// a format-2 cursor with its history point, a format-1 one (version 1.1) without (the body of
// modes 1 and 2 starts with the format byte, so the fuzzer reaches both layouts).
#include "cursor.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(const std::string& bytes) {
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t n = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8) |
                          std::uint8_t(bytes[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(n >> s) & 63]);
    }
    std::size_t rest = bytes.size() - i;
    if (rest) {
        std::uint32_t n = std::uint8_t(bytes[i]) << 16;
        if (rest == 2) n |= std::uint8_t(bytes[i + 1]) << 8;
        for (std::size_t k = 0; k <= rest; ++k) out.push_back(alphabet[(n >> (18 - 6 * k)) & 63]);
    }
    return out;
}

void check(const std::string& text) {
    delta_sync::Cursor c;
    if (delta_sync::decode_cursor(text, c) != delta_sync::CursorError::none) return;
    if (c.xmin > c.xmax || c.xmin == 0) std::abort();
    for (std::size_t i = 0; i < c.xip.size(); ++i) {
        if (c.xip[i] < c.xmin || c.xip[i] >= c.xmax) std::abort();
        if (i > 0 && c.xip[i] <= c.xip[i - 1]) std::abort();
    }
    if (delta_sync::encode_cursor(c) != text) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    int mode = data[0] % 3;
    std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
    if (mode == 0) {
        check(rest);
        return 0;
    }
    std::uint8_t where = 0, what = 0;
    if (mode == 2) {
        if (rest.size() < 2) return 0;
        where = std::uint8_t(rest[rest.size() - 2]);
        what = std::uint8_t(rest.back());
        rest.resize(rest.size() - 2);
    }
    std::uint32_t crc =
        delta_sync::crc32c(reinterpret_cast<const unsigned char*>(rest.data()), rest.size());
    for (int i = 0; i < 4; ++i) rest.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
    std::string text = base64url(rest);
    if (mode == 2) {
        // Count positions from the end: the last characters carry the unused bits.
        std::size_t pos = text.size() - 1 - where % text.size();
        if (text[pos] == static_cast<char>(what)) return 0;
        text[pos] = static_cast<char>(what);
        delta_sync::Cursor c;
        if (delta_sync::decode_cursor(text, c) == delta_sync::CursorError::none) std::abort();
        return 0;
    }
    check(text);
    return 0;
}
