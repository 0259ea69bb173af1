// The PostgreSQL side of the client (see server.hpp).
#include "server.hpp"

#include "errors.hpp"

#include <atomic>
#include <cstdlib>

namespace delta_sync::client {

std::string choose_dsn(const std::optional<std::string>& dsn_option) {
    if (dsn_option) return *dsn_option;
    if (const char* url = std::getenv("DATABASE_URL"); url && *url) return url;
    return "";
}

namespace {

// SQLSTATEs that mean the session is gone rather than the request wrong.
bool is_connection_state(const std::string& state) {
    return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03";
}

}  // namespace

void rethrow_server_error(const std::string& context) {
    try {
        throw;
    } catch (const Error&) {
        throw;
    } catch (const pqxx::broken_connection& e) {
        throw ConnectionLost(context + ": connection lost: " + one_line(e.what()));
    } catch (const pqxx::in_doubt_error& e) {
        throw ConnectionLost(context + ": connection lost: " + one_line(e.what()));
    } catch (const pqxx::sql_error& e) {
        if (is_connection_state(e.sqlstate()))
            throw ConnectionLost(context + ": connection lost: " + one_line(e.what()));
        throw Error(context + ": " + one_line(e.what()));
    } catch (const std::exception& e) {
        // libpqxx reports a connection that died between statements as a plain failure.
        std::string what = e.what();
        if (what.find("connection") != std::string::npos &&
            (what.find("lost") != std::string::npos || what.find("closed") != std::string::npos ||
             what.find("terminat") != std::string::npos))
            throw ConnectionLost(context + ": connection lost: " + one_line(what));
        throw Error(context + ": " + one_line(what));
    }
}

Server::Server(const std::string& dsn) {
    try {
        connection_ = std::make_unique<pqxx::connection>(dsn);
    } catch (const std::exception& e) {
        throw Error("cannot connect to PostgreSQL: " + one_line(e.what()));
    }
}

TableInfo Server::describe(std::string_view table) {
    try {
        pqxx::read_transaction tx(*connection_);
        pqxx::result r = tx.exec(
            "SELECT c.oid, c.oid::pg_catalog.regclass::text, n.nspname, c.relname, c.reltuples, "
            "a.attname, t.typcategory, t.typname "
            "FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
            "LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
            "WHERE c.oid = " +
            tx.quote(std::string(table)) + "::pg_catalog.regclass");
        tx.commit();
        const auto row = r.at(0);
        TableInfo info;
        info.oid = row[0].as<std::uint32_t>();
        info.display_name = row[1].as<std::string>();
        info.schema = row[2].as<std::string>();
        info.relname = row[3].as<std::string>();
        info.estimated_rows = row[4].as<double>();
        info.notify_payload = info.schema + "." + info.relname;
        info.replica.name = info.schema == "public" ? info.relname : info.notify_payload;
        if (row[5].is_null())
            throw Error("table " + info.display_name + " has no primary key; delta_sync needs one");
        info.replica.primary_key = row[5].as<std::string>();
        std::string category = row[6].as<std::string>();
        std::string type = row[7].as<std::string>();
        if (type == "int2" || type == "int4" || type == "int8")
            info.replica.key_kind = ReplicaTable::KeyKind::integer;
        else if (category == "N")
            info.replica.key_kind = ReplicaTable::KeyKind::number;
        else
            info.replica.key_kind = ReplicaTable::KeyKind::text;
        return info;
    } catch (...) {
        rethrow_server_error(std::string(table));
    }
}

const std::string& Server::delta_function() {
    if (!delta_function_.empty()) return delta_function_;
    try {
        pqxx::read_transaction tx(*connection_);
        pqxx::result r = tx.exec(
            "SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e "
            "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'delta_sync'");
        std::string db = connection_->dbname();
        tx.commit();
        if (r.empty())
            throw Error("the delta_sync extension is not installed in database " + db +
                        " (CREATE EXTENSION delta_sync)");
        delta_function_ = r[0][0].as<std::string>() + ".delta_since";
        return delta_function_;
    } catch (...) {
        rethrow_server_error("looking up the delta_sync extension");
    }
}

bool Server::can_wait() {
    try {
        pqxx::nontransaction tx(*connection_);
        return tx.exec("SELECT pg_catalog.to_regprocedure("
                       "'delta_sync.wait(pg_catalog.regclass[], pg_catalog.text[], pg_catalog.interval)') "
                       "IS NOT NULL")[0][0].as<bool>();
    } catch (...) {
        rethrow_server_error("looking up delta_sync.wait");
    }
}

std::vector<std::uint32_t> Server::wait_for_changes(
    const std::vector<std::uint32_t>& tables, const std::vector<std::optional<std::string>>& since,
    std::chrono::milliseconds timeout) {
    try {
        // One statement in autocommit: no snapshot or transaction is held while it waits.
        pqxx::nontransaction tx(*connection_);
        std::string oids, cursors;
        for (std::size_t i = 0; i < tables.size(); ++i) {
            oids += (i ? "," : "") + std::to_string(tables[i]);
            cursors += std::string(i ? "," : "") +
                       (since[i] ? tx.quote(*since[i]) + "::pg_catalog.text" : "NULL::pg_catalog.text");
        }
        pqxx::result r = tx.exec(
            "SELECT pg_catalog.unnest(delta_sync.wait(ARRAY[" + oids +
            "]::pg_catalog.oid[]::pg_catalog.regclass[], ARRAY[" + cursors + "], " +
            tx.quote(std::to_string(timeout.count()) + " ms") + "::pg_catalog.interval))::pg_catalog.oid");
        std::vector<std::uint32_t> changed;
        for (const auto& row : r) changed.push_back(row[0].as<std::uint32_t>());
        return changed;
    } catch (...) {
        rethrow_server_error("waiting for changes");
    }
}

void Server::track(std::string_view table, std::optional<int> max_changes) {
    delta_function();  // a clear message when the extension is missing
    try {
        pqxx::work tx(*connection_);
        std::string sql =
            "SELECT delta_sync.track(" + tx.quote(std::string(table)) + "::pg_catalog.regclass";
        if (max_changes) sql += ", max_changes => " + std::to_string(*max_changes);
        tx.exec(sql + ")");
        tx.commit();
    } catch (...) {
        rethrow_server_error("track " + std::string(table));
    }
}

void Server::untrack(std::string_view table) {
    delta_function();
    try {
        pqxx::work tx(*connection_);
        tx.exec("SELECT delta_sync.untrack(" + tx.quote(std::string(table)) +
                "::pg_catalog.regclass)");
        tx.commit();
    } catch (...) {
        rethrow_server_error("untrack " + std::string(table));
    }
}

std::vector<TrackedTable> Server::tracked() {
    delta_function();
    try {
        pqxx::read_transaction tx(*connection_);
        pqxx::result r = tx.exec(
            "SELECT relid::text, max_changes, "
            "pg_catalog.to_char(tracked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
            "FROM delta_sync.tracked ORDER BY 1");
        tx.commit();
        std::vector<TrackedTable> out;
        for (const auto& row : r)
            out.push_back({row[0].as<std::string>(), row[1].as<int>(), row[2].as<std::string>()});
        return out;
    } catch (...) {
        rethrow_server_error("reading delta_sync.tracked");
    }
}

DeltaStream::DeltaStream(pqxx::transaction_base& tx, const std::string& function,
                         const TableInfo& table, const DeltaRequest& request)
    : tx_(tx), context_(table.display_name) {
    static std::atomic<unsigned> counter{0};
    name_ = "delta_sync_pages_" + std::to_string(++counter);
    auto opt_int = [](const std::optional<int>& v) { return v ? std::to_string(*v) : "NULL"; };
    std::string sql = "DECLARE " + name_ + " NO SCROLL CURSOR FOR SELECT " + function + "(" +
                      std::to_string(table.oid) + "::pg_catalog.oid::pg_catalog.regclass, " +
                      (request.since ? tx.quote(*request.since) : "NULL") + ", " +
                      opt_int(request.max_changes) + ", " + opt_int(request.page_size) + ")";
    try {
        tx_.exec(sql);
    } catch (...) {
        rethrow_server_error(context_);
    }
}

std::optional<std::string_view> DeltaStream::next() {
    if (finished_) return std::nullopt;
    try {
        current_ = pqxx::result();  // free the previous page before fetching the next
        current_ = tx_.exec("FETCH FORWARD 1 FROM " + name_);
    } catch (...) {
        rethrow_server_error(context_);
    }
    if (current_.empty()) {
        finished_ = true;
        return std::nullopt;
    }
    const pqxx::field f = current_[0][0];
    return std::string_view(f.c_str(), f.size());
}

}  // namespace delta_sync::client
