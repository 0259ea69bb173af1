// The first sync's progress line (see progress.hpp).
#include "progress.hpp"

#include <cstdio>

namespace delta_sync::client {

std::string with_thousands(long n) {
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

Progress::Progress(std::string label, double expected_rows, bool enabled)
    : label_(std::move(label)),
      expected_(expected_rows),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
    // An interrupted sync still leaves the terminal on a fresh line.
    if (enabled_ && drawn_) std::fputc('\n', stderr);
}

void Progress::add(long rows) {
    rows_ += rows;
    draw(false);
}

void Progress::finish() {
    // A pull too quick to have drawn anything leaves no trace.
    if (!enabled_ || !drawn_) return;
    draw(true);
    std::fputc('\n', stderr);
    drawn_ = false;
    enabled_ = false;
}

void Progress::draw(bool force) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    // A redraw ten times a second is smooth enough and costs nothing next to the sync.
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    double seconds = std::chrono::duration<double>(now - start_).count();
    long rate = seconds > 0 ? static_cast<long>(rows_ / seconds) : 0;
    std::string line = "\r" + label_ + ": " + with_thousands(rows_) + " rows";
    if (expected_ > 0) {
        int width = 30;
        double fraction = rows_ / expected_;
        if (fraction > 1) fraction = 1;
        int filled = static_cast<int>(fraction * width);
        line += " [" + std::string(filled, '#') + std::string(width - filled, ' ') + "] ~" +
                std::to_string(static_cast<int>(fraction * 100)) + "%";
    }
    line += ", " + with_thousands(rate) + " rows/s   ";
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    drawn_ = true;
}

}  // namespace delta_sync::client
