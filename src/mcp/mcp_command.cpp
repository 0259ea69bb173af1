// `delta-sync mcp` (see mcp_command.hpp).
#include "mcp_command.hpp"

#include "change_feed.hpp"
#include "errors.hpp"
#include "http_transport.hpp"
#include "protocol.hpp"
#include "server.hpp"
#include "stdio_transport.hpp"
#include "table_resources.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>

namespace delta_sync::mcp {

namespace {

const char* const help =
    "Usage: delta-sync mcp [TABLE...] [options]\n"
    "\n"
    "Serves tracked tables as MCP resources: db://<table>/delta (every live row),\n"
    "db://<table>/delta{?since} (what changed since a serverVersion) and db://<table>/schema.\n"
    "Without TABLE: every tracked table the role may SELECT. Subscriptions get\n"
    "notifications/resources/updated when a table gets a commit.\n"
    "\n"
    "Options:\n"
    "  --dsn DSN              PostgreSQL connection (else DATABASE_URL, else libpq's PG* "
    "variables)\n"
    "  --http [HOST:]PORT     Streamable HTTP at http://HOST:PORT/mcp (HOST 127.0.0.1 unless "
    "given;\n"
    "                         PORT 0 picks a free one) instead of stdio\n"
    "  --token-file FILE      HTTP: require 'Authorization: Bearer <first line of FILE>'\n"
    "                         (or the token in DELTA_SYNC_MCP_TOKEN)\n"
    "  --allow-origin ORIGIN  HTTP: a browser Origin to accept besides localhost (repeatable)\n"
    "  --shape [NAME=]TABLE[(COL,...)]:FILTER\n"
    "                         serve a shape of TABLE as db://NAME/delta (NAME: TABLE by default,\n"
    "                         which restricts the table's own resource): its rows matching FILTER,\n"
    "                         the COLs and the key; the extension checks FILTER (repeatable)\n"
    "  --page-size N          rows per delta_since page, so per content of a read (10000)\n"
    "  --poll-interval MS     servers before 1.2 (no delta_sync.wait): poll period where\n"
    "                         NOTIFY is off or on a standby (50)\n"
    "  --list-page-size N     resources per resources/list page (100)\n"
    "\n"
    "stdio: newline-delimited JSON-RPC on stdin/stdout; logs on stderr. Stops at the end of\n"
    "input, on SIGTERM or SIGINT.\n";

struct Options {
    std::vector<std::string> tables;
    std::optional<std::string> dsn;
    std::optional<std::string> http;
    std::optional<std::string> token_file;
    std::vector<std::string> origins;
    std::vector<ServedShape> shapes;
    int page_size = 10000;
    int poll_interval = 50;
    int list_page_size = 100;
    bool help = false;
};

int to_int(const std::string& option, const std::string& value, int min, int max) {
    std::size_t used = 0;
    long v = 0;
    try {
        v = std::stol(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != value.size() || value.empty() || v < min || v > max)
        throw std::invalid_argument("--" + option + " must be an integer from " +
                                    std::to_string(min) + " to " + std::to_string(max) + ", not " +
                                    value);
    return static_cast<int>(v);
}

Options parse(const std::vector<std::string>& args) {
    Options o;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            o.help = true;
            continue;
        }
        if (a.rfind("--", 0) != 0) {
            o.tables.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        static const std::vector<std::string> known = {
            "dsn",       "http",          "token-file",    "allow-origin",
            "page-size", "poll-interval", "list-page-size", "shape"};
        if (std::find(known.begin(), known.end(), name) == known.end())
            throw std::invalid_argument("unknown option --" + name +
                                        " (see delta-sync mcp --help)");
        if (!inline_value) {
            if (i + 1 >= args.size()) throw std::invalid_argument("--" + name + " needs a value");
            value = args[++i];
        }
        if (name == "dsn")
            o.dsn = value;
        else if (name == "http")
            o.http = value;
        else if (name == "token-file")
            o.token_file = value;
        else if (name == "allow-origin")
            o.origins.push_back(value);
        else if (name == "shape")
            o.shapes.push_back(parse_shape_option(value));
        else if (name == "page-size")
            o.page_size = to_int(name, value, 1, 1000000);
        else if (name == "poll-interval")
            o.poll_interval = to_int(name, value, 1, 60000);
        else if (name == "list-page-size")
            o.list_page_size = to_int(name, value, 1, 100000);
    }
    return o;
}

HttpOptions http_options(const Options& o) {
    HttpOptions h;
    std::string spec = *o.http;
    if (auto colon = spec.rfind(':'); colon != std::string::npos) {
        h.host = spec.substr(0, colon);
        if (h.host.size() > 1 && h.host.front() == '[' && h.host.back() == ']')
            h.host = h.host.substr(1, h.host.size() - 2);
        spec = spec.substr(colon + 1);
    }
    h.port = to_int("http", spec, 0, 65535);
    if (o.token_file) {
        std::ifstream in(*o.token_file);
        if (!in) throw std::invalid_argument("could not read token file " + *o.token_file);
        std::getline(in, h.token);
        while (!h.token.empty() && (h.token.back() == '\r' || h.token.back() == ' '))
            h.token.pop_back();
        if (h.token.empty())
            throw std::invalid_argument("token file " + *o.token_file + " is empty");
    } else if (const char* t = std::getenv("DELTA_SYNC_MCP_TOKEN"); t && *t) {
        h.token = t;
    }
    h.allowed_origins = o.origins;
    return h;
}

void log_line(const std::string& message) {
    std::cerr << "delta-sync mcp: " << message << std::endl;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
    Options options;
    std::optional<HttpOptions> http;
    try {
        options = parse(args);
        if (options.help) {
            std::cout << help;
            return 0;
        }
        if (options.http) http = http_options(options);
    } catch (const std::exception& e) {
        std::cerr << "delta-sync mcp: " << e.what() << std::endl;
        return 2;
    }

    // SIGTERM and SIGINT are taken by one thread with sigwait; every other thread blocks them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    const std::string dsn = client::choose_dsn(options.dsn);
    TablesConfig tables{dsn, options.tables, options.page_size, options.shapes};
    FeedConfig feed_config;
    feed_config.dsn = dsn;
    feed_config.tables = options.tables;
    feed_config.shapes = options.shapes;
    feed_config.poll_interval = std::chrono::milliseconds(options.poll_interval);

    // The protocol needs the provider, the provider the feed, the feed the protocol (to notify).
    struct Relay : Notifier {
        Protocol* protocol = nullptr;
        void resource_updated(const std::string& uri) override {
            if (protocol) protocol->resource_updated(uri);
        }
        void resource_list_changed() override {
            if (protocol) protocol->resource_list_changed();
        }
    } relay;
    ChangeFeed feed(feed_config, relay);
    TableResources resources(tables, &feed);
    ServerIdentity identity;
    identity.instructions =
        "Each db://<table>/delta resource is a PostgreSQL table kept by delta_sync. Read it once "
        "without since for every live row, keep the serverVersion, then read "
        "db://<table>/delta?since=<serverVersion> for only what was created, updated or deleted. "
        "A read has one content per page; apply them all (deleted, then updated, then created) "
        "before keeping the serverVersion. Subscribe to hear of commits.";
    Protocol protocol(resources, identity, static_cast<std::size_t>(options.list_page_size));
    relay.protocol = &protocol;

    try {
        auto tables_now = served_tables(client::Server(dsn).connection(), options.tables);
        log_line("serving " + std::to_string(tables_now.size()) + " table(s)");
    } catch (const std::exception& e) {
        log_line("could not list the tables for now (each request tries again): " +
                 client::one_line(e.what()));
    }

    int stop_pipe[2];
    if (pipe(stop_pipe) != 0) {
        log_line("could not create a pipe");
        return 2;
    }
    std::unique_ptr<HttpTransport> http_transport;
    if (http) {
        http_transport = std::make_unique<HttpTransport>(protocol, *http);
        try {
            int port = http_transport->bind();
            std::string host =
                http->host.find(':') != std::string::npos ? "[" + http->host + "]" : http->host;
            log_line("listening on http://" + host + ":" + std::to_string(port) + "/mcp" +
                     (http->token.empty() ? "" : " (bearer token required)"));
            bool loopback =
                http->host == "127.0.0.1" || http->host == "localhost" || http->host == "::1";
            if (!loopback && http->token.empty())
                log_line(
                    "warning: listening beyond loopback without a bearer token "
                    "(--token-file): anyone who can reach the port reads as this role");
        } catch (const std::exception& e) {
            log_line(e.what());
            return 2;
        }
    }

    std::thread signals([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        if (sig == SIGTERM || sig == SIGINT) {
            if (http_transport) http_transport->stop();
            char c = 1;
            if (write(stop_pipe[1], &c, 1) < 0) {
            }
        }
    });

    feed.start();
    if (http_transport) {
        http_transport->serve();
    } else {
        StdioTransport stdio(protocol, STDIN_FILENO, STDOUT_FILENO, stop_pipe[0]);
        stdio.run();
        feed.stop();
    }
    feed.stop();
    if (http_transport) http_transport->stop();
    // Wake the signal thread if no signal came (the input ended).
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
    relay.protocol = nullptr;
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    log_line("stopped");
    return 0;
}

}  // namespace delta_sync::mcp
