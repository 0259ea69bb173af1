// The serverVersion codec: round trips, and rejection of every altered or truncated form; the
// format of version 1.1 still decodes (without a history point).
#include "cursor.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using delta_sync::Cursor;
using delta_sync::CursorError;
using delta_sync::decode_cursor;
using delta_sync::encode_cursor;

namespace {

Cursor sample(std::size_t nxip) {
    Cursor c;
    c.system_id = 7315846390258270001ull;
    c.point = {3, 0x1A2B3C4D5Eull};
    c.xmin = 4294967290ull;  // just below a 32-bit wrap: the codec is 64-bit throughout
    c.xmax = c.xmin + 10 + 3 * nxip;
    for (std::size_t i = 0; i < nxip; ++i) c.xip.push_back(c.xmin + 3 * i);
    return c;
}

const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

BOOST_AUTO_TEST_SUITE(cursor)

BOOST_AUTO_TEST_CASE(round_trips) {
    for (std::size_t n : {0u, 1u, 2u, 5u, 100u, 5000u}) {
        Cursor c = sample(n);
        std::string text = encode_cursor(c);
        Cursor back;
        BOOST_REQUIRE(decode_cursor(text, back) == CursorError::none);
        BOOST_TEST((back == c));
        BOOST_TEST(encode_cursor(back) == text);
    }
    Cursor extremes;
    extremes.system_id = UINT64_MAX;
    extremes.point = {UINT32_MAX, UINT64_MAX};
    extremes.xmin = UINT64_MAX - 3;
    extremes.xmax = UINT64_MAX;
    extremes.xip = {UINT64_MAX - 3, UINT64_MAX - 1};
    Cursor back;
    BOOST_REQUIRE(decode_cursor(encode_cursor(extremes), back) == CursorError::none);
    BOOST_TEST((back == extremes));
}

// A cursor issued by version 1.1 (format 1, no history point), as that version wrote it: the
// text below is the one its encoder produced for this cursor.
BOOST_AUTO_TEST_CASE(cursors_of_version_1_1_decode_without_a_history_point) {
    Cursor old;
    old.system_id = 7315846390258270001ull;
    old.xmin = 750;
    old.xmax = 760;
    old.xip = {752, 755};
    const std::string text_of_1_1 = "ATH_quqHG4dl7gIAAAAAAAAKAgID062lmQ";
    Cursor back;
    BOOST_REQUIRE(decode_cursor(text_of_1_1, back) == CursorError::none);
    BOOST_TEST((back == old));
    BOOST_TEST(!back.point.known());
    BOOST_TEST(encode_cursor(back) == text_of_1_1);
    // With a point it is written in the current format, which 1.1 does not read.
    old.point = {1, 0x3000060};
    std::string current = encode_cursor(old);
    BOOST_TEST(current != text_of_1_1);
    BOOST_REQUIRE(decode_cursor(current, back) == CursorError::none);
    BOOST_TEST((back == old));
}

// A cursor of no shape is written exactly as before shapes existed (format 2: the text below is
// what the encoder of 1.2 without shapes wrote), so the cursors clients hold stay valid. A shaped
// one is written in format 3 with its digest, which round-trips.
BOOST_AUTO_TEST_CASE(shaped_cursors_carry_their_shape_and_unshaped_ones_keep_their_text) {
    Cursor c;
    c.system_id = 7315846390258270001ull;
    c.point = {1, 0x3000060};
    c.xmin = 750;
    c.xmax = 760;
    c.xip = {752, 755};
    const std::string text_without_shapes = "AjH_quqHG4dlAeCAgBjuAgAAAAAAAAoCAgNPZ_eP";
    BOOST_TEST(encode_cursor(c) == text_without_shapes);
    Cursor back;
    BOOST_REQUIRE(decode_cursor(text_without_shapes, back) == CursorError::none);
    BOOST_TEST(back.shape == 0u);

    c.shape = 0x0123456789abcdefull;
    std::string shaped = encode_cursor(c);
    BOOST_TEST(shaped != text_without_shapes);
    BOOST_REQUIRE(decode_cursor(shaped, back) == CursorError::none);
    BOOST_TEST((back == c));
    BOOST_TEST(encode_cursor(back) == shaped);
    Cursor other = c;
    other.shape = 1;
    BOOST_TEST(!(other == c));

    // The join is the shape of the snapshot it is answered from (b).
    Cursor a = c;
    a.shape = 0;
    BOOST_TEST(delta_sync::join(a, c).shape == c.shape);
    BOOST_TEST(delta_sync::join(c, a).shape == 0u);
}

BOOST_AUTO_TEST_CASE(join_keeps_the_later_history_point) {
    Cursor a = sample(2), b = sample(1);
    a.point = {2, 5000};
    b.point = {2, 4000};  // a lagging standby of a's timeline
    BOOST_TEST((delta_sync::join(a, b).point == a.point));
    b.point = {2, 6000};
    BOOST_TEST((delta_sync::join(a, b).point == b.point));
    a.point = {1, 9000};  // an ancestor timeline: b is later whatever the positions
    BOOST_TEST((delta_sync::join(a, b).point == b.point));
}

BOOST_AUTO_TEST_CASE(is_url_safe_ascii) {
    std::string text = encode_cursor(sample(40));
    for (char ch : text) BOOST_TEST((std::string(alphabet).find(ch) != std::string::npos));
}

BOOST_AUTO_TEST_CASE(visibility_follows_the_snapshot) {
    Cursor c;
    c.xmin = 100;
    c.xmax = 110;
    c.xip = {100, 105};
    BOOST_TEST(c.sees(99));
    BOOST_TEST(!c.sees(100));
    BOOST_TEST(c.sees(101));
    BOOST_TEST(!c.sees(105));
    BOOST_TEST(c.sees(109));
    BOOST_TEST(!c.sees(110));
    BOOST_TEST(!c.sees(1000));
}

BOOST_AUTO_TEST_CASE(sees_everything_through_means_every_xid_up_to_it) {
    Cursor c;
    c.xmin = 100;
    c.xmax = 110;
    c.xip = {104, 107};
    for (std::uint64_t through = 90; through < 120; ++through) {
        bool all = true;
        for (std::uint64_t x = 1; x <= through; ++x) all = all && c.sees(x);
        BOOST_TEST_CONTEXT("through " << through) { BOOST_TEST(c.sees_everything_through(through) == all); }
    }
}

BOOST_AUTO_TEST_CASE(join_sees_what_either_sees) {
    // Every relative placement of two snapshots' windows, checked xid by xid.
    const std::vector<std::pair<Cursor, Cursor>> cases = [] {
        std::vector<std::pair<Cursor, Cursor>> v;
        auto make = [](std::uint64_t xmin, std::uint64_t xmax, std::vector<std::uint64_t> xip) {
            Cursor c;
            c.xmin = xmin;
            c.xmax = xmax;
            c.xip = std::move(xip);
            return c;
        };
        v.push_back({make(100, 120, {100, 105, 110}), make(108, 130, {108, 115, 125})});
        v.push_back({make(108, 130, {108, 115, 125}), make(100, 120, {100, 105, 110})});
        v.push_back({make(100, 100, {}), make(90, 140, {90, 100, 139})});
        v.push_back({make(100, 110, {100, 101}), make(100, 110, {101, 102})});
        v.push_back({make(50, 60, {55}), make(100, 120, {100, 119})});  // disjoint windows
        return v;
    }();
    for (const auto& [a, b] : cases) {
        Cursor j = delta_sync::join(a, b);
        for (std::uint64_t x = 40; x < 150; ++x)
            BOOST_TEST_CONTEXT("xid " << x) { BOOST_TEST(j.sees(x) == (a.sees(x) || b.sees(x))); }
        Cursor back;
        BOOST_REQUIRE(decode_cursor(encode_cursor(j), back) == CursorError::none);
        BOOST_TEST((back == j));
    }
}

BOOST_AUTO_TEST_CASE(every_single_character_change_is_rejected) {
    for (std::size_t n : {0u, 3u, 64u}) {
        const std::string text = encode_cursor(sample(n));
        long tried = 0;
        for (std::size_t pos = 0; pos < text.size(); ++pos) {
            for (int ch = 0; ch < 256; ++ch) {
                if (static_cast<char>(ch) == text[pos]) continue;
                std::string altered = text;
                altered[pos] = static_cast<char>(ch);
                Cursor out;
                ++tried;
                BOOST_TEST_CONTEXT("position " << pos << " character " << ch) {
                    BOOST_TEST((decode_cursor(altered, out) != CursorError::none));
                }
            }
        }
        BOOST_TEST_MESSAGE("single-character changes tried: " << tried);
        BOOST_TEST(tried == static_cast<long>(text.size()) * 255);
    }
}

BOOST_AUTO_TEST_CASE(every_truncation_and_extension_is_rejected) {
    const std::string text = encode_cursor(sample(10));
    for (std::size_t len = 0; len < text.size(); ++len) {
        Cursor out;
        BOOST_TEST_CONTEXT("prefix of length " << len) {
            BOOST_TEST((decode_cursor(text.substr(0, len), out) != CursorError::none));
        }
        BOOST_TEST_CONTEXT("suffix from " << len + 1) {
            BOOST_TEST((decode_cursor(text.substr(len + 1), out) != CursorError::none));
        }
    }
    for (char ch : std::string(alphabet)) {
        Cursor out;
        BOOST_TEST((decode_cursor(text + ch, out) != CursorError::none));
    }
}

BOOST_AUTO_TEST_CASE(malformed_inputs_say_why) {
    Cursor out;
    BOOST_TEST((decode_cursor("", out) == CursorError::empty));
    BOOST_TEST((decode_cursor("not a cursor", out) == CursorError::bad_character));
    BOOST_TEST((decode_cursor("A", out) == CursorError::bad_length));
    // A character no cursor has is named as such at every length (not taken for a bad length).
    for (std::size_t n : {1u, 2u, 3u, 4u}) {
        const std::string text = encode_cursor(sample(n));
        for (const char* bad : {" ", "=", "+/", "!!!"}) {
            BOOST_TEST_CONTEXT(text << bad) {
                BOOST_TEST((decode_cursor(text + bad, out) == CursorError::bad_character));
            }
        }
    }
    BOOST_TEST((decode_cursor(std::string(delta_sync::max_cursor_text + 1, 'A'), out) ==
                CursorError::too_long));
    BOOST_TEST((decode_cursor("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", out) == CursorError::bad_checksum));
    BOOST_TEST(std::string(delta_sync::describe(CursorError::bad_checksum)).find("checksum") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(checksummed_nonsense_is_rejected) {
    // Valid checksum over fields that describe no snapshot: the decoder checks the layout too.
    Cursor c = sample(3);
    std::swap(c.xip[0], c.xip[2]);  // unsorted
    Cursor out;
    BOOST_TEST((decode_cursor(encode_cursor(c), out) == CursorError::bad_layout));
    Cursor outside = sample(0);
    outside.xip = {outside.xmax};  // not inside [xmin, xmax)
    BOOST_TEST((decode_cursor(encode_cursor(outside), out) == CursorError::bad_layout));
    Cursor no_xmin = sample(0);
    no_xmin.xmin = 0;  // InvalidTransactionId: no snapshot has it
    BOOST_TEST((decode_cursor(encode_cursor(no_xmin), out) == CursorError::bad_layout));
}

BOOST_AUTO_TEST_SUITE_END()
