// The MCP protocol layer: JSON-RPC 2.0 messages, version negotiation, sessions and the resource
// methods, over an abstract ResourceProvider. It knows nothing of PostgreSQL nor of the transport:
// a transport hands it one message's text and writes what comes back (Reply), piece by piece.
//
// A resources/read answer can be far larger than memory should hold (a table's whole snapshot),
// so a provider returns a ContentStream and the reply is produced one content at a time: the
// transport pulls fragments of the response's JSON text and writes each as it comes.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace delta_sync::mcp {

using json = nlohmann::json;

// JSON-RPC 2.0 error codes, and MCP's "resource not found".
enum ErrorCode {
    parse_error = -32700,
    invalid_request = -32600,
    method_not_found = -32601,
    invalid_params = -32602,
    internal_error = -32603,
    resource_not_found = -32002,
};

// A JSON-RPC error to answer a request with: code, one-line message, optional data.
class McpError : public std::runtime_error {
public:
    McpError(int code, const std::string& message, json data = nullptr)
        : std::runtime_error(message), code_(code), data_(std::move(data)) {}
    int code() const { return code_; }
    const json& data() const { return data_; }

private:
    int code_;
    json data_;
};

// Messages larger than this are refused (stdio: the line is skipped; HTTP: 413).
constexpr std::size_t max_message_bytes = 1 << 20;

// The protocol versions this server speaks, newest first.
const std::vector<std::string>& supported_versions();
bool is_supported_version(std::string_view version);
// The version to answer an initialize with: the client's when supported, else our newest.
std::string negotiate_version(std::string_view requested);

struct ResourceEntry {
    std::string uri, name, title, description, mime_type;
};

struct TemplateEntry {
    std::string uri_template, name, title, description, mime_type;
};

struct Content {
    std::string uri, mime_type, text;
};

// The contents of one resources/read, produced one at a time. next() and meta() may throw
// McpError; next() returns nothing once every content has been produced.
class ContentStream {
public:
    virtual ~ContentStream() = default;
    virtual std::optional<Content> next() = 0;
    // The result's _meta once next() returned nothing (null: none). `complete` is added by the
    // protocol layer.
    virtual json meta() { return json::object(); }
};

// What the server serves. Every method may throw McpError.
class ResourceProvider {
public:
    virtual ~ResourceProvider() = default;
    virtual std::vector<ResourceEntry> list() = 0;
    virtual std::vector<TemplateEntry> templates() = 0;
    // Starts a read; errors that a request can cause (bad URI, bad cursor, permissions) are
    // raised here or by the first next(), before anything is written.
    virtual std::unique_ptr<ContentStream> read(const std::string& uri) = 0;
    // Checks that `uri` can be subscribed to; returns its canonical form.
    virtual std::string subscribable(const std::string& uri) = 0;
    // The set of URIs that have at least one subscriber has changed.
    virtual void watch(const std::set<std::string>& uris) = 0;
};

// One client's state. The transport sets `deliver`, which sends a server notification (the
// complete JSON text of one message) to this client; it may be called from any thread.
struct Session {
    std::string id;  // the Mcp-Session-Id (HTTP); empty on stdio
    std::string version;
    std::atomic<bool> initialized{false};
    std::set<std::string> subscriptions;
    std::function<void(const std::string&)> deliver;
};

// The outcome of one incoming message: nothing (a notification or a response), or the text of
// one JSON-RPC message produced as a sequence of fragments.
class Reply {
public:
    Reply() = default;
    explicit Reply(std::string whole);
    explicit Reply(std::function<std::optional<std::string>()> fragments);

    bool empty() const { return !whole_ && !fragments_; }
    // Produced piece by piece (a read) rather than known whole.
    bool streamed() const { return static_cast<bool>(fragments_); }
    // The next fragment of the message's text; nothing when it is complete.
    std::optional<std::string> next();
    // The whole message at once (for batches and tests).
    std::string collect();

private:
    std::optional<std::string> whole_;
    std::function<std::optional<std::string>()> fragments_;
};

// Notifications the resource layer raises; they reach every session that should see them.
class Notifier {
public:
    virtual ~Notifier() = default;
    virtual void resource_updated(const std::string& uri) = 0;
    virtual void resource_list_changed() = 0;
};

struct ServerIdentity {
    std::string name = "delta-sync";
    std::string version = "1.2";
    std::string instructions;
};

class Protocol : public Notifier {
public:
    Protocol(ResourceProvider& provider, ServerIdentity identity, std::size_t list_page_size = 100);

    // Handles one message's text (a JSON-RPC request, notification, response or batch).
    Reply handle_text(std::string_view text, Session& session);
    Reply handle(const json& message, Session& session);

    // Sessions that receive notifications; a session is dropped with end().
    void begin(const std::shared_ptr<Session>& session);
    void end(const Session& session);

    void resource_updated(const std::string& uri) override;
    void resource_list_changed() override;

    // A JSON-RPC error response's text.
    static std::string error_text(const json& id, int code, const std::string& message,
                                  const json& data = nullptr);

private:
    Reply handle_request(const json& message, Session& session);
    json dispatch(const std::string& method, const json& params, Session& session);
    Reply read(const json& id, const json& params);
    json page(const json& items, const json& params, const char* key);
    void subscriptions_changed();

    ResourceProvider& provider_;
    ServerIdentity identity_;
    std::size_t list_page_size_;
    std::mutex mutex_;        // guards sessions_ and every session's subscriptions
    std::mutex watch_mutex_;  // orders the calls of provider_.watch
    std::vector<std::weak_ptr<Session>> sessions_;
};

}  // namespace delta_sync::mcp
