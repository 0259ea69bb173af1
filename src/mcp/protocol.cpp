// The MCP protocol layer (see protocol.hpp).
#include "protocol.hpp"

#include <algorithm>

namespace delta_sync::mcp {

namespace {

const char* const jsonrpc = "2.0";

std::string dump(const json& j) {
    // Invalid UTF-8 in a database string is replaced rather than failing the whole answer.
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json to_json(const ResourceEntry& r) {
    json j = {{"uri", r.uri}, {"name", r.name}};
    if (!r.title.empty()) j["title"] = r.title;
    if (!r.description.empty()) j["description"] = r.description;
    if (!r.mime_type.empty()) j["mimeType"] = r.mime_type;
    return j;
}

json to_json(const TemplateEntry& t) {
    json j = {{"uriTemplate", t.uri_template}, {"name", t.name}};
    if (!t.title.empty()) j["title"] = t.title;
    if (!t.description.empty()) j["description"] = t.description;
    if (!t.mime_type.empty()) j["mimeType"] = t.mime_type;
    return j;
}

const std::string& string_param(const json& params, const char* name) {
    if (!params.is_object() || !params.contains(name) || !params[name].is_string())
        throw McpError(invalid_params, std::string("params.") + name + " must be a string");
    return params[name].get_ref<const std::string&>();
}

bool valid_id(const json& id) {
    return id.is_string() || id.is_number_integer();
}

}  // namespace

const std::vector<std::string>& supported_versions() {
    static const std::vector<std::string> versions = {"2025-06-18", "2025-03-26", "2024-11-05"};
    return versions;
}

bool is_supported_version(std::string_view version) {
    const auto& v = supported_versions();
    return std::find(v.begin(), v.end(), version) != v.end();
}

std::string negotiate_version(std::string_view requested) {
    return is_supported_version(requested) ? std::string(requested) : supported_versions().front();
}

Reply::Reply(std::string whole) : whole_(std::move(whole)) {}

Reply::Reply(std::function<std::optional<std::string>()> fragments)
    : fragments_(std::move(fragments)) {}

std::optional<std::string> Reply::next() {
    if (whole_) {
        std::optional<std::string> out = std::move(whole_);
        whole_.reset();
        return out;
    }
    if (fragments_) {
        auto f = fragments_();
        if (!f) fragments_ = nullptr;
        return f;
    }
    return std::nullopt;
}

std::string Reply::collect() {
    std::string out;
    while (auto f = next()) out += *f;
    return out;
}

Protocol::Protocol(ResourceProvider& provider, ServerIdentity identity, std::size_t list_page_size)
    : provider_(provider),
      identity_(std::move(identity)),
      list_page_size_(std::max<std::size_t>(1, list_page_size)) {}

std::string Protocol::error_text(const json& id, int code, const std::string& message,
                                 const json& data) {
    json error = {{"code", code}, {"message", message}};
    if (!data.is_null()) error["data"] = data;
    return dump({{"jsonrpc", jsonrpc}, {"id", id}, {"error", error}});
}

Reply Protocol::handle_text(std::string_view text, Session& session) {
    if (text.size() > max_message_bytes)
        return Reply(error_text(
            nullptr, invalid_request,
            "message larger than " + std::to_string(max_message_bytes) + " bytes refused"));
    json message = json::parse(text.begin(), text.end(), nullptr, false);
    if (message.is_discarded())
        return Reply(error_text(nullptr, parse_error, "parse error: not a JSON text"));
    return handle(message, session);
}

Reply Protocol::handle(const json& message, Session& session) {
    if (!message.is_array()) return handle_request(message, session);
    // A batch (2025-03-26): every reply, in one array, written once all are done.
    if (message.empty())
        return Reply(error_text(nullptr, invalid_request, "invalid request: empty batch"));
    std::string out;
    for (const auto& m : message) {
        Reply r = handle_request(m, session);
        if (r.empty()) continue;
        out += out.empty() ? "[" : ",";
        out += r.collect();
    }
    if (out.empty()) return Reply();
    return Reply(out + "]");
}

Reply Protocol::handle_request(const json& message, Session& session) {
    if (!message.is_object() || message.value("jsonrpc", json()) != jsonrpc)
        return Reply(
            error_text(nullptr, invalid_request, "invalid request: not a JSON-RPC 2.0 message"));
    const bool has_id = message.contains("id");
    json id = has_id ? message["id"] : json();
    if (!message.contains("method")) {
        // A response from the client: this server sends no requests, so there is nothing to do.
        return Reply();
    }
    if (!message["method"].is_string() || (has_id && !valid_id(id)))
        return Reply(error_text(valid_id(id) ? id : json(), invalid_request,
                                "invalid request: method must be a string, id a string or "
                                "an integer"));
    const std::string& method = message["method"].get_ref<const std::string&>();
    json params = message.contains("params") ? message["params"] : json::object();
    if (!params.is_object() && !params.is_array())
        return has_id ? Reply(error_text(id, invalid_request,
                                         "invalid request: params must be an object"))
                      : Reply();

    if (!has_id) {  // a notification: never answered
        if (method == "notifications/initialized") session.initialized = true;
        return Reply();
    }
    try {
        if (method == "resources/read") return read(id, params);
        json result = dispatch(method, params, session);
        return Reply(dump({{"jsonrpc", jsonrpc}, {"id", id}, {"result", result}}));
    } catch (const McpError& e) {
        return Reply(error_text(id, e.code(), e.what(), e.data()));
    } catch (const std::exception& e) {
        return Reply(error_text(id, internal_error, e.what()));
    }
}

json Protocol::dispatch(const std::string& method, const json& params, Session& session) {
    if (method == "initialize") {
        const std::string& requested = string_param(params, "protocolVersion");
        session.version = negotiate_version(requested);
        json result = {
            {"protocolVersion", session.version},
            {"capabilities", {{"resources", {{"subscribe", true}, {"listChanged", true}}}}},
            {"serverInfo", {{"name", identity_.name}, {"version", identity_.version}}},
        };
        if (!identity_.instructions.empty()) result["instructions"] = identity_.instructions;
        return result;
    }
    if (method == "ping") return json::object();
    if (method == "resources/list") {
        json items = json::array();
        for (const auto& r : provider_.list()) items.push_back(to_json(r));
        return page(items, params, "resources");
    }
    if (method == "resources/templates/list") {
        json items = json::array();
        for (const auto& t : provider_.templates()) items.push_back(to_json(t));
        return page(items, params, "resourceTemplates");
    }
    if (method == "resources/subscribe" || method == "resources/unsubscribe") {
        const std::string& uri = string_param(params, "uri");
        bool subscribe = method == "resources/subscribe";
        // Unsubscribing needs no valid resource: the table may be gone already.
        std::string canonical = subscribe ? provider_.subscribable(uri) : uri;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (subscribe)
                session.subscriptions.insert(canonical);
            else
                session.subscriptions.erase(canonical);
        }
        subscriptions_changed();
        return json::object();
    }
    throw McpError(method_not_found, "method not found: " + method);
}

json Protocol::page(const json& items, const json& params, const char* key) {
    std::size_t offset = 0;
    if (params.is_object() && params.contains("cursor") && !params["cursor"].is_null()) {
        const json& c = params["cursor"];
        std::string s = c.is_string() ? c.get<std::string>() : "";
        // The cursor is the offset of the page, with a prefix so it reads as opaque.
        bool ok =
            s.size() > 1 && s[0] == 'o' && s.size() < 12 &&
            std::all_of(s.begin() + 1, s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (ok) offset = std::stoul(s.substr(1));
        if (!ok || offset > items.size()) throw McpError(invalid_params, "invalid cursor");
    }
    std::size_t end = std::min(items.size(), offset + list_page_size_);
    json result = {{key, json(items.begin() + offset, items.begin() + end)}};
    if (end < items.size()) result["nextCursor"] = "o" + std::to_string(end);
    return result;
}

// resources/read: {"contents":[...]} written one content at a time. The first content is read
// before anything is written, so errors a request can cause become a JSON-RPC error. A failure
// after that (the connection lost mid-snapshot) can no longer become one: the contents so far
// are closed and _meta says the read is incomplete.
Reply Protocol::read(const json& id, const json& params) {
    const std::string& uri = string_param(params, "uri");
    std::shared_ptr<ContentStream> stream = provider_.read(uri);
    auto content_text = [](const Content& c) {
        return dump({{"uri", c.uri}, {"mimeType", c.mime_type}, {"text", c.text}});
    };
    std::optional<Content> first = stream->next();  // may throw: answered as an error
    struct State {
        int step = 0;  // 0: head, 1: contents, 2: done
        std::size_t count = 0;
        std::optional<Content> pending;
    };
    auto state = std::make_shared<State>();
    state->pending = std::move(first);
    std::string head = "{\"jsonrpc\":\"2.0\",\"id\":" + dump(id) + ",\"result\":{\"contents\":[";
    return Reply([state, stream, head, content_text]() -> std::optional<std::string> {
        if (state->step == 2) return std::nullopt;
        std::string out;
        if (state->step == 0) {
            out = head;
            state->step = 1;
        }
        json meta;
        try {
            if (state->pending) {
                if (state->count++ > 0) out += ",";
                out += content_text(*state->pending);
                state->pending = stream->next();
                if (state->pending) return out;
            }
            meta = stream->meta();
            if (!meta.is_object()) meta = json::object();
            meta["complete"] = true;
        } catch (const std::exception& e) {
            meta = {{"complete", false}, {"error", e.what()}};
        }
        meta["contents"] = state->count;
        out += "],\"_meta\":{\"deltaSync\":" + dump(meta) + "}}}";
        state->step = 2;
        return out;
    });
}

void Protocol::begin(const std::shared_ptr<Session>& session) {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions_.push_back(session);
}

void Protocol::end(const Session& session) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                       [&](const std::weak_ptr<Session>& w) {
                                           auto s = w.lock();
                                           return !s || s.get() == &session;
                                       }),
                        sessions_.end());
    }
    subscriptions_changed();
}

void Protocol::subscriptions_changed() {
    // Held across the union and the call, so two sessions changing at once cannot hand the
    // provider their sets in the wrong order.
    std::lock_guard<std::mutex> serial(watch_mutex_);
    std::set<std::string> all;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& w : sessions_)
            if (auto s = w.lock()) all.insert(s->subscriptions.begin(), s->subscriptions.end());
    }
    provider_.watch(all);
}

void Protocol::resource_updated(const std::string& uri) {
    std::string text = dump({{"jsonrpc", jsonrpc},
                             {"method", "notifications/resources/updated"},
                             {"params", {{"uri", uri}}}});
    std::vector<std::shared_ptr<Session>> targets;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& w : sessions_)
            if (auto s = w.lock(); s && s->subscriptions.count(uri)) targets.push_back(s);
    }
    for (const auto& s : targets)
        if (s->deliver) s->deliver(text);
}

void Protocol::resource_list_changed() {
    std::string text =
        dump({{"jsonrpc", jsonrpc}, {"method", "notifications/resources/list_changed"}});
    std::vector<std::shared_ptr<Session>> targets;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& w : sessions_)
            if (auto s = w.lock(); s && s->initialized) targets.push_back(s);
    }
    for (const auto& s : targets)
        if (s->deliver) s->deliver(text);
}

}  // namespace delta_sync::mcp
