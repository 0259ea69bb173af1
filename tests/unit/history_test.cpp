// Timeline history files and the rule that places a cursor's point in a server's history
// (src/extension/history.cpp).
#include "history.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using delta_sync::HistoryPlace;
using delta_sync::HistoryPoint;
using delta_sync::locate;
using delta_sync::parse_timeline_history;
using delta_sync::TimelineSwitch;

namespace {

// As PostgreSQL writes them: one line per ancestor, copied from the parent's file, then a blank
// line and the new switch (writeTimeLineHistory() in timeline.c).
const char* const history_of_3 =
    "1\t0/3000060\tno recovery target specified\n"
    "\n"
    "2\t0/5A0001C8\tat restore point \"before\"\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(history)

BOOST_AUTO_TEST_CASE(parses_what_postgresql_writes) {
    std::vector<TimelineSwitch> s;
    BOOST_REQUIRE(parse_timeline_history(history_of_3, 3, s));
    BOOST_REQUIRE(s.size() == 2u);
    BOOST_TEST(s[0].parent == 1u);
    BOOST_TEST(s[0].switchpoint == 0x3000060ull);
    BOOST_TEST(s[1].parent == 2u);
    BOOST_TEST(s[1].switchpoint == 0x5A0001C8ull);
    BOOST_REQUIRE(parse_timeline_history("# comment\n  \n7\tFF/FFFFFFFF\n", 8, s));
    BOOST_TEST(s[0].switchpoint == 0xFFFFFFFFFFull);
    BOOST_REQUIRE(parse_timeline_history("", 2, s));  // no ancestors
    BOOST_TEST(s.empty());
}

BOOST_AUTO_TEST_CASE(refuses_what_postgresql_refuses) {
    std::vector<TimelineSwitch> s;
    for (const char* bad : {
             "x\t0/1\n",            // no timeline id
             "1\n",                 // no switch point
             "1\t0\n",              // half a switch point
             "1\t0/zz\n",           // not hexadecimal
             "2\t0/1\n1\t0/2\n",    // timelines out of order
             "1\t0/1\n1\t0/2\n",    // repeated
             "3\t0/1\n",            // not below the file's own timeline
             "0\t0/1\n",            // timeline 0 does not exist
             "99999999999\t0/1\n",  // beyond 32 bits
             "1\t123456789/0\n",    // beyond 32 bits
         }) {
        s = {{9, 9}};
        BOOST_TEST_CONTEXT(bad) {
            BOOST_TEST(!parse_timeline_history(bad, 3, s));
            BOOST_TEST(s.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_point_is_in_history_up_to_each_switch_point) {
    std::vector<TimelineSwitch> s;
    BOOST_REQUIRE(parse_timeline_history(history_of_3, 3, s));
    const HistoryPoint now{3, 0x60000000};
    struct Case {
        HistoryPoint point;
        bool in_recovery;
        HistoryPlace want;
    };
    for (const Case& c : std::vector<Case>{
             {{1, 0x1000000}, false, HistoryPlace::in_history},
             {{1, 0x3000060}, false, HistoryPlace::in_history},  // exactly at the switch
             {{1, 0x3000061}, false, HistoryPlace::elsewhere},   // past it: another history
             {{2, 0x5A0001C8}, false, HistoryPlace::in_history},
             {{2, 0x5A0001D0}, false, HistoryPlace::elsewhere},
             {{3, 0x60000000}, false, HistoryPlace::in_history},
             {{3, 0x60000008}, false, HistoryPlace::elsewhere},         // a primary is never behind
             {{3, 0x60000008}, true, HistoryPlace::ahead_on_timeline},  // a standby lags
             {{4, 0x100}, false, HistoryPlace::elsewhere},              // a newer timeline
             {{4, 0x100}, true, HistoryPlace::elsewhere},
             {{0, 0x100}, false, HistoryPlace::elsewhere},  // unknown (version 1.1)
         }) {
        BOOST_TEST_CONTEXT(c.point.timeline << "/" << std::hex << c.point.lsn) {
            BOOST_TEST((locate(c.point, now, c.in_recovery, s) == c.want));
        }
    }
    // Without the history file only the current timeline is known.
    BOOST_TEST((locate({1, 0x1000000}, now, false, {}) == HistoryPlace::elsewhere));
}

BOOST_AUTO_TEST_CASE(later_point_keeps_what_the_client_holds) {
    BOOST_TEST((delta_sync::later_point({2, 900}, {2, 500}) == HistoryPoint{2, 900}));
    BOOST_TEST((delta_sync::later_point({2, 300}, {2, 500}) == HistoryPoint{2, 500}));
    BOOST_TEST((delta_sync::later_point({1, 900}, {2, 500}) == HistoryPoint{2, 500}));
}

BOOST_AUTO_TEST_SUITE_END()
