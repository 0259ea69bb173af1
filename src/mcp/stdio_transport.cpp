// The stdio transport (see stdio_transport.hpp).
#include "stdio_transport.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace delta_sync::mcp {

StdioTransport::StdioTransport(Protocol& protocol, int in_fd, int out_fd, int stop_fd)
    : protocol_(protocol),
      in_fd_(in_fd),
      out_fd_(out_fd),
      stop_fd_(stop_fd),
      session_(std::make_shared<Session>()) {
    session_->deliver = [this](const std::string& text) {
        std::lock_guard<std::mutex> lock(out_mutex_);
        if (!broken_) write_all(text + "\n");
    };
}

bool StdioTransport::write_all(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(out_fd_, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                pollfd p{out_fd_, POLLOUT, 0};
                ::poll(&p, 1, 1000);
                continue;
            }
            broken_ = true;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Writes one reply, each fragment as it is produced, then the newline that ends the message.
bool StdioTransport::send(Reply reply) {
    if (reply.empty()) return true;
    std::lock_guard<std::mutex> lock(out_mutex_);
    if (broken_) return false;
    while (auto fragment = reply.next())
        if (!write_all(*fragment)) return false;
    return write_all("\n");
}

void StdioTransport::run() {
    protocol_.begin(session_);
    LineSplitter lines(max_message_bytes);
    char buffer[65536];
    bool done = false;
    while (!done) {
        pollfd fds[2] = {{in_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        int n = ::poll(fds, stop_fd_ >= 0 ? 2 : 1, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (stop_fd_ >= 0 && (fds[1].revents & POLLIN)) break;
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = ::read(in_fd_, buffer, sizeof buffer);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got <= 0) break;  // end of input: the client is gone
        lines.feed(
            std::string_view(buffer, static_cast<std::size_t>(got)),
            [&](const std::string& line) {
                if (done || line.find_first_not_of(" \t") == std::string::npos) return;
                if (!send(protocol_.handle_text(line, *session_))) done = true;
            },
            [&] {
                if (!send(Reply(Protocol::error_text(nullptr, invalid_request,
                                                     "message larger than " +
                                                         std::to_string(max_message_bytes) +
                                                         " bytes refused"))))
                    done = true;
            });
    }
    protocol_.end(*session_);
    std::lock_guard<std::mutex> lock(out_mutex_);
    broken_ = true;  // a notification raised from now on is dropped
}

}  // namespace delta_sync::mcp
