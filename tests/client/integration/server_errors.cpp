// The client library against the real server of `make test` (PG* variables; exit 77, skipped,
// without one): a refusal keeps its SQLSTATE (client::Error::sqlstate()), a backend terminated
// by pg_terminate_backend() is a lost connection (ConnectionLost, judged from libpqxx's types
// and the connection's state, not from the message), and values travel as parameters (a table
// name or cursor with quotes in it is a value, never SQL).
#include "errors.hpp"
#include "server.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

using namespace delta_sync::client;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
    if (!ok) ++failures;
}

// Runs `f`, which must throw an Error of type E; returns its SQLSTATE ("-" when nothing or
// another type was thrown).
template <class E>
std::string thrown(const std::function<void()>& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const E& e) {
        if (message) *message = e.what();
        return e.sqlstate();
    } catch (const std::exception& e) {
        std::printf("  threw another type: %s\n", e.what());
        return "-";
    }
    std::printf("  threw nothing\n");
    return "-";
}

}  // namespace

int main() {
    if (!std::getenv("PGHOST") && !std::getenv("DATABASE_URL")) {
        std::printf("skipped: no PostgreSQL (PGHOST unset)\n");
        return 77;
    }
    const std::string dsn = choose_dsn(std::nullopt);
    {
        Server setup(dsn);
        pqxx::nontransaction tx(setup.connection());
        tx.exec("CREATE EXTENSION IF NOT EXISTS delta_sync");
        tx.exec("DROP TABLE IF EXISTS client_server_errors");
        tx.exec("CREATE TABLE client_server_errors (id integer PRIMARY KEY)");
        tx.exec("SELECT delta_sync.track('client_server_errors')");
    }

    // A malformed cursor: delta_since refuses it with 22023, and the caller gets the code.
    {
        Server server(dsn);
        TableInfo info = server.describe("client_server_errors");
        const std::string function = server.delta_function();
        std::string message;
        std::string state = thrown<Error>(
            [&] {
                pqxx::read_transaction tx(server.connection());
                DeltaRequest request;
                request.since = "garbage'); --";
                DeltaStream stream(tx, function, info, request);
                while (stream.next()) {
                }
            },
            &message);
        check(state == "22023", "a malformed since is refused with SQLSTATE 22023 (got " + state +
                                    ": " + message + ")");
        // The connection is still usable after a refusal, and a refusal is no lost connection.
        check(server.tracked().size() >= 1, "the connection serves the next request");
        state = thrown<Error>([&] { server.describe("\"it's; gone\""); }, &message);
        check(state == "42P01", "an unknown table name, quotes and all, is 42P01 (got " + state +
                                    ": " + message + ")");
        state = thrown<Error>([&] { server.track("no_such_table'--", std::nullopt); });
        check(state == "42P01", "track of an unknown table is 42P01 (got " + state + ")");
    }

    // delta_sync.wait() with cursors passed as one text array parameter: quotes and backslashes
    // in a cursor are data, refused as a malformed cursor.
    {
        Server server(dsn);
        TableInfo info = server.describe("client_server_errors");
        if (server.can_wait()) {
            std::string state = thrown<Error>([&] {
                server.wait_for_changes({info.oid}, {std::string("a\"b\\c'd")},
                                        std::chrono::milliseconds(10));
            });
            check(state == "22023", "a malformed cursor in wait() is 22023 (got " + state + ")");
            auto changed = server.wait_for_changes({info.oid}, {std::nullopt},
                                                   std::chrono::milliseconds(10));
            check(changed.empty(), "wait() from now with no commit times out with nothing");
        }
    }

    // A terminated backend: the next request finds the connection lost.
    for (int round = 0; round < 2; ++round) {
        Server victim(dsn);
        int pid = 0;
        {
            pqxx::nontransaction tx(victim.connection());
            pid = tx.exec("SELECT pg_catalog.pg_backend_pid()")[0][0].as<int>();
        }
        {
            Server killer(dsn);
            pqxx::nontransaction tx(killer.connection());
            tx.exec("SELECT pg_catalog.pg_terminate_backend(" + std::to_string(pid) + ", 5000)");
        }
        std::string message;
        std::string state = thrown<ConnectionLost>(
            [&] {
                if (round == 0)
                    victim.tracked();
                else
                    victim.describe("client_server_errors");
            },
            &message);
        check(state != "-", std::string("a terminated backend is a lost connection (") +
                                (round == 0 ? "tracked" : "describe") + "): " + message);
    }

    {
        Server cleanup(dsn);
        pqxx::nontransaction tx(cleanup.connection());
        tx.exec("DROP TABLE client_server_errors");
    }
    std::printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
