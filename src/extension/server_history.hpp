// This server's place in its WAL history, read from PostgreSQL: its position, and the history
// file of its timeline (the rules that use them are in history.cpp).
#pragma once

#include "history.hpp"

namespace delta_sync {

// On a primary: the WAL insert position on the insertion timeline (stepped back over a page
// header it points just past). On a standby: the end of the record being replayed, on its
// timeline. Read after the statement's snapshot was taken, it is at or after the end of every
// commit record whose transaction that snapshot sees.
HistoryPoint current_history_point(bool in_recovery);

// Does `point` lie in the history of this server, now at `current`? Reads the timeline history
// file only for a point on an older timeline (once per backend and timeline: history files never
// change). A history file that is missing or unreadable counts as having no ancestors.
bool cursor_in_history(const HistoryPoint& point, const HistoryPoint& current, bool in_recovery);

}  // namespace delta_sync
