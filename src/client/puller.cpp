// Pulling tables into the replica, once or continuously (see puller.hpp).
#include "puller.hpp"

#include "errors.hpp"
#include "progress.hpp"

#include <csignal>
#include <cstdio>
#include <map>
#include <thread>

namespace delta_sync::client {

namespace {

volatile std::sig_atomic_t stop_flag = 0;

extern "C" void on_stop_signal(int) {
    stop_flag = 1;
}

}  // namespace

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a wait on the server's socket returns at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() {
    return stop_flag != 0;
}
void request_stop() {
    stop_flag = 1;
}

void Backoff::wait() {
    auto until = std::chrono::steady_clock::now() + next_;
    while (std::chrono::steady_clock::now() < until) {
        if (stop_requested()) throw Interrupted("interrupted");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    next_ = std::min(next_ * 2, max_);
}

// Collects the payloads of NOTIFY delta_sync ('schema.table') until the watch loop takes them.
class Puller::ChangeListener : public pqxx::notification_receiver {
public:
    explicit ChangeListener(pqxx::connection_base& c) : notification_receiver(c, "delta_sync") {}
    void operator()(const std::string& payload, int) override { payloads.insert(payload); }
    std::set<std::string> payloads;
};

Puller::Puller(std::string dsn, Replica& replica, PullOptions options)
    : dsn_(std::move(dsn)), replica_(replica), options_(options) {}

// The listener unregisters itself from its connection, so it must go first.
Puller::~Puller() {
    disconnect();
}

void Puller::disconnect() {
    listener_.reset();
    server_.reset();
}

Server& Puller::server() {
    if (server_) return *server_;
    try {
        server_ = std::make_unique<Server>(dsn_);
        if (listening_) listener_ = std::make_unique<ChangeListener>(server_->connection());
    } catch (const ConnectionLost&) {
        disconnect();
        throw;
    } catch (const Error& e) {
        disconnect();
        // Once we have been connected, a refused connection is the server restarting.
        if (connected_once_) throw ConnectionLost(e.what());
        throw;
    } catch (...) {
        disconnect();
        rethrow_server_error("listening on delta_sync");
    }
    if (connected_once_) reconnected_ = true;
    connected_once_ = true;
    return *server_;
}

const TableInfo& Puller::table(const std::string& name) {
    for (auto& t : tables_)
        if (t.first == name) return t.second;
    Backoff backoff(options_.first_backoff, options_.max_backoff);
    for (int attempt = 1;; ++attempt) {
        try {
            tables_.emplace_back(name, server().describe(name));
            return tables_.back().second;
        } catch (const ConnectionLost& e) {
            disconnect();
            if (options_.max_attempts && attempt >= options_.max_attempts) throw;
            std::fprintf(stderr, "delta-sync: %s; retrying\n", e.what());
            backoff.wait();
        }
    }
}

PullReport Puller::pull(const std::string& name) {
    const TableInfo& info = table(name);
    Backoff backoff(options_.first_backoff, options_.max_backoff);
    for (int attempt = 1;; ++attempt) {
        try {
            return pull_once(info);
        } catch (const ConnectionLost& e) {
            disconnect();
            if (options_.max_attempts && attempt >= options_.max_attempts)
                throw ConnectionLost(std::string(e.what()) + " (gave up after " +
                                     std::to_string(attempt) + " attempts)");
            std::fprintf(stderr, "delta-sync: %s; retrying in %.1fs\n", e.what(),
                         backoff.next().count() / 1000.0);
            backoff.wait();
        }
    }
}

bool Puller::apply_stream(pqxx::transaction_base& tx, const std::string& function,
                          const TableInfo& info, TableUpdate& update, const DeltaRequest& request,
                          PullReport& report, std::string& version) {
    bool full = !request.since;
    Progress progress(info.replica.name, full ? info.estimated_rows : -1, options_.progress);
    DeltaStream stream(tx, function, info, request);
    version.clear();
    while (auto document = stream.next()) {
        if (stop_requested())
            throw Interrupted("interrupted; " + info.replica.name + " left as it was");
        const DeltaPage& page = parser_.parse(*document);
        if (page.full_resync_required()) {
            if (full) throw Error(info.display_name + ": the server refused a full sync");
            return false;
        }
        // All pages of one answer come from one snapshot; anything else would corrupt the cursor.
        if (!version.empty() && page.server_version() != version)
            throw Error(info.display_name + ": pages of one answer carry different serverVersions");
        version = page.server_version();
        ApplyCounts c = update.apply(page);
        report.counts.created += c.created;
        report.counts.updated += c.updated;
        report.counts.deleted += c.deleted;
        ++report.pages;
        progress.add(c.total());
    }
    if (version.empty()) throw Error(info.display_name + ": the server sent no document");
    progress.finish();
    return true;
}

PullReport Puller::pull_once(const TableInfo& info) {
    PullReport report;
    report.table = info.replica.name;
    Server& srv = server();
    const std::string function = srv.delta_function();  // looked up outside the transaction
    TableUpdate update(replica_, info.replica);
    std::string version;
    try {
        pqxx::read_transaction tx(srv.connection());
        DeltaRequest request;
        request.page_size = options_.page_size;
        request.since = update.cursor();
        if (!request.since) {
            report.full_sync = true;
            update.start_rebuild();
        }
        if (!apply_stream(tx, function, info, update, request, report, version)) {
            // The cursor is too old (or from elsewhere): rebuild from a full snapshot, in the
            // same SQLite transaction, so readers go straight from the old table to the new.
            report.full_sync = report.resync_required = true;
            report.counts = {};
            report.pages = 0;
            update.start_rebuild();
            request.since.reset();
            apply_stream(tx, function, info, update, request, report, version);
        }
        tx.commit();
    } catch (...) {
        rethrow_server_error(info.display_name);
    }
    update.commit(version);
    report.server_version = version;
    return report;
}

std::set<std::string> Puller::take_notifications() {
    std::set<std::string> out;
    if (!server_ || !listener_) return out;
    try {
        server_->connection().get_notifs();
    } catch (...) {
        rethrow_server_error("waiting for changes");
    }
    out.swap(listener_->payloads);
    return out;
}

void Puller::watch(const std::vector<std::string>& names, std::chrono::milliseconds poll_interval,
                   const std::function<void(const PullReport&)>& on_pull) {
    // delta_sync.wait() needs no LISTEN (which a hot standby refuses); older servers get one.
    listening_ = false;
    disconnect();
    bool can_wait = server().can_wait();
    if (!can_wait) {
        listening_ = true;
        disconnect();  // reconnect with the listener in place before the first snapshot
    }
    std::set<std::string> all(names.begin(), names.end());
    std::set<std::string> pending = all;
    std::map<std::string, std::string> cursors;  // what each table's last pull stored
    auto next_poll = std::chrono::steady_clock::now() + poll_interval;
    Backoff backoff(options_.first_backoff, options_.max_backoff);
    while (!stop_requested()) {
        try {
            server();
            if (reconnected_) {
                // Notifications sent while we were away are lost: look at everything.
                reconnected_ = false;
                pending = all;
            }
            while (!pending.empty() && !stop_requested()) {
                std::string name = *pending.begin();
                PullReport report = pull(name);
                cursors[name] = report.server_version;
                on_pull(report);
                pending.erase(name);
                if (reconnected_) {
                    reconnected_ = false;
                    pending = all;
                }
            }
            backoff = Backoff(options_.first_backoff, options_.max_backoff);
            while (pending.empty() && !stop_requested()) {
                if (can_wait) {
                    std::vector<std::uint32_t> oids;
                    std::vector<std::optional<std::string>> since;
                    for (const std::string& name : names) {
                        oids.push_back(table(name).oid);
                        auto c = cursors.find(name);
                        since.push_back(c == cursors.end() ? std::nullopt
                                                           : std::optional<std::string>(c->second));
                    }
                    // Short waits keep a stop request prompt (the handlers only set a flag).
                    for (std::uint32_t oid : server().wait_for_changes(oids, since,
                                                                       std::chrono::milliseconds(500)))
                        for (const std::string& name : names)
                            if (table(name).oid == oid) pending.insert(name);
                } else {
                    for (const std::string& payload : take_notifications())
                        for (const std::string& name : names)
                            if (table(name).notify_payload == payload) pending.insert(name);
                }
                if (!pending.empty()) break;
                auto now = std::chrono::steady_clock::now();
                if (now >= next_poll) {
                    pending = all;
                    next_poll = now + poll_interval;
                    break;
                }
                if (can_wait) continue;
                // Short waits keep a stop request prompt even if a signal slips past the wait.
                try {
                    server_->connection().await_notification(0, 200000);
                } catch (...) {
                    rethrow_server_error("waiting for changes");
                }
            }
        } catch (const ConnectionLost& e) {
            disconnect();
            pending = all;
            std::fprintf(stderr, "delta-sync: %s; retrying in %.1fs\n", e.what(),
                         backoff.next().count() / 1000.0);
            try {
                backoff.wait();
            } catch (const Interrupted&) {
                return;
            }
        } catch (const Interrupted&) {
            return;
        }
    }
}

}  // namespace delta_sync::client
