// Live changes: which subscribed tables got a commit, turned into notifications/resources/updated
// (at most one per table per coalescing interval) and notifications/resources/list_changed (a
// table tracked or untracked, or its SELECT right granted or revoked).
//
// How a commit is detected is the ChangeSource's business alone, so it can change without
// touching the rest. On servers with delta_sync.wait() (1.2 on, primaries and hot standbys alike)
// the WaitSource waits for every subscribed table at once on the feed's connection, with one
// cursor per table; on older servers the ListenPollSource uses LISTEN delta_sync (the triggers'
// NOTIFY, payload 'schema.table') plus a short poll of delta_since(table, cursor, max_changes =>
// 1) for the tables that send no NOTIFY and for every table on a hot standby.
#pragma once

#include "protocol.hpp"
#include "table_resources.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace delta_sync::mcp {

// A table some client subscribed to.
struct WatchedTable {
    std::uint32_t oid = 0;
    std::string payload;  // the NOTIFY payload: schema.table
    std::string uri;      // db://<table>/delta
    bool notifies = true;
    std::string cursor;   // the poll's serverVersion; empty until the first poll
    bool broken = false;  // its poll failed (no SELECT right): left to NOTIFY
};

// Detects commits to watched tables.
class ChangeSource {
public:
    virtual ~ChangeSource() = default;
    // Waits at most `timeout` for a commit to one of `tables`; returns the indexes of those that
    // have one. May update their cursors. Throws on a lost connection.
    virtual std::vector<std::size_t> wait(std::vector<WatchedTable>& tables,
                                          std::chrono::milliseconds timeout) = 0;
    // The longest single wait: how long a new subscription, an unsubscription or a stop may
    // go unnoticed.
    virtual std::chrono::milliseconds longest_wait() const = 0;
};

// delta_sync.wait() for every watched table, each from its cursor (taken by a first
// delta_since probe, moved by another after each change), so no commit between two waits is
// missed.
class WaitSource : public ChangeSource {
public:
    explicit WaitSource(client::Server& server) : server_(server) {}
    std::vector<std::size_t> wait(std::vector<WatchedTable>& tables,
                                  std::chrono::milliseconds timeout) override;
    std::chrono::milliseconds longest_wait() const override {
        return std::chrono::milliseconds(100);
    }

private:
    client::Server& server_;
};

// LISTEN delta_sync, and delta_since polls every `poll_interval` where NOTIFY cannot be had.
class ListenPollSource : public ChangeSource {
public:
    ListenPollSource(client::Server& server, std::chrono::milliseconds poll_interval);
    ~ListenPollSource() override;
    std::vector<std::size_t> wait(std::vector<WatchedTable>& tables,
                                  std::chrono::milliseconds timeout) override;
    std::chrono::milliseconds longest_wait() const override { return poll_interval_; }

private:
    class Receiver;

    client::Server& server_;
    std::chrono::milliseconds poll_interval_;
    bool listening_ = false;
    std::unique_ptr<Receiver> receiver_;
    std::set<std::string> heard_;
    std::chrono::steady_clock::time_point next_poll_{};
};

struct FeedConfig {
    std::string dsn;
    std::vector<std::string> tables;
    std::vector<ServedShape> shapes;  // db://<shape>/delta is notified of its table's commits
    std::chrono::milliseconds poll_interval{50};
    std::chrono::milliseconds coalesce{100};
    std::chrono::milliseconds list_interval{1000};
};

class ChangeFeed {
public:
    ChangeFeed(FeedConfig config, Notifier& notifier);
    ~ChangeFeed();
    void start();
    void stop();
    // The URIs (db://<table>/delta) with at least one subscriber.
    void watch(const std::set<std::string>& uris);

private:
    void run();
    void run_connected(client::Server& server);

    FeedConfig config_;
    Notifier& notifier_;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::set<std::string> watched_;
    bool watched_changed_ = false;
    std::optional<std::set<std::string>> listed_;  // the resource list as last seen
    std::map<std::string, std::chrono::steady_clock::time_point> last_sent_;
    std::set<std::string> pending_;
};

}  // namespace delta_sync::mcp
