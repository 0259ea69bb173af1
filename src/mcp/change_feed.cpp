// Live changes (see change_feed.hpp).
#include "change_feed.hpp"

#include "errors.hpp"
#include "server.hpp"

#include <algorithm>
#include <iostream>

namespace delta_sync::mcp {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

void log_line(const std::string& message) {
    std::cerr << "delta-sync mcp: " << message << std::endl;
}

}  // namespace

class ListenPollSource::Receiver : public pqxx::notification_receiver {
public:
    Receiver(pqxx::connection_base& c, std::set<std::string>& heard)
        : pqxx::notification_receiver(c, "delta_sync"), heard_(heard) {}
    void operator()(const std::string& payload, int) override { heard_.insert(payload); }

private:
    std::set<std::string>& heard_;
};

ListenPollSource::ListenPollSource(client::Server& server, milliseconds poll_interval)
    : server_(server), poll_interval_(poll_interval) {
    pqxx::connection& c = server_.connection();
    bool standby = false;
    {
        pqxx::read_transaction tx(c);
        standby = tx.exec("SELECT pg_catalog.pg_is_in_recovery()")[0][0].as<bool>();
        tx.commit();
    }
    // A hot standby refuses LISTEN: there, every table is polled.
    if (!standby) {
        receiver_ = std::make_unique<Receiver>(c, heard_);
        listening_ = true;
    }
}

ListenPollSource::~ListenPollSource() {
    try {
        receiver_.reset();
    } catch (...) {
    }
}

namespace {

bool is_connection_state(const std::string& state) {
    return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0;
}

// Whether `table` has a commit its cursor has not seen; moves the cursor. delta_since with
// max_changes 1 stops counting at the second change, so a poll costs the same however much
// changed. The first poll only takes a cursor (the first page of a one-row-a-page snapshot).
bool changed_since(client::Server& server, WatchedTable& table) {
    const std::string& function = server.delta_function();
    const std::string regclass =
        std::to_string(table.oid) + "::pg_catalog.oid::pg_catalog.regclass";
    try {
        pqxx::read_transaction tx(server.connection());
        std::string doc;
        if (table.cursor.empty()) {
            tx.exec("DECLARE delta_sync_mcp_probe NO SCROLL CURSOR FOR SELECT " + function + "(" +
                    regclass + ", NULL, NULL, 1)");
            pqxx::result r = tx.exec("FETCH FORWARD 1 FROM delta_sync_mcp_probe");
            if (!r.empty()) doc = r[0][0].as<std::string>();
        } else {
            doc = tx.exec_params("SELECT " + function + "(" + regclass +
                                     ", $1::pg_catalog.text, 1)",
                                 table.cursor)[0][0]
                      .as<std::string>();
        }
        tx.commit();
        json j = json::parse(doc, nullptr, false);
        if (!j.is_object()) return false;
        bool first = table.cursor.empty();
        table.cursor = j.value("serverVersion", "");
        if (first) return false;
        return j.value("fullResyncRequired", false) || !j.value("created", json::array()).empty() ||
               !j.value("updated", json::array()).empty() ||
               !j.value("deleted", json::array()).empty();
    } catch (const pqxx::broken_connection&) {
        throw;
    } catch (const pqxx::sql_error& e) {
        if (is_connection_state(e.sqlstate())) throw;
        // No SELECT right, say: this table is left to NOTIFY alone.
        log_line("cannot poll " + table.payload + ": " + client::one_line(e.what()));
        table.broken = true;
        return false;
    }
}

}  // namespace

std::vector<std::size_t> WaitSource::wait(std::vector<WatchedTable>& tables,
                                          milliseconds timeout) {
    auto until = Clock::now() + timeout;
    std::vector<std::size_t> changed;
    // A table subscribed to since the last wait gets its cursor first.
    for (WatchedTable& t : tables)
        if (t.cursor.empty() && !t.broken) changed_since(server_, t);
    std::vector<std::size_t> waited;
    std::vector<std::uint32_t> oids;
    std::vector<std::optional<std::string>> cursors;
    for (std::size_t i = 0; i < tables.size(); ++i)
        if (!tables[i].broken && !tables[i].cursor.empty()) {
            waited.push_back(i);
            oids.push_back(tables[i].oid);
            cursors.emplace_back(tables[i].cursor);
        }
    auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
    if (waited.empty()) {
        if (left.count() > 0) std::this_thread::sleep_for(left);
        return changed;
    }
    std::vector<std::uint32_t> woke;
    try {
        woke = server_.wait_for_changes(oids, cursors, std::max(left, milliseconds(0)));
    } catch (const client::ConnectionLost&) {
        throw;
    } catch (const client::Error& e) {
        // A table dropped or no longer readable: the probes find which and leave it out until
        // the table list is read again.
        log_line("waiting for changes: " + std::string(e.what()));
        for (std::size_t i : waited)
            if (changed_since(server_, tables[i])) changed.push_back(i);
        auto rest = std::chrono::duration_cast<milliseconds>(until - Clock::now());
        if (changed.empty() && rest.count() > 0) std::this_thread::sleep_for(rest);
        return changed;
    }
    bool woken = false;
    for (std::size_t i : waited)
        if (std::find(woke.begin(), woke.end(), tables[i].oid) != woke.end()) {
            // A new cursor, from a snapshot taken after the change: the next wait starts there.
            // The probe confirms the change (or a cursor that can only resync) before anyone is
            // told.
            woken = true;
            if (changed_since(server_, tables[i])) changed.push_back(i);
        }
    // A wake-up no probe confirms is not repeated at once: the rest of the wait is slept.
    if (woken && changed.empty()) {
        auto rest = std::chrono::duration_cast<milliseconds>(until - Clock::now());
        if (rest.count() > 0) std::this_thread::sleep_for(rest);
    }
    return changed;
}

std::vector<std::size_t> ListenPollSource::wait(std::vector<WatchedTable>& tables,
                                                milliseconds timeout) {
    auto now = Clock::now();
    auto until = std::min(now + timeout, std::max(now, next_poll_));
    auto span = std::chrono::duration_cast<std::chrono::microseconds>(until - now).count();
    if (listening_) {
        if (span > 0) server_.connection().await_notification(span / 1000000, span % 1000000);
        server_.connection().get_notifs();
    } else if (span > 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(span));
    }
    std::vector<std::size_t> changed;
    for (std::size_t i = 0; i < tables.size(); ++i)
        if (heard_.count(tables[i].payload)) changed.push_back(i);
    heard_.clear();
    if (Clock::now() >= next_poll_) {
        next_poll_ = Clock::now() + poll_interval_;
        for (std::size_t i = 0; i < tables.size(); ++i) {
            WatchedTable& t = tables[i];
            if ((listening_ && t.notifies) || t.broken) continue;
            if (changed_since(server_, t) && std::find(changed.begin(), changed.end(), i) == changed.end())
                changed.push_back(i);
        }
    }
    return changed;
}

ChangeFeed::ChangeFeed(FeedConfig config, Notifier& notifier)
    : config_(std::move(config)), notifier_(notifier) {}

ChangeFeed::~ChangeFeed() {
    stop();
}

void ChangeFeed::start() {
    thread_ = std::thread([this] { run(); });
}

void ChangeFeed::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ChangeFeed::watch(const std::set<std::string>& uris) {
    std::lock_guard<std::mutex> lock(mutex_);
    watched_ = uris;
    watched_changed_ = true;
}

void ChangeFeed::run() {
    milliseconds backoff{250};
    bool had_connection = false;
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) return;
        }
        try {
            client::Server server(config_.dsn);
            if (had_connection) {
                // Commits may have happened while the feed was away: say so to every subscriber.
                std::set<std::string> all;
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    all = watched_;
                }
                for (const auto& uri : all) notifier_.resource_updated(uri);
            }
            had_connection = true;
            backoff = milliseconds(250);
            run_connected(server);
            return;
        } catch (const std::exception& e) {
            log_line("change feed: " + client::one_line(e.what()) + "; retrying");
        }
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait_for(lock, backoff, [&] { return stopping_; });
        backoff = std::min(backoff * 2, milliseconds(5000));
        watched_changed_ = true;
    }
}

void ChangeFeed::run_connected(client::Server& server) {
    std::unique_ptr<ChangeSource> source;
    if (server.can_wait())
        source = std::make_unique<WaitSource>(server);
    else
        source = std::make_unique<ListenPollSource>(server, config_.poll_interval);
    std::vector<WatchedTable> tables;
    std::vector<ServedTable> served;
    std::vector<ServedTable> shaped;  // the tracked tables, when shapes may name others
    auto next_list = Clock::now();
    for (;;) {
        bool rebuild = false;
        std::set<std::string> watched;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_) return;
            rebuild = watched_changed_;
            watched_changed_ = false;
            watched = watched_;
        }
        auto now = Clock::now();
        // A new subscription may name a table tracked since the last look: look again.
        if (now >= next_list || rebuild) {
            served = served_tables(server.connection(), config_.tables);
            std::set<std::string> uris;
            for (const auto& t : served) uris.insert(delta_uri(t.name));
            if (listed_ && *listed_ != uris) notifier_.resource_list_changed();
            listed_ = uris;
            if (!config_.shapes.empty())
                shaped = config_.tables.empty() ? served : served_tables(server.connection(), {});
            next_list = now + config_.list_interval;
            rebuild = true;
        }
        if (rebuild) {
            std::vector<WatchedTable> next;
            for (const auto& t : served) {
                std::string uri = delta_uri(t.name);
                if (!watched.count(uri)) continue;
                WatchedTable w;
                w.oid = t.oid;
                w.payload = t.name.schema + "." + t.name.table;
                w.uri = uri;
                w.notifies = t.notify;
                for (const auto& old : tables)
                    if (old.oid == t.oid) {
                        w.cursor = old.cursor;
                        w.broken = old.broken;
                    }
                next.push_back(std::move(w));
            }
            // A shape hears of every commit to its table (a hint: its delta may be empty).
            for (const auto& s : config_.shapes)
                for (const auto& t : shaped) {
                    std::string uri = delta_uri(s.name);
                    if (!(t.name == s.table) || !watched.count(uri) ||
                        std::any_of(next.begin(), next.end(),
                                    [&](const WatchedTable& w) { return w.uri == uri; }))
                        continue;
                    WatchedTable w;
                    w.oid = t.oid;
                    w.payload = t.name.schema + "." + t.name.table;
                    w.uri = uri;
                    w.notifies = t.notify;
                    for (const auto& old : tables)
                        if (old.uri == uri) {
                            w.cursor = old.cursor;
                            w.broken = old.broken;
                        }
                    next.push_back(std::move(w));
                }
            tables = std::move(next);
        }

        // Wait for a commit, but wake in time for a coalesced notification that is due.
        milliseconds timeout = source->longest_wait();
        for (const auto& uri : pending_) {
            auto due = last_sent_[uri] + config_.coalesce;
            auto left = std::chrono::duration_cast<milliseconds>(due - Clock::now());
            timeout = std::max(milliseconds(0), std::min(timeout, left));
        }
        std::vector<std::size_t> changed = source->wait(tables, timeout);

        now = Clock::now();
        for (std::size_t i : changed) pending_.insert(tables[i].uri);
        for (auto it = pending_.begin(); it != pending_.end();) {
            auto last = last_sent_.find(*it);
            if (last == last_sent_.end() || now - last->second >= config_.coalesce) {
                last_sent_[*it] = now;
                notifier_.resource_updated(*it);
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
    }
}

}  // namespace delta_sync::mcp
