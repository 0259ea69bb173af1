// The Streamable HTTP transport: one endpoint, /mcp (cpp-httplib).
//   POST   one JSON-RPC message (or batch); a request is answered with application/json, a read
//          written as it is produced (chunked); notifications and responses get 202.
//   GET    the session's server-to-client stream (text/event-stream): resource notifications.
//   DELETE ends the session.
// initialize creates a session whose id (Mcp-Session-Id) every later request must carry (400
// without it, 404 once it has ended). Every request is checked first: an Origin that is not
// local nor allowed gets 403 (DNS rebinding), a missing or wrong bearer token 401, an unsupported
// MCP-Protocol-Version 400, a body over 1 MB 413.
#pragma once

#include "protocol.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace httplib {
class Server;
}

namespace delta_sync::mcp {

struct HttpOptions {
    std::string host = "127.0.0.1";
    int port = 0;                              // 0: any free port
    std::string token;                         // empty: no bearer token required
    std::vector<std::string> allowed_origins;  // besides http(s)://localhost, 127.0.0.1, [::1]
    std::size_t max_sessions = 256;
    // A session with no request and no open stream for this long is ended (a client that went
    // away without DELETE).
    std::chrono::seconds session_idle_timeout{1800};
};

// Whether a request's Origin header may reach the server (absent: a client that is no browser).
bool origin_allowed(const std::string& origin, const std::vector<std::string>& allowed);

class HttpTransport {
public:
    HttpTransport(Protocol& protocol, HttpOptions options);
    ~HttpTransport();
    // Binds the listening socket; returns the port. Throws std::runtime_error when it cannot.
    int bind();
    // Serves until stop().
    void serve();
    // Ends every stream and stops serving; callable from any thread.
    void stop();

private:
    struct Channel;
    void routes();
    std::shared_ptr<Channel> find(const std::string& id);  // and marks it used
    void end_idle_sessions();
    void close(const std::shared_ptr<Channel>& channel);

    Protocol& protocol_;
    HttpOptions options_;
    std::unique_ptr<httplib::Server> server_;
    std::mutex mutex_;  // guards channels_
    std::map<std::string, std::shared_ptr<Channel>> channels_;
    std::atomic<bool> stopping_{false};
};

}  // namespace delta_sync::mcp
