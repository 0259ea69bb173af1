// The PostgreSQL side of the client (see server.hpp).
#include "server.hpp"

#include "errors.hpp"

#include <simdjson.h>

#include <atomic>
#include <cstdlib>
#include <utility>

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

void rethrow_server_error(const std::string& context, const pqxx::connection_base* connection) {
    try {
        throw;
    } catch (const Error&) {
        throw;
    } catch (const pqxx::broken_connection& e) {
        throw ConnectionLost(context + ": connection lost: " + one_line(e.what()));
    } catch (const pqxx::in_doubt_error& e) {
        throw ConnectionLost(context + ": connection lost: " + one_line(e.what()));
    } catch (const pqxx::sql_error& e) {
        if (is_connection_state(e.sqlstate()) || (connection && !connection->is_open()))
            throw ConnectionLost(context + ": connection lost: " + one_line(e.what()), e.sqlstate());
        throw Error(context + ": " + one_line(e.what()), e.sqlstate());
    } catch (const std::exception& e) {
        // libpqxx reports a connection that died between statements as a plain failure: the
        // connection's state tells, not the message.
        if (connection && !connection->is_open())
            throw ConnectionLost(context + ": connection lost: " + one_line(e.what()));
        throw Error(context + ": " + one_line(e.what()));
    }
}

Server::Server(const std::string& dsn) {
    try {
        connection_ = std::make_unique<pqxx::connection>(dsn);
    } catch (const std::exception& e) {
        throw Error("cannot connect to PostgreSQL: " + one_line(e.what()));
    }
    try {
        pqxx::nontransaction tx(*connection_);
        tx.exec(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
            "SET extra_float_digits = 3; SET bytea_output = 'hex'; SET lc_monetary = 'C'; "
            "SET client_encoding = 'UTF8'");
    } catch (...) {
        rethrow_server_error("setting up the session", connection_.get());
    }
}

std::string array_literal(const std::vector<std::optional<std::string>>& elements) {
    std::string out = "{";
    for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i) out += ',';
        if (!elements[i]) {
            out += "NULL";
            continue;
        }
        out += '"';
        for (char c : *elements[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

std::string array_literal(const std::vector<std::string>& elements) {
    return array_literal(std::vector<std::optional<std::string>>(elements.begin(), elements.end()));
}

namespace {

// The table whose oid is `oid`, with its key (its columns in key order: [[name, type
// category, type name, format_type], ...], NULL without a primary key) and columns.
std::string describe_sql(const std::string& oid) {
    return "SELECT c.oid, c.oid::pg_catalog.regclass::text, n.nspname, c.relname, c.reltuples, "
           "(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname, t.typcategory, "
           "        t.typname, pg_catalog.format_type(a.atttypid, a.atttypmod)) ORDER BY k.n) "
           "   FROM pg_catalog.pg_index i, "
           "        pg_catalog.unnest((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts - 1]) "
           "            WITH ORDINALITY k(attnum, n), "
           "        pg_catalog.pg_attribute a, pg_catalog.pg_type t "
           "  WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid "
           "    AND a.attnum = k.attnum AND t.oid = a.atttypid)::text, "
           "(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(ca.attname, "
           "        pg_catalog.format_type(ca.atttypid, ca.atttypmod), bt.typname, "
           "        CASE WHEN ct.typtype = 'd' THEN ct.typtypmod ELSE ca.atttypmod END) "
           "        ORDER BY ca.attnum) "
           "   FROM pg_catalog.pg_attribute ca "
           "   JOIN pg_catalog.pg_type ct ON ct.oid = ca.atttypid "
           "   JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN ct.typtype = 'd' "
           "        THEN ct.typbasetype ELSE ct.oid END "
           "  WHERE ca.attrelid = c.oid AND ca.attnum > 0 AND NOT ca.attisdropped "
           "    AND ca.attname OPERATOR(pg_catalog.<>) ALL "
           "        ('{delta_sync_created_xid,delta_sync_changed_xid}'::pg_catalog.name[]))::text "
           "FROM pg_catalog.pg_class c "
           "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
           "WHERE c.oid = " +
           oid;
}

TableInfo table_info(const pqxx::row& row) {
    TableInfo info;
    info.oid = row[0].as<std::uint32_t>();
    info.display_name = row[1].as<std::string>();
    info.schema = row[2].as<std::string>();
    info.relname = row[3].as<std::string>();
    info.estimated_rows = row[4].as<double>();
    info.notify_payload = info.schema + "." + info.relname;
    info.replica.name = info.schema == "public" ? info.relname : info.notify_payload;
    info.replica.server_oid = info.oid;
    info.replica.server_schema = info.schema;
    info.replica.server_table = info.relname;
    if (row[5].is_null())
        throw Error("table " + info.display_name + " has no primary key; delta_sync needs one");
    simdjson::dom::parser parser;
    // [[name, type category, type name, format_type], ...] in key order
    std::string key = row[5].as<std::string>();
    for (simdjson::dom::element k : parser.parse(key).get_array()) {
        simdjson::dom::array a = k.get_array();
        info.replica.primary_key.emplace_back(a.at(0).get_string().value());
        info.key_types.emplace_back(a.at(3).get_string().value());
        if (info.replica.primary_key.size() > 1) continue;
        std::string_view category = a.at(1).get_string().value();
        std::string_view type = a.at(2).get_string().value();
        if (type == "int2" || type == "int4" || type == "int8")
            info.replica.key_kind = ReplicaTable::KeyKind::integer;
        else if (category == "N")
            info.replica.key_kind = ReplicaTable::KeyKind::number;
        else
            info.replica.key_kind = ReplicaTable::KeyKind::text;
    }
    // [[name, format_type, base type name, typmod], ...]
    std::string columns = row[6].is_null() ? "[]" : row[6].as<std::string>();
    for (simdjson::dom::element c : parser.parse(columns).get_array()) {
        simdjson::dom::array a = c.get_array();
        ReplicaColumn column;
        column.name = std::string(a.at(0).get_string().value());
        column.server_type = std::string(a.at(1).get_string().value());
        column.kind = column_kind(a.at(2).get_string().value(),
                                  static_cast<int>(a.at(3).get_int64().value()));
        info.replica.columns.push_back(std::move(column));
    }
    return info;
}

}  // namespace

TableInfo Server::describe(std::string_view table) {
    try {
        pqxx::read_transaction tx(*connection_);
        // regclass reads "-" and "0" as the invalid oid, and any number as an oid.
        pqxx::result r = tx.exec_params(describe_sql("$1::pg_catalog.regclass::pg_catalog.oid"),
                                        std::string(table));
        tx.commit();
        if (r.empty()) throw Error("relation \"" + std::string(table) + "\" does not exist");
        return table_info(r[0]);
    } catch (...) {
        rethrow_server_error(std::string(table), connection_.get());
    }
}

std::optional<TableInfo> Server::describe_oid(pqxx::transaction_base& tx, std::uint32_t oid) {
    pqxx::result r = tx.exec(describe_sql(std::to_string(oid) + "::pg_catalog.oid"));
    if (r.empty()) return std::nullopt;
    return table_info(r[0]);
}

std::optional<TableInfo> Server::describe_oid(std::uint32_t oid) {
    try {
        pqxx::read_transaction tx(*connection_);
        auto info = describe_oid(tx, oid);
        tx.commit();
        return info;
    } catch (...) {
        rethrow_server_error("table with oid " + std::to_string(oid), connection_.get());
    }
}

ReplicaSource Server::source() {
    try {
        pqxx::read_transaction tx(*connection_);
        pqxx::result r = tx.exec(
            "SELECT s.system_identifier::text, d.datname, d.oid FROM "
            "pg_catalog.pg_control_system() s, "
            "pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()");
        tx.commit();
        return ReplicaSource{r.at(0)[0].as<std::string>(), r.at(0)[1].as<std::string>(),
                             r.at(0)[2].as<std::uint32_t>()};
    } catch (...) {
        rethrow_server_error("reading the cluster's identity", connection_.get());
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
        rethrow_server_error("looking up the delta_sync extension", connection_.get());
    }
}

bool Server::can_wait() {
    try {
        pqxx::nontransaction tx(*connection_);
        return tx.exec("SELECT pg_catalog.to_regprocedure("
                       "'delta_sync.wait(pg_catalog.regclass[], pg_catalog.text[], pg_catalog.interval)') "
                       "IS NOT NULL")[0][0].as<bool>();
    } catch (...) {
        rethrow_server_error("looking up delta_sync.wait", connection_.get());
    }
}

std::vector<std::uint32_t> Server::wait_for_changes(
    const std::vector<std::uint32_t>& tables, const std::vector<std::optional<std::string>>& since,
    std::chrono::milliseconds timeout) {
    try {
        // One statement in autocommit: no snapshot or transaction is held while it waits.
        pqxx::nontransaction tx(*connection_);
        std::vector<std::string> oids;
        for (std::uint32_t oid : tables) oids.push_back(std::to_string(oid));
        pqxx::result r = tx.exec_params(
            "SELECT pg_catalog.unnest(delta_sync.wait($1::pg_catalog.oid[]::pg_catalog.regclass[], "
            "$2::pg_catalog.text[], $3::pg_catalog.interval))::pg_catalog.oid",
            array_literal(oids), array_literal(since),
            std::to_string(timeout.count()) + " ms");
        std::vector<std::uint32_t> changed;
        for (const auto& row : r) changed.push_back(row[0].as<std::uint32_t>());
        return changed;
    } catch (...) {
        rethrow_server_error("waiting for changes", connection_.get());
    }
}

void Server::track(std::string_view table, std::optional<int> max_changes) {
    delta_function();  // a clear message when the extension is missing
    try {
        pqxx::work tx(*connection_);
        if (max_changes)
            tx.exec_params("SELECT delta_sync.track($1::pg_catalog.regclass, max_changes => $2)",
                           std::string(table), *max_changes);
        else
            tx.exec_params("SELECT delta_sync.track($1::pg_catalog.regclass)", std::string(table));
        tx.commit();
    } catch (...) {
        rethrow_server_error("track " + std::string(table), connection_.get());
    }
}

bool Server::untrack(std::string_view table) {
    delta_function();
    try {
        pqxx::work tx(*connection_);
        pqxx::result r = tx.exec_params(
            "SELECT EXISTS (SELECT FROM delta_sync.tracked t "
            "WHERE t.relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass)",
            std::string(table));
        bool tracked = r.at(0)[0].as<bool>();
        if (tracked)
            tx.exec_params("SELECT delta_sync.untrack($1::pg_catalog.regclass)", std::string(table));
        tx.commit();
        return tracked;
    } catch (...) {
        rethrow_server_error("untrack " + std::string(table), connection_.get());
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
        rethrow_server_error("reading delta_sync.tracked", connection_.get());
    }
}

JsonNulls json_nulls(pqxx::transaction_base& tx, const TableInfo& info, const DeltaPage& page) {
    // A record renders JSON null and SQL NULL alike; ask the server, on the same snapshot, which
    // of the rows with a null in a json column hold JSON null there.
    std::vector<const ReplicaColumn*> json_columns;
    for (const ReplicaColumn& c : info.replica.columns)
        if (c.kind == ColumnKind::json) json_columns.push_back(&c);
    std::string keys;
    for (const auto& bucket : {page.created(), page.updated()})
        for (const Record& r : bucket) {
            bool null = false;
            for (const ReplicaColumn* c : json_columns)
                if (const Field* f = r.find(c->name); f && f->value.kind == SqlValue::Kind::null)
                    null = true;
            if (null) keys += (keys.empty() ? "" : ",") + record_key_json(info.replica, r);
        }
    JsonNulls out;
    if (keys.empty()) return out;
    pqxx::connection_base& conn = tx.conn();
    // The rows by their keys, each key given back as record_key_json() writes it.
    const std::vector<std::string>& key = info.replica.primary_key;
    std::string sql;
    if (key.size() == 1) {
        std::string k = conn.quote_name(key[0]);
        sql = "SELECT pg_catalog.to_json(r." + k + ")::text";
        for (const ReplicaColumn* c : json_columns)
            sql += ", r." + conn.quote_name(c->name) + " IS NOT NULL";
        sql += " FROM " + conn.quote_name(info.schema) + "." + conn.quote_name(info.relname) +
               " r WHERE r." + k +
               " OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT "
               "pg_catalog.json_array_elements_text($1::pg_catalog.json))::" +
               info.key_types.at(0) + "[])";
    } else {
        // A composite key: the keys are arrays, each element its column's value.
        std::string rendered = "'[' OPERATOR(pg_catalog.||) pg_catalog.concat_ws(','";
        std::string columns, elements;
        for (std::size_t i = 0; i < key.size(); ++i) {
            std::string k = "r." + conn.quote_name(key[i]);
            rendered += ", pg_catalog.to_json(" + k + ")::text";
            columns += (i ? ", " : "") + k;
            elements += std::string(i ? ", " : "") + "(e OPERATOR(pg_catalog.->>) " +
                        std::to_string(i) + ")::" + info.key_types.at(i);
        }
        sql = "SELECT " + rendered + ") OPERATOR(pg_catalog.||) ']'";
        for (const ReplicaColumn* c : json_columns)
            sql += ", r." + conn.quote_name(c->name) + " IS NOT NULL";
        sql += " FROM " + conn.quote_name(info.schema) + "." + conn.quote_name(info.relname) +
               " r WHERE (" + columns + ") IN (SELECT " + elements +
               " FROM pg_catalog.json_array_elements($1::pg_catalog.json) e)";
    }
    pqxx::result rows = tx.exec_params(sql, "[" + keys + "]");
    for (const auto& row : rows)
        for (std::size_t i = 0; i < json_columns.size(); ++i)
            if (row[static_cast<int>(i + 1)].as<bool>())
                out.emplace(row[0].as<std::string>(), json_columns[i]->name);
    return out;
}

DeltaStream::DeltaStream(pqxx::transaction_base& tx, const std::string& function,
                         const TableInfo& table, const DeltaRequest& request)
    : tx_(tx), context_(table.display_name) {
    static std::atomic<unsigned> counter{0};
    name_ = "delta_sync_pages_" + std::to_string(++counter);
    auto opt_int = [](const std::optional<int>& v) { return v ? std::to_string(*v) : "NULL"; };
    std::string sql = "DECLARE " + name_ + " NO SCROLL CURSOR FOR SELECT " + function + "(" +
                      std::to_string(table.oid) + "::pg_catalog.oid::pg_catalog.regclass, " +
                      "$1::pg_catalog.text, " + opt_int(request.max_changes) + ", " +
                      opt_int(request.page_size) +
                      // A shape, as parameters: the server parses and checks the filter itself.
                      (request.columns || request.filter
                           ? ", columns => $2::pg_catalog.text[], filter => $3::pg_catalog.text"
                           : "") +
                      ")";
    try {
        if (request.columns || request.filter)
            tx_.exec_params(sql, request.since,
                            request.columns ? std::optional<std::string>(array_literal(*request.columns))
                                            : std::nullopt,
                            request.filter);
        else
            tx_.exec_params(sql, request.since);
    } catch (...) {
        rethrow_server_error(context_, &tx_.conn());
    }
}

std::optional<pqxx::result> DeltaStream::next_result() {
    if (!next()) return std::nullopt;
    return std::exchange(current_, pqxx::result());
}

std::optional<std::string_view> DeltaStream::next() {
    if (finished_) return std::nullopt;
    try {
        current_ = pqxx::result();  // free the previous page before fetching the next
        current_ = tx_.exec("FETCH FORWARD 1 FROM " + name_);
    } catch (...) {
        rethrow_server_error(context_, &tx_.conn());
    }
    if (current_.empty()) {
        finished_ = true;
        return std::nullopt;
    }
    const pqxx::field f = current_[0][0];
    return std::string_view(f.c_str(), f.size());
}

}  // namespace delta_sync::client
