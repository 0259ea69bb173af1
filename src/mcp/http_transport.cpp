// The Streamable HTTP transport (see http_transport.hpp).
#include "http_transport.hpp"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <random>
#include <stdexcept>

namespace delta_sync::mcp {

namespace {

const char* const endpoint = "/mcp";
constexpr std::size_t max_queued_notifications = 1000;
constexpr auto keepalive = std::chrono::seconds(15);

std::string new_session_id() {
    std::random_device random;  // the kernel's generator: ids must not be guessable
    static const char digits[] = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 8; ++i) {
        unsigned v = random();
        for (int j = 0; j < 8; ++j, v >>= 4) id += digits[v & 15];
    }
    return id;
}

bool equal_in_constant_time(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

void json_error(httplib::Response& res, int status, int code, const std::string& message) {
    res.status = status;
    res.set_content(Protocol::error_text(nullptr, code, message), "application/json");
}

// Whether a JSON-RPC message (or batch) holds at least one request, i.e. needs an answer.
bool has_request(const json& message) {
    auto is_request = [](const json& m) {
        return m.is_object() && m.contains("method") && m.contains("id");
    };
    if (!message.is_array()) return !message.is_object() || is_request(message);
    if (message.empty()) return true;  // answered with an error
    for (const auto& m : message)
        if (is_request(m) || !m.is_object()) return true;
    return false;
}

}  // namespace

bool origin_allowed(const std::string& origin, const std::vector<std::string>& allowed) {
    if (origin.empty()) return true;
    for (const auto& a : allowed)
        if (origin == a) return true;
    for (const char* scheme : {"http://", "https://"}) {
        std::string s = scheme;
        if (origin.compare(0, s.size(), s) != 0) continue;
        std::string host = origin.substr(s.size());
        if (host.rfind("[::1]", 0) == 0) {
            host = host.substr(5);
        } else {
            auto colon = host.find(':');
            std::string name = host.substr(0, colon);
            if (name != "localhost" && name != "127.0.0.1") return false;
            host = colon == std::string::npos ? "" : host.substr(colon);
        }
        if (host.empty()) return true;
        // What may follow the host: a port, nothing else.
        if (host[0] != ':' || host.size() == 1 || host.size() > 6) return false;
        for (std::size_t i = 1; i < host.size(); ++i)
            if (host[i] < '0' || host[i] > '9') return false;
        return true;
    }
    return false;
}

// A session over HTTP: the protocol's session and the queue of notifications its GET stream
// sends.
struct HttpTransport::Channel {
    std::shared_ptr<Session> session = std::make_shared<Session>();
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::string> queue;
    bool closed = false;
    bool streaming = false;
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
};

HttpTransport::HttpTransport(Protocol& protocol, HttpOptions options)
    : protocol_(protocol),
      options_(std::move(options)),
      server_(std::make_unique<httplib::Server>()) {
    server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
    server_->set_payload_max_length(max_message_bytes);
    routes();
}

HttpTransport::~HttpTransport() {
    stop();
}

int HttpTransport::bind() {
    int port = options_.port;
    if (port == 0)
        port = server_->bind_to_any_port(options_.host);
    else if (!server_->bind_to_port(options_.host, port))
        port = -1;
    if (port <= 0)
        throw std::runtime_error("could not listen on " + options_.host + ":" +
                                 std::to_string(options_.port));
    return port;
}

void HttpTransport::serve() {
    server_->listen_after_bind();
}

void HttpTransport::stop() {
    if (stopping_.exchange(true)) return;
    std::vector<std::shared_ptr<Channel>> all;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& [id, c] : channels_) all.push_back(c);
    }
    for (auto& c : all) {
        std::lock_guard<std::mutex> lock(c->mutex);
        c->closed = true;
        c->wake.notify_all();
    }
    server_->stop();
}

std::shared_ptr<HttpTransport::Channel> HttpTransport::find(const std::string& id) {
    std::shared_ptr<Channel> channel;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = channels_.find(id);
        if (it == channels_.end()) return nullptr;
        channel = it->second;
    }
    std::lock_guard<std::mutex> lock(channel->mutex);
    channel->last_used = std::chrono::steady_clock::now();
    return channel;
}

void HttpTransport::end_idle_sessions() {
    std::vector<std::shared_ptr<Channel>> idle;
    auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& [id, c] : channels_) {
            std::lock_guard<std::mutex> channel_lock(c->mutex);
            if (!c->streaming && now - c->last_used >= options_.session_idle_timeout)
                idle.push_back(c);
        }
    }
    for (auto& c : idle) close(c);
}

void HttpTransport::close(const std::shared_ptr<Channel>& channel) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        channels_.erase(channel->session->id);
    }
    {
        std::lock_guard<std::mutex> lock(channel->mutex);
        channel->closed = true;
        channel->wake.notify_all();
    }
    protocol_.end(*channel->session);
}

void HttpTransport::routes() {
    using httplib::Request;
    using httplib::Response;
    server_->set_pre_routing_handler([this](const Request& req, Response& res) {
        if (req.path != endpoint) {
            json_error(res, 404, invalid_request, "not found: the MCP endpoint is /mcp");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!origin_allowed(req.get_header_value("Origin"), options_.allowed_origins)) {
            json_error(res, 403, invalid_request, "origin not allowed");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!options_.token.empty()) {
            std::string auth = req.get_header_value("Authorization");
            const std::string prefix = "Bearer ";
            if (auth.compare(0, prefix.size(), prefix) != 0 ||
                !equal_in_constant_time(auth.substr(prefix.size()), options_.token)) {
                res.set_header("WWW-Authenticate", "Bearer");
                json_error(res, 401, invalid_request,
                           "unauthorized: a valid bearer token is required");
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        if (req.has_header("MCP-Protocol-Version") &&
            !is_supported_version(req.get_header_value("MCP-Protocol-Version"))) {
            json_error(res, 400, invalid_request,
                       "unsupported MCP-Protocol-Version: " +
                           req.get_header_value("MCP-Protocol-Version"));
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });

    server_->Post(endpoint, [this](const Request& req, Response& res) {
        json message = json::parse(req.body, nullptr, false);
        if (message.is_discarded()) {
            json_error(res, 400, parse_error, "parse error: not a JSON text");
            return;
        }
        std::shared_ptr<Channel> channel;
        const bool initialize =
            message.is_object() && message.value("method", json()) == "initialize";
        if (initialize) {
            end_idle_sessions();
            channel = std::make_shared<Channel>();
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (channels_.size() >= options_.max_sessions) {
                    json_error(res, 503, internal_error, "too many sessions");
                    return;
                }
            }
            channel->session->id = new_session_id();
            std::weak_ptr<Channel> weak = channel;
            channel->session->deliver = [weak](const std::string& text) {
                auto c = weak.lock();
                if (!c) return;
                std::lock_guard<std::mutex> lock(c->mutex);
                if (c->closed) return;
                if (c->queue.size() >= max_queued_notifications) c->queue.pop_front();
                c->queue.push_back(text);
                c->wake.notify_all();
            };
        } else {
            std::string id = req.get_header_value("Mcp-Session-Id");
            if (id.empty()) {
                json_error(res, 400, invalid_request,
                           "bad request: Mcp-Session-Id header required");
                return;
            }
            channel = find(id);
            if (!channel) {
                json_error(res, 404, invalid_request, "session not found");
                return;
            }
        }
        const bool answer = has_request(message);
        Reply reply = protocol_.handle(message, *channel->session);
        if (initialize) {
            if (channel->session->version.empty()) {  // initialize failed: no session
                res.set_content(reply.collect(), "application/json");
                return;
            }
            {
                std::lock_guard<std::mutex> lock(mutex_);
                channels_[channel->session->id] = channel;
            }
            protocol_.begin(channel->session);
            res.set_header("Mcp-Session-Id", channel->session->id);
        }
        if (!answer || reply.empty()) {
            res.status = 202;
            return;
        }
        if (!reply.streamed()) {
            res.set_content(reply.collect(), "application/json");
            return;
        }
        auto shared = std::make_shared<Reply>(std::move(reply));
        res.set_chunked_content_provider("application/json",
                                         [shared](std::size_t, httplib::DataSink& sink) {
                                             auto fragment = shared->next();
                                             if (!fragment) {
                                                 sink.done();
                                                 return true;
                                             }
                                             return sink.write(fragment->data(), fragment->size());
                                         });
    });

    server_->Get(endpoint, [this](const Request& req, Response& res) {
        std::string id = req.get_header_value("Mcp-Session-Id");
        if (id.empty()) {
            json_error(res, 400, invalid_request, "bad request: Mcp-Session-Id header required");
            return;
        }
        auto channel = find(id);
        if (!channel) {
            json_error(res, 404, invalid_request, "session not found");
            return;
        }
        {
            std::lock_guard<std::mutex> lock(channel->mutex);
            if (channel->streaming) {
                json_error(res, 409, invalid_request, "this session already has a stream open");
                return;
            }
            channel->streaming = true;
        }
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [channel](std::size_t, httplib::DataSink& sink) {
                std::deque<std::string> batch;
                {
                    std::unique_lock<std::mutex> lock(channel->mutex);
                    channel->wake.wait_for(lock, keepalive, [&] {
                        return channel->closed || !channel->queue.empty();
                    });
                    if (channel->closed) {
                        sink.done();
                        return true;
                    }
                    batch.swap(channel->queue);
                }
                if (batch.empty()) return sink.write(": keepalive\n\n", 13);
                for (const auto& text : batch) {
                    std::string event = "event: message\ndata: " + text + "\n\n";
                    if (!sink.write(event.data(), event.size())) return false;
                }
                return true;
            },
            [channel](bool) {
                std::lock_guard<std::mutex> lock(channel->mutex);
                channel->streaming = false;
            });
    });

    server_->Delete(endpoint, [this](const Request& req, Response& res) {
        std::string id = req.get_header_value("Mcp-Session-Id");
        if (id.empty()) {
            json_error(res, 400, invalid_request, "bad request: Mcp-Session-Id header required");
            return;
        }
        auto channel = find(id);
        if (!channel) {
            json_error(res, 404, invalid_request, "session not found");
            return;
        }
        close(channel);
        res.status = 200;
    });

    auto not_allowed = [](const Request&, Response& res) {
        res.set_header("Allow", "GET, POST, DELETE");
        json_error(res, 405, invalid_request, "method not allowed");
    };
    server_->Put(endpoint, not_allowed);
    server_->Patch(endpoint, not_allowed);
}

}  // namespace delta_sync::mcp
