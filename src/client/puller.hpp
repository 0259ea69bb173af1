// Puller: brings replica tables up to date with the server, once or for as long as --watch runs.
//
// A pull of one table is one delta_since() call applied in one TableUpdate. A lost connection
// rolls that transaction back and the pull starts over from the stored cursor after a backoff, so
// a change can be fetched twice but never skipped. Each pull reads the table's columns and its
// pages in one REPEATABLE READ transaction (one snapshot), and follows the table by oid, so a
// renamed table keeps being pulled into the same replica table. --watch waits with
// delta_sync.wait() on one connection for all its tables, each with the cursor its last pull
// stored (so a commit after that pull's snapshot always wakes it, on a primary or a standby);
// against a server without it (before 1.2) it listens on the delta_sync channel before each pull
// reads its snapshot. Either way it polls every table every poll interval in case a wake-up was
// lost with a connection; a watched table that is dropped (or untracked) is reported and left,
// the others are followed on.
#pragma once

#include "delta_page.hpp"
#include "replica.hpp"
#include "server.hpp"
#include "shape.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace delta_sync::client {

// SIGINT and SIGTERM set a flag that every loop checks; nothing else happens in the handler.
void install_stop_handlers();
bool stop_requested();
void request_stop();  // what the handlers do; tests call it directly

// Doubling waits between attempts, interrupted by a stop request.
class Backoff {
public:
    Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max)
        : next_(first), max_(max) {}
    std::chrono::milliseconds next() const { return next_; }
    // Sleeps the current delay, then doubles it. Throws Interrupted on a stop request.
    void wait();

private:
    std::chrono::milliseconds next_, max_;
};

struct PullOptions {
    int page_size = 10000;
    bool progress = false;
    int max_attempts = 6;  // per table when the connection keeps failing; 0: forever (--watch)
    std::chrono::milliseconds first_backoff{500};
    std::chrono::milliseconds max_backoff{30000};
    Shape shape;  // of every table pulled (none: the whole table)
};

struct PullReport {
    std::string table;
    bool full_sync = false;        // the table was fetched in full (first run or resync)
    bool resync_required = false;  // ... because the server said fullResyncRequired
    bool columns_changed = false;  // ... because the server's columns are not the replica's
    ApplyCounts counts;
    long pages = 0;
    std::string server_version;  // the cursor the replica now holds for the table
};

class Puller {
public:
    Puller(std::string dsn, Replica& replica, PullOptions options);
    ~Puller();

    // Resolves every table and checks that the replica may take them all (same source, names
    // free), then marks the file as a replica of this server. Nothing is written before every
    // check passed.
    void prepare(const std::vector<std::string>& names);
    // Resolves a table name on the server (connecting if needed) and its place in the replica.
    const TableInfo& table(const std::string& name);
    // Brings one table up to date, retrying a lost connection with backoff.
    PullReport pull(const std::string& name);
    // Pulls every table, then again whenever one changes, until a stop request. A stop before
    // every table has been pulled once throws Interrupted, like a plain pull; a stop while
    // waiting returns. A table dropped or no longer tracked is reported and left; when none is
    // left, Error.
    void watch(const std::vector<std::string>& names, std::chrono::milliseconds poll_interval,
               const std::function<void(const PullReport&)>& on_pull);

private:
    class ChangeListener;
    Server& server();
    void disconnect();
    PullReport pull_once(const TableInfo& info);
    // Applies every page of one delta_since() call. False when the server said
    // fullResyncRequired (nothing applied then).
    bool apply_stream(pqxx::transaction_base& tx, const std::string& function,
                      const TableInfo& info, TableUpdate& update, const DeltaRequest& request,
                      PullReport& report, std::string& version);
    std::set<std::string> take_notifications();
    // Refreshes every resolved table by oid (names change with a rename; wake-ups carry them).
    void refresh_tables();

    std::string dsn_;
    Replica& replica_;
    PullOptions options_;
    std::unique_ptr<Server> server_;
    std::unique_ptr<ChangeListener> listener_;
    bool listening_ = false;
    bool connected_once_ = false;
    bool reconnected_ = false;
    std::optional<ReplicaSource> source_;  // once the replica is claimed
    std::vector<std::pair<std::string, TableInfo>> tables_;
    DeltaPageParser parsers_[2];  // a page being applied, the next one being read
};

}  // namespace delta_sync::client
