// The stdio transport: newline-delimited JSON-RPC messages on a pair of file descriptors (stdin and
// stdout for `delta-sync mcp`). One session; requests are answered in order; notifications from
// other threads are written between messages, never inside one. Nothing else is ever written to
// the output: logs go to stderr.
#pragma once

#include "protocol.hpp"

#include <memory>
#include <mutex>
#include <string>

namespace delta_sync::mcp {

// Splits a byte stream into lines of at most `limit` bytes; a longer line is dropped whole (its
// bytes are never kept) and reported once as oversized.
class LineSplitter {
public:
    explicit LineSplitter(std::size_t limit) : limit_(limit) {}
    // Feeds bytes; calls on_line(line) for each complete line (without "\n" or "\r\n") and
    // on_oversized() for each line over the limit.
    template <class OnLine, class OnOversized>
    void feed(std::string_view bytes, OnLine on_line, OnOversized on_oversized);

private:
    std::size_t limit_;
    std::string pending_;
    bool skipping_ = false;
};

class StdioTransport {
public:
    // stop_fd: readable when the transport must stop (SIGTERM); -1 for none.
    StdioTransport(Protocol& protocol, int in_fd, int out_fd, int stop_fd = -1);
    // Serves until the input ends, the output breaks or stop_fd becomes readable.
    void run();

private:
    bool write_all(std::string_view bytes);  // with out_mutex_ held
    bool send(Reply reply);

    Protocol& protocol_;
    int in_fd_, out_fd_, stop_fd_;
    std::shared_ptr<Session> session_;
    std::mutex out_mutex_;
    bool broken_ = false;
};

template <class OnLine, class OnOversized>
void LineSplitter::feed(std::string_view bytes, OnLine on_line, OnOversized on_oversized) {
    while (!bytes.empty()) {
        std::size_t nl = bytes.find('\n');
        std::string_view part = bytes.substr(0, nl);
        if (!skipping_) {
            if (pending_.size() + part.size() > limit_ + 1) {  // +1: a trailing '\r'
                pending_.clear();
                pending_.shrink_to_fit();
                skipping_ = true;
                on_oversized();
            } else {
                pending_.append(part);
            }
        }
        if (nl == std::string_view::npos) return;
        bytes.remove_prefix(nl + 1);
        if (skipping_) {
            skipping_ = false;
            continue;
        }
        std::string line = std::move(pending_);
        pending_.clear();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.size() > limit_) {
            on_oversized();
            continue;
        }
        on_line(line);
    }
}

}  // namespace delta_sync::mcp
