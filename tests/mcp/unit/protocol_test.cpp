// The protocol layer over an in-memory provider: JSON-RPC errors, version negotiation,
// pagination, reads written one content at a time, subscriptions and notifications.
#include "protocol.hpp"

#include <boost/test/unit_test.hpp>

using namespace delta_sync::mcp;

namespace {

// Contents produced on demand, counting how many were asked for; fails at `fail_at` if set.
class CountingStream : public ContentStream {
public:
    CountingStream(int n, int* produced, int fail_at)
        : n_(n), produced_(produced), fail_at_(fail_at) {}
    std::optional<Content> next() override {
        if (*produced_ == fail_at_) throw McpError(internal_error, "database unavailable: gone");
        if (*produced_ >= n_) return std::nullopt;
        ++*produced_;
        return Content{"mem://t", "application/json",
                       "{\"page\":" + std::to_string(*produced_) + "}"};
    }
    json meta() override { return {{"pages", *produced_}}; }

private:
    int n_;
    int* produced_;
    int fail_at_;
};

class MemoryProvider : public ResourceProvider {
public:
    int resources = 5;
    int pages = 3;
    int fail_at = -1;
    int produced = 0;
    std::set<std::string> watched;

    std::vector<ResourceEntry> list() override {
        std::vector<ResourceEntry> out;
        for (int i = 0; i < resources; ++i)
            out.push_back({"mem://t" + std::to_string(i), "t" + std::to_string(i), "", "",
                           "application/json"});
        return out;
    }
    std::vector<TemplateEntry> templates() override {
        return {{"mem://t{?since}", "t", "", "", "application/json"}};
    }
    std::unique_ptr<ContentStream> read(const std::string& uri) override {
        if (uri != "mem://t") throw McpError(resource_not_found, "resource not found: " + uri);
        produced = 0;
        return std::make_unique<CountingStream>(pages, &produced, fail_at);
    }
    std::string subscribable(const std::string& uri) override {
        if (uri != "mem://t") throw McpError(resource_not_found, "resource not found: " + uri);
        return uri;
    }
    void watch(const std::set<std::string>& uris) override { watched = uris; }
};

json request(int id, const std::string& method, json params = json::object()) {
    return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}

json answer(Protocol& p, const json& message, Session& s) {
    return json::parse(p.handle(message, s).collect());
}

json answer_text(Protocol& p, const std::string& text, Session& s) {
    return json::parse(p.handle_text(text, s).collect());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(protocol)

BOOST_AUTO_TEST_CASE(initialize_negotiates_the_version) {
    MemoryProvider m;
    Protocol p(m, {});
    Session s;
    json r = answer(p, request(1, "initialize", {{"protocolVersion", "2025-03-26"}}), s);
    BOOST_TEST(r["result"]["protocolVersion"] == "2025-03-26");
    BOOST_TEST(r["result"]["capabilities"]["resources"]["subscribe"] == true);
    BOOST_TEST(r["result"]["capabilities"]["resources"]["listChanged"] == true);
    BOOST_TEST(r["result"]["serverInfo"]["name"] == "delta-sync");
    r = answer(p, request(2, "initialize", {{"protocolVersion", "2025-06-18"}}), s);
    BOOST_TEST(r["result"]["protocolVersion"] == "2025-06-18");
    // A version it does not know: the newest it supports, for the client to accept or not.
    r = answer(p, request(3, "initialize", {{"protocolVersion", "2099-01-01"}}), s);
    BOOST_TEST(r["result"]["protocolVersion"] == "2025-06-18");
    r = answer(p, request(4, "initialize", json::object()), s);
    BOOST_TEST(r["error"]["code"] == invalid_params);
}

BOOST_AUTO_TEST_CASE(json_rpc_errors) {
    MemoryProvider m;
    Protocol p(m, {});
    Session s;
    json r = answer_text(p, "{\"jsonrpc\":", s);
    BOOST_TEST(r["error"]["code"] == parse_error);
    BOOST_TEST(r["id"].is_null());
    r = answer_text(p, "{\"id\":1,\"method\":\"ping\"}", s);
    BOOST_TEST(r["error"]["code"] == invalid_request);
    r = answer_text(p, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", s);
    BOOST_TEST(r["error"]["code"] == invalid_request);
    r = answer(p, request(7, "tools/list"), s);
    BOOST_TEST(r["error"]["code"] == method_not_found);
    BOOST_TEST(r["id"] == 7);
    r = answer(p, request(8, "resources/read", {{"uri", 3}}), s);
    BOOST_TEST(r["error"]["code"] == invalid_params);
    r = answer(p, request(9, "resources/read", {{"uri", "mem://nothing"}}), s);
    BOOST_TEST(r["error"]["code"] == resource_not_found);
    r = answer_text(p, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"ping\"}", s);
    BOOST_TEST(r["id"] == "x");
    BOOST_TEST(r["result"] == json::object());
    std::string big = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"p\":\"" +
                      std::string(max_message_bytes, 'x') + "\"}}";
    r = answer_text(p, big, s);
    BOOST_TEST(r["error"]["code"] == invalid_request);
}

BOOST_AUTO_TEST_CASE(notifications_and_responses_get_no_answer) {
    MemoryProvider m;
    Protocol p(m, {});
    Session s;
    BOOST_TEST(
        p.handle(json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, s).empty());
    BOOST_TEST(s.initialized);
    BOOST_TEST(p.handle(json{{"jsonrpc", "2.0"}, {"method", "no/such/notification"}}, s).empty());
    BOOST_TEST(
        p.handle(json{{"jsonrpc", "2.0"}, {"id", 1}, {"result", json::object()}}, s).empty());
}

BOOST_AUTO_TEST_CASE(batches) {
    MemoryProvider m;
    Protocol p(m, {});
    Session s;
    json batch = json::array({request(1, "ping"),
                              json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}},
                              request(2, "nope")});
    json r = answer(p, batch, s);
    BOOST_REQUIRE(r.is_array());
    BOOST_TEST(r.size() == 2u);
    BOOST_TEST(r[0]["result"] == json::object());
    BOOST_TEST(r[1]["error"]["code"] == method_not_found);
    BOOST_TEST(answer(p, json::array(), s)["error"]["code"] == invalid_request);
}

BOOST_AUTO_TEST_CASE(lists_are_paginated) {
    MemoryProvider m;
    Protocol p(m, {}, 2);
    Session s;
    std::vector<std::string> uris;
    json params = json::object();
    int pages = 0;
    for (;;) {
        json r = answer(p, request(1, "resources/list", params), s)["result"];
        for (const auto& x : r["resources"]) uris.push_back(x["uri"]);
        ++pages;
        if (!r.contains("nextCursor")) break;
        params = {{"cursor", r["nextCursor"]}};
    }
    BOOST_TEST(pages == 3);
    BOOST_TEST(uris.size() == 5u);
    BOOST_TEST(uris.back() == "mem://t4");
    for (json bad : {json("garbage"), json(12), json("o99"), json("o")})
        BOOST_TEST(answer(p, request(1, "resources/list", {{"cursor", bad}}), s)["error"]["code"] ==
                   invalid_params);
    json t = answer(p, request(1, "resources/templates/list"), s)["result"];
    BOOST_TEST(t["resourceTemplates"][0]["uriTemplate"] == "mem://t{?since}");
}

BOOST_AUTO_TEST_CASE(a_read_is_written_as_its_contents_arrive) {
    MemoryProvider m;
    m.pages = 4;
    Protocol p(m, {});
    Session s;
    Reply reply = p.handle(request(5, "resources/read", {{"uri", "mem://t"}}), s);
    BOOST_TEST(reply.streamed());
    BOOST_TEST(m.produced == 1);  // the first content, read before anything is written
    std::string text;
    int fragments = 0;
    while (auto f = reply.next()) {
        text += *f;
        ++fragments;
        BOOST_TEST(m.produced <= fragments + 1);  // never more than one content ahead
    }
    json r = json::parse(text);
    BOOST_TEST(r["id"] == 5);
    BOOST_TEST(r["result"]["contents"].size() == 4u);
    BOOST_TEST(r["result"]["contents"][3]["text"] == "{\"page\":4}");
    BOOST_TEST(r["result"]["contents"][0]["mimeType"] == "application/json");
    BOOST_TEST(r["result"]["_meta"]["deltaSync"]["complete"] == true);
    BOOST_TEST(r["result"]["_meta"]["deltaSync"]["contents"] == 4);
    BOOST_TEST(r["result"]["_meta"]["deltaSync"]["pages"] == 4);
}

BOOST_AUTO_TEST_CASE(a_read_that_fails_first_is_an_error) {
    MemoryProvider m;
    m.fail_at = 0;
    Protocol p(m, {});
    Session s;
    json r = answer(p, request(5, "resources/read", {{"uri", "mem://t"}}), s);
    BOOST_TEST(r["error"]["code"] == internal_error);
    BOOST_TEST(r["error"]["message"] == "database unavailable: gone");
}

BOOST_AUTO_TEST_CASE(a_read_that_fails_midway_says_it_is_incomplete) {
    MemoryProvider m;
    m.pages = 5;
    m.fail_at = 2;
    Protocol p(m, {});
    Session s;
    json r = answer(p, request(5, "resources/read", {{"uri", "mem://t"}}), s);
    BOOST_TEST(r["result"]["contents"].size() == 2u);
    BOOST_TEST(r["result"]["_meta"]["deltaSync"]["complete"] == false);
    BOOST_TEST(r["result"]["_meta"]["deltaSync"]["error"] == "database unavailable: gone");
}

BOOST_AUTO_TEST_CASE(subscriptions_reach_their_sessions_only) {
    MemoryProvider m;
    Protocol p(m, {});
    auto a = std::make_shared<Session>();
    auto b = std::make_shared<Session>();
    std::vector<std::string> got_a, got_b;
    a->deliver = [&](const std::string& t) { got_a.push_back(t); };
    b->deliver = [&](const std::string& t) { got_b.push_back(t); };
    p.begin(a);
    p.begin(b);
    BOOST_TEST(answer(p, request(1, "resources/subscribe", {{"uri", "mem://t"}}), *a)["result"] ==
               json::object());
    BOOST_TEST(answer(p, request(1, "resources/subscribe", {{"uri", "mem://x"}}),
                      *b)["error"]["code"] == resource_not_found);
    BOOST_TEST(m.watched == std::set<std::string>{"mem://t"});
    p.resource_updated("mem://t");
    BOOST_REQUIRE(got_a.size() == 1u);
    BOOST_TEST(got_b.empty());
    json n = json::parse(got_a[0]);
    BOOST_TEST(n["method"] == "notifications/resources/updated");
    BOOST_TEST(n["params"]["uri"] == "mem://t");
    BOOST_TEST(!n.contains("id"));

    // list_changed: to every initialized session.
    b->initialized = true;
    p.resource_list_changed();
    BOOST_TEST(got_a.size() == 1u);
    BOOST_REQUIRE(got_b.size() == 1u);
    BOOST_TEST(json::parse(got_b[0])["method"] == "notifications/resources/list_changed");

    answer(p, request(2, "resources/unsubscribe", {{"uri", "mem://t"}}), *a);
    BOOST_TEST(m.watched.empty());
    p.resource_updated("mem://t");
    BOOST_TEST(got_a.size() == 1u);
    answer(p, request(3, "resources/subscribe", {{"uri", "mem://t"}}), *a);
    p.end(*a);
    BOOST_TEST(m.watched.empty());  // a session that ended watches nothing
}

BOOST_AUTO_TEST_SUITE_END()
