// The transports without a database: stdio framing over pipes, and Streamable HTTP on a loopback
// port (origins, bearer token, sessions, size limit), over an in-memory provider.
#include "http_transport.hpp"
#include "stdio_transport.hpp"

#include <httplib.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <thread>

using namespace delta_sync::mcp;

namespace {

class EmptyProvider : public ResourceProvider {
public:
    std::vector<ResourceEntry> list() override { return {{"mem://a", "a", "", "", "text/plain"}}; }
    std::vector<TemplateEntry> templates() override { return {}; }
    std::unique_ptr<ContentStream> read(const std::string& uri) override {
        throw McpError(resource_not_found, "resource not found: " + uri);
    }
    std::string subscribable(const std::string& uri) override { return uri; }
    void watch(const std::set<std::string>&) override {}
};

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
        out.push_back(s.substr(start, nl - start));
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(line_splitter)

BOOST_AUTO_TEST_CASE(lines_across_chunks_and_oversized_ones) {
    LineSplitter split(10);
    std::vector<std::string> lines;
    int oversized = 0;
    auto on_line = [&](const std::string& l) { lines.push_back(l); };
    auto on_big = [&] { ++oversized; };
    split.feed("ab", on_line, on_big);
    split.feed("c\r\nde\n", on_line, on_big);
    split.feed("0123456789ABCDEF", on_line, on_big);  // over the limit: dropped while it streams
    split.feed("GHIJ", on_line, on_big);
    split.feed("KL\nok\n", on_line, on_big);
    split.feed("0123456789\n", on_line, on_big);  // exactly the limit
    BOOST_TEST(lines == (std::vector<std::string>{"abc", "de", "ok", "0123456789"}));
    BOOST_TEST(oversized == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(stdio_transport)

BOOST_AUTO_TEST_CASE(answers_in_order_and_stops_at_end_of_input) {
    EmptyProvider provider;
    Protocol protocol(provider, {});
    int in[2], out[2];
    BOOST_REQUIRE(pipe(in) == 0);
    BOOST_REQUIRE(pipe(out) == 0);
    std::string input =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n"
        "\n"
        "not json\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/list\"}\r\n" +
        std::string(max_message_bytes + 10, 'x') + "\n" +
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\",\"params\":{\"uri\":\"mem://"
        "z\"}}\n";
    std::thread writer([&] {
        std::string_view rest = input;
        while (!rest.empty()) {
            ssize_t n = write(in[1], rest.data(), rest.size());
            if (n <= 0) break;
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
        close(in[1]);
    });
    std::string output;
    std::thread reader([&] {
        char buf[4096];
        for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;)
            output.append(buf, static_cast<std::size_t>(n));
    });
    {
        StdioTransport transport(protocol, in[0], out[1]);
        transport.run();  // returns at the end of input
    }
    close(out[1]);
    writer.join();
    reader.join();
    close(in[0]);
    close(out[0]);
    auto lines = split_lines(output);
    BOOST_REQUIRE(lines.size() == 5u);
    BOOST_TEST(json::parse(lines[0])["id"] == 1);
    BOOST_TEST(json::parse(lines[1])["error"]["code"] == parse_error);
    BOOST_TEST(json::parse(lines[2])["result"]["resources"][0]["uri"] == "mem://a");
    BOOST_TEST(json::parse(lines[3])["error"]["code"] == invalid_request);
    BOOST_TEST(json::parse(lines[4])["error"]["code"] == resource_not_found);
}

BOOST_AUTO_TEST_CASE(stops_when_told) {
    EmptyProvider provider;
    Protocol protocol(provider, {});
    int in[2], out[2], stop[2];
    BOOST_REQUIRE(pipe(in) == 0);
    BOOST_REQUIRE(pipe(out) == 0);
    BOOST_REQUIRE(pipe(stop) == 0);
    StdioTransport transport(protocol, in[0], out[1], stop[0]);
    std::thread t([&] { transport.run(); });
    char c = 1;
    BOOST_REQUIRE(write(stop[1], &c, 1) == 1);
    t.join();  // the input is still open: only the stop pipe ended it
    for (int fd : {in[0], in[1], out[0], out[1], stop[0], stop[1]}) close(fd);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_transport)

BOOST_AUTO_TEST_CASE(origins) {
    std::vector<std::string> allowed = {"https://app.example"};
    for (const char* ok : {"", "http://localhost", "http://localhost:6274",
                           "https://127.0.0.1:3000", "http://[::1]:8080", "https://app.example"})
        BOOST_TEST(origin_allowed(ok, allowed), ok);
    for (const char* bad : {"http://evil.example", "http://localhost.evil.example",
                            "http://127.0.0.1.evil.example", "http://localhost:80x", "null",
                            "https://app.example.evil", "ftp://localhost", "http://localhost@evil"})
        BOOST_TEST(!origin_allowed(bad, allowed), bad);
}

BOOST_AUTO_TEST_CASE(token_sessions_and_limits) {
    EmptyProvider provider;
    Protocol protocol(provider, {});
    HttpOptions options;
    options.token = "s3cret";
    HttpTransport transport(protocol, options);
    int port = transport.bind();
    std::thread server([&] { transport.serve(); });

    httplib::Client client("127.0.0.1", port);
    const std::string init =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
    const std::string ping = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}";
    httplib::Headers auth = {{"Authorization", "Bearer s3cret"}};

    auto r = client.Post("/mcp", init, "application/json");
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 401);
    BOOST_TEST(r->get_header_value("WWW-Authenticate") == "Bearer");
    r = client.Post("/mcp", {{"Authorization", "Bearer s3creT"}}, init, "application/json");
    BOOST_TEST(r->status == 401);
    r = client.Post("/mcp", {{"Authorization", "Bearer s3cret"}, {"Origin", "http://evil.example"}},
                    init, "application/json");
    BOOST_TEST(r->status == 403);
    r = client.Post("/other", auth, init, "application/json");
    BOOST_TEST(r->status == 404);

    r = client.Post("/mcp", auth, init, "application/json");
    BOOST_REQUIRE(r);
    BOOST_TEST(r->status == 200);
    std::string session = r->get_header_value("Mcp-Session-Id");
    BOOST_TEST(session.size() == 64u);
    BOOST_TEST(json::parse(r->body)["result"]["protocolVersion"] == "2025-06-18");

    httplib::Headers in_session = {{"Authorization", "Bearer s3cret"}, {"Mcp-Session-Id", session}};
    r = client.Post("/mcp", auth, ping, "application/json");
    BOOST_TEST(r->status == 400);
    r = client.Post("/mcp", {{"Authorization", "Bearer s3cret"}, {"Mcp-Session-Id", "x"}}, ping,
                    "application/json");
    BOOST_TEST(r->status == 404);
    r = client.Post("/mcp", in_session, ping, "application/json");
    BOOST_TEST(r->status == 200);
    BOOST_TEST(json::parse(r->body)["result"] == json::object());
    r = client.Post("/mcp", in_session,
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                    "application/json");
    BOOST_TEST(r->status == 202);
    r = client.Post("/mcp", in_session, "[1", "application/json");
    BOOST_TEST(r->status == 400);
    BOOST_TEST(json::parse(r->body)["error"]["code"] == parse_error);
    r = client.Post("/mcp", in_session, std::string(max_message_bytes + 1, ' '),
                    "application/json");
    BOOST_TEST(r->status == 413);
    auto with_version = in_session;
    with_version.emplace("MCP-Protocol-Version", "2000-01-01");
    r = client.Post("/mcp", with_version, ping, "application/json");
    BOOST_TEST(r->status == 400);
    r = client.Put("/mcp", in_session, ping, "application/json");
    BOOST_TEST(r->status == 405);

    r = client.Delete("/mcp", in_session);
    BOOST_TEST(r->status == 200);
    r = client.Post("/mcp", in_session, ping, "application/json");
    BOOST_TEST(r->status == 404);

    transport.stop();
    server.join();
}

BOOST_AUTO_TEST_CASE(idle_sessions_end_and_too_many_are_refused) {
    EmptyProvider provider;
    Protocol protocol(provider, {});
    HttpOptions options;
    options.max_sessions = 2;
    options.session_idle_timeout = std::chrono::seconds(1);
    HttpTransport transport(protocol, options);
    int port = transport.bind();
    std::thread server([&] { transport.serve(); });
    httplib::Client client("127.0.0.1", port);
    const std::string init =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-03-26\"}}";
    auto first = client.Post("/mcp", init, "application/json");
    auto second = client.Post("/mcp", init, "application/json");
    BOOST_TEST(first->status == 200);
    BOOST_TEST(second->status == 200);
    BOOST_TEST(client.Post("/mcp", init, "application/json")->status == 503);
    // Once idle past the timeout, they are ended to make room; an ended session is unknown.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    BOOST_TEST(client.Post("/mcp", init, "application/json")->status == 200);
    httplib::Headers old = {{"Mcp-Session-Id", first->get_header_value("Mcp-Session-Id")}};
    BOOST_TEST(client
                   .Post("/mcp", old, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}",
                         "application/json")
                   ->status == 404);
    transport.stop();
    server.join();
}

BOOST_AUTO_TEST_SUITE_END()
