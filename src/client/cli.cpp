// The delta-sync commands: pull, get, diff, track, untrack, status (see cli.hpp).
#include "cli.hpp"

#include "delta_page.hpp"
#include "errors.hpp"
#include "progress.hpp"
#include "puller.hpp"
#include "replica.hpp"
#include "replica_diff.hpp"
#include "server.hpp"
#include "shape.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace delta_sync::client {

namespace {

struct OptionSpec {
    const char* name;
    bool takes_value;
};

struct CommandSpec {
    const char* name;
    int min_tables;
    int max_tables;  // -1: no limit
    std::vector<OptionSpec> options;
    std::vector<const char*> required;
};

const std::vector<CommandSpec>& commands() {
    static const std::vector<CommandSpec> specs = {
        {"pull",
         1,
         -1,
         {{"replica", true},
          {"watch", false},
          {"page-size", true},
          {"poll-interval", true},
          {"quiet", false},
          {"where", true},
          {"columns", true},
          {"dsn", true}},
         {"replica"}},
        {"get",
         1,
         1,
         {{"since", true},
          {"max-changes", true},
          {"page-size", true},
          {"where", true},
          {"columns", true},
          {"dsn", true}},
         {}},
        {"diff", 1, 1, {{"replica", true}, {"page-size", true}, {"dsn", true}}, {"replica"}},
        {"track", 1, 1, {{"max-changes", true}, {"dsn", true}}, {}},
        {"untrack", 1, 1, {{"dsn", true}}, {}},
        {"status", 0, -1, {{"replica", true}, {"dsn", true}}, {}},
        {"help", 0, 1, {}, {}},
    };
    return specs;
}

const char* const connection_help =
    "Connection: --dsn DSN (a libpq connection string or postgresql:// URL), else DATABASE_URL,\n"
    "else libpq's PG* variables (PGHOST, PGPORT, PGUSER, PGDATABASE, ...).\n";

// The client follows the extension's version.
const char* const version = "1.2";

const char* const exit_help =
    "Exit status: 0 done, 1 replica differs (diff), 2 failure (one line on stderr),\n"
    "130 interrupted.\n";

}  // namespace

std::optional<std::string> CommandLine::value(const std::string& option) const {
    auto it = options.find(option);
    if (it == options.end()) return std::nullopt;
    return it->second;
}

std::optional<int> CommandLine::integer(const std::string& option, int min, int max) const {
    auto v = value(option);
    if (!v) return std::nullopt;
    std::size_t used = 0;
    long n = 0;
    try {
        n = std::stol(*v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != v->size() || n < min || n > max)
        throw UsageError(command + ": --" + option + " must be an integer from " +
                         std::to_string(min) + " to " + std::to_string(max) + ", not '" + *v + "'");
    return static_cast<int>(n);
}

CommandLine parse_command_line(const std::vector<std::string>& args) {
    CommandLine cl;
    if (args.empty()) throw UsageError("no command given (try delta-sync --help)");
    std::size_t i = 0;
    if (args[0] == "--help" || args[0] == "-h") {
        cl.command = "help";
        cl.help = true;
        return cl;
    }
    if (args[0] == "--version") {
        if (args.size() > 1) throw UsageError("--version takes no argument");
        cl.command = "version";
        return cl;
    }
    cl.command = args[0];
    auto spec = std::find_if(commands().begin(), commands().end(),
                             [&](const CommandSpec& c) { return cl.command == c.name; });
    if (spec == commands().end())
        throw UsageError("unknown command '" + cl.command + "' (try delta-sync --help)");
    if (std::find(args.begin(), args.end(), "--help") != args.end() ||
        std::find(args.begin(), args.end(), "-h") != args.end()) {
        cl.help = true;
        return cl;
    }
    for (i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() < 2 || a.compare(0, 2, "--") != 0 || a == "--") {
            if (a.size() > 1 && a[0] == '-' && a != "-")
                throw UsageError(cl.command + ": unknown option '" + a + "' (try delta-sync " +
                                 cl.command + " --help)");
            cl.tables.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        auto opt = std::find_if(spec->options.begin(), spec->options.end(),
                                [&](const OptionSpec& o) { return name == o.name; });
        if (opt == spec->options.end())
            throw UsageError(cl.command + ": unknown option '--" + name + "' (try delta-sync " +
                             cl.command + " --help)");
        if (opt->takes_value && !inline_value) {
            if (i + 1 >= args.size())
                throw UsageError(cl.command + ": --" + name + " needs a value");
            value = args[++i];
        } else if (!opt->takes_value && inline_value) {
            throw UsageError(cl.command + ": --" + name + " takes no value");
        }
        if (cl.options.count(name)) throw UsageError(cl.command + ": --" + name + " given twice");
        cl.options[name] = value;
    }
    if (static_cast<int>(cl.tables.size()) < spec->min_tables)
        throw UsageError(cl.command + ": which table? (try delta-sync " + cl.command + " --help)");
    if (spec->max_tables >= 0 && static_cast<int>(cl.tables.size()) > spec->max_tables)
        throw UsageError(cl.command + ": unexpected argument '" + cl.tables[spec->max_tables] +
                         "'");
    for (const char* r : spec->required)
        if (!cl.has(r)) throw UsageError(cl.command + ": --" + std::string(r) + " is required");
    if ((cl.has("where") || cl.has("columns")) && cl.tables.size() > 1)
        throw UsageError(cl.command + ": --where and --columns shape one table; pull each shape "
                                      "with a command of its own");
    if (cl.command == "pull" && cl.has("poll-interval") && !cl.has("watch"))
        throw UsageError("pull: --poll-interval only makes sense with --watch");
    if (auto replica = cl.value("replica"); replica && (replica->empty() || *replica == ":memory:"))
        throw UsageError(cl.command +
                         ": --replica needs a file (an in-memory database keeps "
                         "nothing), not '" +
                         *replica + "'");
    for (const std::string& t : cl.tables)
        if (cl.command != "help" && t.empty()) throw UsageError(cl.command + ": empty table name");
    if (cl.command == "help" && !cl.tables.empty() && cl.tables[0] != "help" &&
        std::none_of(commands().begin(), commands().end(),
                     [&](const CommandSpec& c) { return cl.tables[0] == c.name; }))
        throw UsageError("help: unknown command '" + cl.tables[0] + "' (try delta-sync --help)");
    return cl;
}

std::string help_text(const std::string& command) {
    if (command == "pull")
        return std::string(
                   "Usage: delta-sync pull TABLE... --replica FILE.db [--watch] [--page-size N]\n"
                   "                       [--poll-interval SECONDS] [--quiet] [--dsn DSN]\n"
                   "       delta-sync pull TABLE --where EXPR --columns A,B,C --replica FILE.db ...\n\n"
                   "Brings each TABLE's copy in the SQLite file FILE.db up to date. The first run\n"
                   "fetches every row, page by page (a progress bar on a terminal); later runs\n"
                   "apply only what changed. Each table's rows and its cursor are written in one\n"
                   "SQLite transaction: a crash at any moment leaves the previous state.\n\n"
                   "  --replica FILE.db      the replica (created when missing)\n"
                   "  --watch                keep running: apply each change as it commits\n"
                   "                         (delta_sync.wait); stop with SIGINT or SIGTERM\n"
                   "  --poll-interval S      with --watch, also poll every S seconds (default 30)\n"
                   "  --page-size N          entries per page fetched (default 10000)\n"
                   "  --where EXPR           copy only the rows matching EXPR (a filter the\n"
                   "                         server checks: columns, constants, comparisons,\n"
                   "                         AND/OR/NOT, IN, BETWEEN, IS NULL, LIKE, immutable\n"
                   "                         functions); rows leaving it are deleted locally\n"
                   "  --columns A,B,C        copy only these columns (and the primary key)\n"
                   "                         The replica remembers the shape; another one\n"
                   "                         rebuilds the table.\n"
                   "  --quiet                no progress bar\n\n") +
               connection_help + exit_help;
    if (command == "get")
        return std::string(
                   "Usage: delta-sync get TABLE [--since V] [--max-changes N] [--page-size N]\n"
                   "                      [--where EXPR] [--columns A,B,C] [--dsn DSN]\n\n"
                   "Prints the raw DeltaResponse documents of delta_since(TABLE, ...) on stdout,\n"
                   "one per line: every live row without --since, the changes since the\n"
                   "serverVersion V with it. --where and --columns ask for a shape (see pull).\n\n") +
               connection_help + exit_help;
    if (command == "diff")
        return std::string(
                   "Usage: delta-sync diff TABLE --replica FILE.db [--page-size N] [--dsn DSN]\n\n"
                   "Compares the replica's copy of TABLE with the server's live rows, row by row\n"
                   "and field by field (a shaped copy with the shape it holds). Prints one\n"
                   "summary line; exits 1 when they differ.\n\n") +
               connection_help + exit_help;
    if (command == "track")
        return std::string(
                   "Usage: delta-sync track TABLE [--max-changes N] [--dsn DSN]\n\n"
                   "Starts tracking TABLE (SELECT delta_sync.track(TABLE, max_changes)); a delta\n"
                   "of more than N changes answers fullResyncRequired (default 1000).\n\n") +
               connection_help + exit_help;
    if (command == "untrack")
        return std::string(
                   "Usage: delta-sync untrack TABLE [--dsn DSN]\n\n"
                   "Stops tracking TABLE (SELECT delta_sync.untrack(TABLE)).\n\n") +
               connection_help + exit_help;
    if (command == "status")
        return std::string(
                   "Usage: delta-sync status [TABLE...] [--replica FILE.db] [--dsn DSN]\n\n"
                   "Lists the tracked tables (delta_sync.tracked) with their threshold; with\n"
                   "--replica, also when each was last synced into FILE.db.\n\n") +
               connection_help + exit_help;
    return "Usage: delta-sync COMMAND [ARGS] (delta-sync COMMAND --help for details)\n\n"
           "Keeps a local SQLite replica of PostgreSQL tables tracked by the delta_sync\n"
           "extension, fetching only what changed.\n\n"
           "Commands:\n"
           "  pull TABLE... --replica FILE.db [--watch]   update the replica\n"
           "  get TABLE [--since V]                       print raw delta documents\n"
           "  diff TABLE --replica FILE.db                compare the replica with the server\n"
           "  track TABLE [--max-changes N]               start tracking a table\n"
           "  untrack TABLE                               stop tracking a table\n"
           "  status [TABLE...] [--replica FILE.db]       tracked tables and sync times\n"
           "  mcp [TABLE...] [--http [HOST:]PORT]         serve tables to MCP clients\n"
           "  --version                                   the program's version\n\n" +
           std::string(connection_help) + exit_help;
}

namespace {

void print_report(const PullReport& r) {
    if (r.full_sync)
        std::printf("%s: %s, %s rows\n", r.table.c_str(),
                    r.resync_required   ? "full resync (the server required it)"
                    : r.columns_changed ? "full resync (the table's columns changed)"
                                        : "full sync",
                    with_thousands(r.counts.created + r.counts.updated).c_str());
    else
        std::printf("%s: %s created, %s updated, %s deleted\n", r.table.c_str(),
                    with_thousands(r.counts.created).c_str(),
                    with_thousands(r.counts.updated).c_str(),
                    with_thousands(r.counts.deleted).c_str());
    std::fflush(stdout);
}

// The shape of --where and --columns.
Shape shape_option(const CommandLine& cl) {
    Shape shape;
    shape.filter = cl.value("where");
    if (auto columns = cl.value("columns")) shape.columns = Shape::column_list(*columns);
    return shape;
}

void request_shape(DeltaRequest& request, const Shape& shape) {
    request.columns = shape.columns;
    request.filter = shape.filter;
}

int run_pull(const CommandLine& cl) {
    PullOptions options;
    options.page_size = cl.integer("page-size", 1, 100000000).value_or(options.page_size);
    options.progress = !cl.has("quiet") && isatty(STDERR_FILENO);
    bool watch = cl.has("watch");
    int poll = cl.integer("poll-interval", 1, 86400).value_or(30);
    if (watch) options.max_attempts = 0;
    // Every page's buffers (the fetched text, 3 MB at 10,000 rows a page) are allocated on the
    // page-reading thread and freed on this one. glibc's default raises its mmap threshold past
    // such blocks after the first is freed, then keeps their memory in two arenas: 70 MB peak
    // RSS for 10^6 rows instead of 50 MB. A fixed threshold maps each and gives it back.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    options.shape = shape_option(cl);
    install_stop_handlers();
    std::string dsn = choose_dsn(cl.value("dsn"));
    {
        // The server and every table name first: a pull that cannot start leaves no file behind.
        Server probe(dsn);
        for (const std::string& t : cl.tables) {
            TableInfo info = probe.describe(t);
            if (options.shape.empty()) continue;
            // The server checks the shape: one page of one entry, and the scan stops there.
            DeltaRequest request;
            request.page_size = 1;
            request_shape(request, options.shape);
            const std::string function = probe.delta_function();
            try {
                pqxx::read_transaction tx(probe.connection());
                DeltaStream(tx, function, info, request).next();
            } catch (...) {
                rethrow_server_error(info.display_name, &probe.connection());
            }
        }
        probe.delta_function();
    }
    const std::string path = *cl.value("replica");
    bool existed = access(path.c_str(), F_OK) == 0;
    std::optional<Replica> opened;
    std::optional<Puller> prepared;
    try {
        opened.emplace(path);
        prepared.emplace(dsn, *opened, options);
        prepared->prepare(cl.tables);  // every check before the first write
    } catch (...) {
        // Refused before anything was written: a file this run created is not left behind.
        prepared.reset();
        opened.reset();
        if (!existed) std::remove(path.c_str());
        throw;
    }
    Puller& puller = *prepared;
    if (watch) {
        puller.watch(cl.tables, std::chrono::seconds(poll), [](const PullReport& r) {
            if (r.full_sync || r.counts.total() > 0) print_report(r);
        });
        return exit_ok;
    }
    for (const std::string& t : cl.tables) print_report(puller.pull(t));
    return exit_ok;
}

int run_get(const CommandLine& cl) {
    Server server(choose_dsn(cl.value("dsn")));
    TableInfo info = server.describe(cl.tables[0]);
    DeltaRequest request;
    request.since = cl.value("since");
    request.max_changes = cl.integer("max-changes", 1, 2147483647);
    request.page_size = cl.integer("page-size", 1, 100000000);
    request_shape(request, shape_option(cl));
    const std::string& function = server.delta_function();
    try {
        pqxx::read_transaction tx(server.connection());
        DeltaStream stream(tx, function, info, request);
        while (auto document = stream.next()) {
            std::fwrite(document->data(), 1, document->size(), stdout);
            std::fputc('\n', stdout);
        }
        tx.commit();
    } catch (...) {
        rethrow_server_error(info.display_name, &server.connection());
    }
    if (std::fflush(stdout) != 0) throw Error("cannot write to stdout");
    return exit_ok;
}

int run_diff(const CommandLine& cl) {
    Server server(choose_dsn(cl.value("dsn")));
    TableInfo info = server.describe(cl.tables[0]);
    std::string path = *cl.value("replica");
    if (access(path.c_str(), F_OK) != 0) throw Error("replica " + path + " does not exist");
    Replica replica(path, Replica::Open::existing);
    replica.check_source(server.source());
    if (auto name = replica.find(info.replica)) info.replica.name = *name;
    DeltaRequest request;
    request.page_size = cl.integer("page-size", 1, 100000000).value_or(10000);
    // A shaped copy is compared with the shape it holds.
    if (auto state = replica.state(info.replica.name); state && !state->shape.empty()) {
        Shape shape = Shape::from_canonical(state->shape);
        apply_shape(info, shape);
        request_shape(request, shape);
    }
    const std::string& function = server.delta_function();
    DiffSummary summary;
    {
        ReplicaComparison comparison(replica, info.replica);
        DeltaPageParser parser;
        bool has_json =
            std::any_of(info.replica.columns.begin(), info.replica.columns.end(),
                        [](const ReplicaColumn& c) { return c.kind == ColumnKind::json; });
        try {
            // One snapshot for the pages and the JSON-null look-ups.
            pqxx::transaction<pqxx::isolation_level::repeatable_read,
                              pqxx::readwrite_policy::read_only>
                tx(server.connection());
            DeltaStream stream(tx, function, info, request);
            while (auto document = stream.next()) {
                const DeltaPage& page = parser.parse(*document);
                JsonNulls nulls;
                if (has_json) nulls = json_nulls(tx, info, page);
                comparison.compare(page, has_json ? &nulls : nullptr);
            }
            tx.commit();
        } catch (...) {
            rethrow_server_error(info.display_name, &server.connection());
        }
        summary = comparison.finish();
    }
    std::printf("%s\n", summary.describe(info.replica.name).c_str());
    return summary.equal() ? exit_ok : exit_differs;
}

int run_track(const CommandLine& cl) {
    Server server(choose_dsn(cl.value("dsn")));
    server.track(cl.tables[0], cl.integer("max-changes", 1, 2147483647));
    std::printf("tracking %s\n", cl.tables[0].c_str());
    return exit_ok;
}

int run_untrack(const CommandLine& cl) {
    Server server(choose_dsn(cl.value("dsn")));
    if (server.untrack(cl.tables[0]))
        std::printf("no longer tracking %s\n", cl.tables[0].c_str());
    else
        std::printf("%s was not tracked; nothing to do\n", cl.tables[0].c_str());
    return exit_ok;
}

int run_status(const CommandLine& cl) {
    Server server(choose_dsn(cl.value("dsn")));
    std::vector<TrackedTable> tracked = server.tracked();
    std::vector<std::string> wanted;  // as PostgreSQL prints them, like delta_sync.tracked
    for (const std::string& name : cl.tables) {
        std::string display = server.describe(name).display_name;
        if (std::none_of(tracked.begin(), tracked.end(),
                         [&](const TrackedTable& t) { return t.table == display; }))
            throw Error(display + " is not tracked (delta-sync track " + name + ")");
        wanted.push_back(display);
    }
    std::optional<Replica> replica;
    if (auto path = cl.value("replica")) {
        if (access(path->c_str(), F_OK) != 0) throw Error("replica " + *path + " does not exist");
        replica.emplace(*path, Replica::Open::existing);
        replica->check_source(server.source());
    }
    std::printf("%-32s %11s  %-20s%s\n", "table", "max_changes", "tracked_at",
                replica ? "  replica_synced_at" : "");
    for (const TrackedTable& t : tracked) {
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), t.table) == wanted.end())
            continue;
        std::string synced;
        if (replica) {
            ReplicaTable rt = server.describe(t.table).replica;
            auto name = replica->find(rt);
            auto state = replica->state(name ? *name : rt.name);
            synced = "  " + (state ? state->synced_at : std::string("never"));
        }
        std::printf("%-32s %11d  %-20s%s\n", t.table.c_str(), t.max_changes, t.tracked_at.c_str(),
                    synced.c_str());
    }
    return exit_ok;
}

}  // namespace

int run(const std::vector<std::string>& args) {
    CommandLine cl;
    try {
        cl = parse_command_line(args);
        if (cl.command == "version") {
            std::printf("delta-sync %s\n", version);
            return exit_ok;
        }
        if (cl.help || cl.command == "help") {
            std::string topic =
                cl.command == "help" && !cl.tables.empty() ? cl.tables[0] : cl.command;
            std::fputs(help_text(topic).c_str(), stdout);
            return exit_ok;
        }
        if (cl.command == "pull") return run_pull(cl);
        if (cl.command == "get") return run_get(cl);
        if (cl.command == "diff") return run_diff(cl);
        if (cl.command == "track") return run_track(cl);
        if (cl.command == "untrack") return run_untrack(cl);
        if (cl.command == "status") return run_status(cl);
        throw UsageError("unknown command '" + cl.command + "'");
    } catch (const Interrupted& e) {
        std::fprintf(stderr, "delta-sync: %s\n", e.what());
        return exit_interrupted;
    } catch (const std::exception& e) {
        // Library exceptions we did not wrap still get one line, never a trace.
        std::fprintf(stderr, "delta-sync: %s\n", one_line(e.what()).c_str());
        return exit_failure;
    }
}

}  // namespace delta_sync::client
