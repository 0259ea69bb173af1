// Pulling tables into the replica, once or continuously (see puller.hpp).
#include "puller.hpp"

#include "errors.hpp"
#include "progress.hpp"

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <utility>

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

namespace {

// SQLite's wait for another writer, which a stop request cuts short (SQLite's own would sleep
// through SIGINT for the whole busy timeout).
extern "C" int wait_for_replica(void*, int attempts) {
    if (stop_requested() || attempts >= 1200) return 0;  // 1200 x 50 ms: a minute
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return 1;
}

}  // namespace

Puller::Puller(std::string dsn, Replica& replica, PullOptions options)
    : dsn_(std::move(dsn)), replica_(replica), options_(options) {
    sqlite3_busy_handler(replica_.database().handle(), wait_for_replica, nullptr);
}

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
        // Judged before the connection goes: whether it is still open says lost or refused.
        std::unique_ptr<Server> failed = std::move(server_);
        disconnect();
        rethrow_server_error("listening on delta_sync", failed ? &failed->connection() : nullptr);
    }
    if (connected_once_) reconnected_ = true;
    connected_once_ = true;
    if (source_) {
        // A reconnect may reach another server (a DSN that now names another host): the file
        // takes one source only.
        try {
            replica_.check_source(server_->source());
        } catch (...) {
            disconnect();
            throw;
        }
    }
    return *server_;
}

void Puller::prepare(const std::vector<std::string>& names) {
    for (const std::string& name : names) table(name);
    if (!source_) {
        ReplicaSource s = server().source();
        replica_.claim(s);
        source_ = s;
    }
}

const TableInfo& Puller::table(const std::string& name) {
    for (auto& t : tables_)
        if (t.first == name) return t.second;
    Backoff backoff(options_.first_backoff, options_.max_backoff);
    for (int attempt = 1;; ++attempt) {
        try {
            if (tables_.empty() && !source_) replica_.check_source(server().source());
            TableInfo info = server().describe(name);
            apply_shape(info, options_.shape);
            replica_.place(info.replica);
            tables_.emplace_back(name, std::move(info));
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
    table(name);
    prepare({});
    Backoff backoff(options_.first_backoff, options_.max_backoff);
    int changes = 0;
    for (int attempt = 1;; ++attempt) {
        try {
            return pull_once(table(name));
        } catch (const ReplicaChanged& e) {
            // Another pull moved the cursor, or the table changed shape: start over at once.
            if (++changes > 5) throw;
            --attempt;
        } catch (const ReplicaBusy& e) {
            if (stop_requested()) throw Interrupted("interrupted while waiting for the replica");
            throw;
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

namespace {

// Reads a DeltaStream's pages on a thread of its own, one page ahead of the caller: the thread
// fetches page k+1, parses it and looks up its JSON nulls while the caller writes page k to
// SQLite, so the server's work, the parsing and the SQLite inserts overlap. libpqxx objects are
// not thread-safe: while the thread runs it alone uses the stream's transaction and connection.
// It parses into two parsers in turn and fills the slot only when the slot is empty, so at most
// two pages are held: the caller's (in one parser) and the next one (in the other). The
// destructor stops the thread and joins it on every exit path (a FETCH under way is waited for,
// as it was when the caller fetched itself). A failure of the thread (a lost connection, a server
// error, a malformed document) is rethrown by next(), after the pages before it, in the caller's
// thread.
class PageReader {
public:
    struct Page {
        const DeltaPage* page = nullptr;
        JsonNulls json_nulls;  // when the table has json columns
    };

    PageReader(DeltaStream& stream, pqxx::transaction_base& tx, const TableInfo& info,
               bool has_json, DeltaPageParser (&parsers)[2])
        : stream_(stream), tx_(tx), info_(info), has_json_(has_json), parsers_(parsers) {
        // SIGINT and SIGTERM stay with the calling thread, whose waits check for them.
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        try {
            thread_ = std::thread([this] { run(); });
        } catch (...) {
            pthread_sigmask(SIG_SETMASK, &old, nullptr);
            throw;
        }
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    ~PageReader() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    PageReader(const PageReader&) = delete;
    PageReader& operator=(const PageReader&) = delete;

    // The next page, valid until the next call; null at the end. Rethrows the thread's failure.
    // While it waits, calls poll every 50 ms (which may throw to give up).
    const Page* next(const std::function<void()>& poll) {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!slot_ && !done_) {
            if (changed_.wait_for(lock, std::chrono::milliseconds(50)) == std::cv_status::timeout) {
                lock.unlock();
                poll();
                lock.lock();
            }
        }
        if (slot_) {
            // Taking the slot gives the previous page's parser back to the thread.
            current_ = std::move(*slot_);
            slot_.reset();
            lock.unlock();
            changed_.notify_all();  // the slot is free: read the next page
            return &current_;
        }
        current_ = Page();
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
        return nullptr;
    }

private:
    void run() {
        try {
            for (int turn = 0;; turn ^= 1) {
                {
                    std::unique_lock<std::mutex> lock(mutex_);
                    changed_.wait(lock, [this] { return stop_ || !slot_; });
                    if (stop_) break;
                }
                // The slot is empty, so the caller holds the page of the other parser (or none):
                // this one is free.
                Page page;
                {
                    std::optional<pqxx::result> result = stream_.next_result();
                    if (!result) break;
                    const pqxx::field f = (*result)[0][0];
                    page.page = &parsers_[turn].parse(std::string_view(f.c_str(), f.size()));
                }  // the fetched text is freed: the parser holds its own copy
                if (has_json_) page.json_nulls = json_nulls(tx_, info_, *page.page);
                std::lock_guard<std::mutex> lock(mutex_);
                slot_ = std::move(page);
                changed_.notify_all();
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex_);
            error_ = std::current_exception();
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            done_ = true;
        }
        changed_.notify_all();
    }

    DeltaStream& stream_;
    pqxx::transaction_base& tx_;
    const TableInfo& info_;
    const bool has_json_;
    DeltaPageParser (&parsers_)[2];
    std::mutex mutex_;
    std::condition_variable changed_;  // a page in the slot, the slot free, done or stop
    std::optional<Page> slot_;         // read, not yet taken
    bool done_ = false;                // the thread reads no more (the end, or error_)
    bool stop_ = false;
    std::exception_ptr error_;
    Page current_;  // the page the caller holds
    std::thread thread_;
};

}  // namespace

bool Puller::apply_stream(pqxx::transaction_base& tx, const std::string& function,
                          const TableInfo& info, TableUpdate& update, const DeltaRequest& request,
                          PullReport& report, std::string& version) {
    bool full = !request.since;
    Progress progress(info.replica.name, full ? info.estimated_rows : -1, options_.progress);
    DeltaStream stream(tx, function, info, request);
    version.clear();
    bool has_json = std::any_of(info.replica.columns.begin(), info.replica.columns.end(),
                                [](const ReplicaColumn& c) { return c.kind == ColumnKind::json; });
    auto check_stop = [&] {
        if (stop_requested())
            throw Interrupted("interrupted; " + info.replica.name + " left as it was");
    };
    PageReader reader(stream, tx, info, has_json, parsers_);
    while (const PageReader::Page* read = reader.next(check_stop)) {
        check_stop();
        const DeltaPage& page = *read->page;
        if (page.full_resync_required()) {
            if (full) throw Error(info.display_name + ": the server refused a full sync");
            return false;
        }
        // All pages of one answer come from one snapshot; anything else would corrupt the cursor.
        if (!version.empty() && page.server_version() != version)
            throw Error(info.display_name + ": pages of one answer carry different serverVersions");
        version = page.server_version();
        // The replica's write lock, only now that there is something to write.
        if (!update.locked()) {
            update.lock();
            if (full) update.start_rebuild();
        }
        ApplyCounts c = update.apply(page, has_json ? &read->json_nulls : nullptr);
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

namespace {

// Whether a table keeps its shape: the same SQLite name, key and columns of the same types.
bool same_shape(const ReplicaTable& a, const ReplicaTable& b) {
    if (a.name != b.name || a.primary_key != b.primary_key || a.columns.size() != b.columns.size())
        return false;
    for (std::size_t i = 0; i < a.columns.size(); ++i)
        if (a.columns[i].name != b.columns[i].name ||
            a.columns[i].server_type != b.columns[i].server_type ||
            a.columns[i].kind != b.columns[i].kind)
            return false;
    return true;
}

}  // namespace

PullReport Puller::pull_once(const TableInfo& resolved) {
    const TableInfo known = resolved;  // tables_ is refreshed below
    PullReport report;
    report.table = known.replica.name;
    Server& srv = server();
    const std::string function = srv.delta_function();  // looked up outside the transaction
    // The cursor is read before the server's snapshot is taken, so it is never newer than it.
    TableUpdate update(replica_, known.replica);
    std::string version;
    try {
        // One snapshot for the table's columns, the JSON-null look-ups and every page.
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>
            tx(srv.connection());
        std::optional<TableInfo> fresh = Server::describe_oid(tx, known.oid);
        if (!fresh) throw TableDropped("table " + known.display_name + " was dropped");
        apply_shape(*fresh, options_.shape);
        replica_.place(fresh->replica);  // the name it has, even after a rename
        for (auto& t : tables_)
            if (t.second.oid == fresh->oid) t.second = *fresh;
        if (!same_shape(fresh->replica, known.replica))
            throw ReplicaChanged("table " + fresh->display_name + " changed; pulling again");
        const TableInfo& info = *fresh;
        DeltaRequest request;
        request.page_size = options_.page_size;
        request.columns = options_.shape.columns;
        request.filter = options_.shape.filter;
        request.since = update.cursor();
        if (!request.since) report.full_sync = true;
        report.columns_changed = update.columns_changed();
        if (!apply_stream(tx, function, info, update, request, report, version)) {
            // The cursor is too old (or from elsewhere): rebuild from a full snapshot, in the
            // same SQLite transaction, so readers go straight from the old table to the new.
            report.full_sync = report.resync_required = true;
            report.counts = {};
            report.pages = 0;
            request.since.reset();
            apply_stream(tx, function, info, update, request, report, version);
        }
        tx.commit();
    } catch (...) {
        rethrow_server_error(known.display_name, &srv.connection());
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
        rethrow_server_error("waiting for changes", &server_->connection());
    }
    out.swap(listener_->payloads);
    return out;
}

void Puller::refresh_tables() {
    for (auto& t : tables_)
        if (auto fresh = server().describe_oid(t.second.oid)) {
            apply_shape(*fresh, options_.shape);
            replica_.place(fresh->replica);
            t.second = std::move(*fresh);
        }
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
    std::set<std::string> never_pulled = all;    // in this run
    auto leave = [&](const std::string& name, const std::string& why) {
        std::fprintf(stderr, "delta-sync: %s; no longer watching %s\n", why.c_str(), name.c_str());
        all.erase(name);
        pending.erase(name);
        never_pulled.erase(name);
        cursors.erase(name);
        if (all.empty()) throw Error("no table left to watch");
    };
    auto interrupted = [&]() {
        if (!never_pulled.empty())
            throw Interrupted("interrupted before the first pull of " + *never_pulled.begin());
    };
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
                try {
                    PullReport report = pull(name);
                    cursors[name] = report.server_version;
                    on_pull(report);
                } catch (const ConnectionLost&) {
                    throw;
                } catch (const Interrupted&) {
                    throw;
                } catch (const ReplicaBusy& e) {
                    std::fprintf(stderr, "delta-sync: %s; retrying\n", e.what());
                    backoff.wait();
                    continue;
                } catch (const Error& e) {
                    // This table only (dropped, untracked, refused): the others go on.
                    leave(name, e.what());
                    continue;
                }
                pending.erase(name);
                never_pulled.erase(name);
                if (reconnected_) {
                    reconnected_ = false;
                    pending = all;
                }
            }
            backoff = Backoff(options_.first_backoff, options_.max_backoff);
            while (pending.empty() && !stop_requested()) {
                if (can_wait) {
                    std::vector<std::string> order(all.begin(), all.end());
                    std::vector<std::uint32_t> oids;
                    std::vector<std::optional<std::string>> since;
                    for (const std::string& name : order) {
                        oids.push_back(table(name).oid);
                        auto c = cursors.find(name);
                        since.push_back(c == cursors.end() ? std::nullopt
                                                           : std::optional<std::string>(c->second));
                    }
                    std::vector<std::uint32_t> changed;
                    try {
                        // Short waits keep a stop request prompt (the handlers only set a flag).
                        changed =
                            server().wait_for_changes(oids, since, std::chrono::milliseconds(500));
                    } catch (const ConnectionLost&) {
                        throw;
                    } catch (const Interrupted&) {
                        throw;
                    } catch (const Error&) {
                        // A watched table is gone or refused: the pulls find which and leave it.
                        pending = all;
                        break;
                    }
                    for (std::uint32_t oid : changed)
                        for (const std::string& name : order)
                            if (table(name).oid == oid) pending.insert(name);
                } else {
                    std::set<std::string> payloads = take_notifications();
                    for (int round = 0; round < 2 && !payloads.empty(); ++round) {
                        std::set<std::string> unknown;
                        for (const std::string& payload : payloads) {
                            bool known = false;
                            for (const std::string& name : all)
                                if (table(name).notify_payload == payload) {
                                    pending.insert(name);
                                    known = true;
                                }
                            if (!known) unknown.insert(payload);
                        }
                        // A name we do not know may be a watched table renamed: look them up again.
                        if (unknown.empty() || round == 1) break;
                        refresh_tables();
                        payloads.swap(unknown);
                    }
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
                    rethrow_server_error("waiting for changes", &server_->connection());
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
                if (!never_pulled.empty()) throw;
                return;
            }
        } catch (const Interrupted&) {
            // Cut short before every table was pulled once: the same as a plain pull (130).
            if (!never_pulled.empty()) throw;
            return;
        }
    }
    interrupted();
}

}  // namespace delta_sync::client
