// Progress: the "rows, rows per second" line a long pull (a first sync, a big delta) draws on a
// terminal's stderr; a pull over within 100 ms draws nothing.
#pragma once

#include <chrono>
#include <string>

namespace delta_sync::client {

class Progress {
public:
    // expected_rows < 0: unknown. Draws nothing unless enabled.
    Progress(std::string label, double expected_rows, bool enabled);
    ~Progress();
    void add(long rows);
    // Draws the final state and ends the line.
    void finish();

private:
    void draw(bool force);

    std::string label_;
    double expected_;
    bool enabled_;
    bool drawn_ = false;
    long rows_ = 0;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1,234,567"
std::string with_thousands(long n);

}  // namespace delta_sync::client
