// The PostgreSQL resources (see table_resources.hpp).
#include "table_resources.hpp"

#include "change_feed.hpp"
#include "errors.hpp"
#include "server.hpp"

#include <algorithm>
#include <atomic>
#include <iostream>

namespace delta_sync::mcp {

namespace {

const char* const mime_json = "application/json";

// `c.oid` restricted to the tables given in parameter `param` (a text array, from
// client::array_literal), or when it is empty to those the role may SELECT (to any, when
// `privilege` is false).
std::string table_filter(int param, bool privilege = true) {
    const std::string p = "$" + std::to_string(param) + "::pg_catalog.text[]";
    return "(CASE WHEN pg_catalog.cardinality(" + p + ") OPERATOR(pg_catalog.=) 0 "
           "THEN " + (privilege ? "pg_catalog.has_table_privilege(c.oid, 'SELECT')" : "true") + " "
           "ELSE c.oid OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.to_regclass(x) "
           "FROM pg_catalog.unnest(" + p + ") x) END)";
}

const char* const served_columns =
    "SELECT c.oid, n.nspname, c.relname, "
    "COALESCE(pg_catalog.obj_description(c.oid, 'pg_class'), ''), t.notify "
    "FROM delta_sync.tracked t "
    "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid "
    "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace ";

ServedTable served_row(const pqxx::row& row) {
    ServedTable t;
    t.oid = row[0].as<std::uint32_t>();
    t.name.schema = row[1].as<std::string>();
    t.name.table = row[2].as<std::string>();
    t.comment = row[3].as<std::string>();
    t.notify = row[4].as<bool>();
    return t;
}

std::string display(const TableName& t) {
    return t.schema == "public" ? t.table : t.schema + "." + t.table;
}

// The documents of one delta_since() call, one page per FETCH from a server-side cursor, in a
// read-only transaction: neither side holds more than a page.
class DeltaContents : public ContentStream {
public:
    DeltaContents(ConnectionPool::Lease lease, const ServedTable& table, std::string uri,
                  const std::optional<std::string>& since, int page_size,
                  const ServedShape* shape = nullptr)
        : lease_(std::move(lease)), uri_(std::move(uri)) {
        static std::atomic<unsigned> counter{0};
        cursor_ = "delta_sync_mcp_" + std::to_string(++counter);
        try {
            const std::string& function = lease_->server().delta_function();
            tx_ = std::make_unique<pqxx::read_transaction>(lease_->connection());
            // A shape goes as parameters: the extension checks the filter itself.
            std::optional<std::string> columns, filter;
            if (shape) {
                if (shape->columns) columns = client::array_literal(*shape->columns);
                filter = shape->filter;
            }
            std::string sql = "DECLARE " + cursor_ + " NO SCROLL CURSOR FOR SELECT " + function +
                              "(" + std::to_string(table.oid) +
                              "::pg_catalog.oid::pg_catalog.regclass, $1::pg_catalog.text, "
                              "NULL, " + std::to_string(page_size);
            if (shape)
                tx_->exec_params(sql + ", columns => $2::pg_catalog.text[], "
                                       "filter => $3::pg_catalog.text)",
                                 since, columns, filter);
            else
                tx_->exec_params(sql + ")", since);
        } catch (...) {
            fail();
        }
    }

    std::optional<Content> next() override {
        if (!tx_) return std::nullopt;
        try {
            page_ = pqxx::result();  // free the previous page before fetching the next
            page_ = tx_->exec("FETCH FORWARD 1 FROM " + cursor_);
            if (page_.empty()) {
                tx_->commit();
                tx_.reset();
                lease_.reset();  // back to the pool before the last bytes are written
                return std::nullopt;
            }
            const pqxx::field f = page_[0][0];
            std::string text(f.c_str(), f.size());
            page_ = pqxx::result();
            ++pages_;
            // Every page carries the same serverVersion: the last key of the document, so the
            // last occurrence of the key is the document's own.
            const std::string key = "\"serverVersion\":\"";
            if (auto p = text.rfind(key); p != std::string::npos) {
                auto end = text.find('"', p + key.size());
                server_version_ = text.substr(p + key.size(), end - p - key.size());
            }
            full_resync_ = text.find("\"fullResyncRequired\":true",
                                     text.size() > 64 ? text.size() - 64 : 0) != std::string::npos;
            return Content{uri_, mime_json, std::move(text)};
        } catch (...) {
            fail();
        }
    }

    json meta() override {
        return {{"pages", pages_},
                {"serverVersion", server_version_},
                {"fullResyncRequired", full_resync_}};
    }

private:
    [[noreturn]] void fail() {
        bool lost = false;
        tx_.reset();
        try {
            throw_database_error(&lost);
        } catch (...) {
            if (lease_ && (lost || !lease_->connection().is_open())) lease_->discard();
            lease_.reset();
            throw;
        }
    }

    std::optional<ConnectionPool::Lease> lease_;
    std::string uri_;
    std::string cursor_;
    std::unique_ptr<pqxx::read_transaction> tx_;
    pqxx::result page_;
    std::size_t pages_ = 0;
    std::string server_version_;
    bool full_resync_ = false;
};

// A content known whole (the schema resource).
class OneContent : public ContentStream {
public:
    explicit OneContent(Content c) : content_(std::move(c)) {}
    std::optional<Content> next() override {
        std::optional<Content> out = std::move(content_);
        content_.reset();
        return out;
    }

private:
    std::optional<Content> content_;
};

}  // namespace

std::vector<ServedTable> served_tables(pqxx::connection& connection,
                                       const std::vector<std::string>& only) {
    pqxx::read_transaction tx(connection);
    pqxx::result r = tx.exec_params(std::string(served_columns) + "WHERE " + table_filter(1) +
                                        " ORDER BY n.nspname OPERATOR(pg_catalog.<>) 'public', "
                                        "n.nspname, c.relname",
                                    client::array_literal(only));
    tx.commit();
    std::vector<ServedTable> out;
    for (const auto& row : r) out.push_back(served_row(row));
    return out;
}

void throw_database_error(bool* lost) {
    auto set_lost = [&] {
        if (lost) *lost = true;
    };
    try {
        throw;
    } catch (const McpError&) {
        throw;
    } catch (const pqxx::broken_connection& e) {
        set_lost();
        throw McpError(internal_error, "database unavailable: " + client::one_line(e.what()));
    } catch (const pqxx::in_doubt_error& e) {
        set_lost();
        throw McpError(internal_error, "database unavailable: " + client::one_line(e.what()));
    } catch (const pqxx::sql_error& e) {
        std::string state = e.sqlstate();
        std::string message = client::one_line(e.what());
        if (state == "22023") throw McpError(invalid_params, message, {{"sqlstate", state}});
        if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
            set_lost();
            throw McpError(internal_error, "database unavailable: " + message,
                           {{"sqlstate", state}});
        }
        throw McpError(internal_error, message, {{"sqlstate", state}});
    } catch (const client::Error& e) {
        // The client library's failures: connecting, the extension missing.
        set_lost();
        if (!e.sqlstate().empty())
            throw McpError(internal_error, e.what(), {{"sqlstate", e.sqlstate()}});
        throw McpError(internal_error, e.what());
    } catch (const std::exception& e) {
        // libpqxx's plain failures: whether the connection is lost, its state tells (the
        // callers look), never the message.
        throw McpError(internal_error, client::one_line(e.what()));
    }
}

ConnectionPool::ConnectionPool(std::string dsn) : dsn_(std::move(dsn)) {}
ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease::Lease(ConnectionPool& pool, std::unique_ptr<client::Server> server)
    : pool_(&pool), server_(std::move(server)) {}

ConnectionPool::Lease::~Lease() {
    if (!server_ || !pool_) return;
    std::lock_guard<std::mutex> lock(pool_->mutex_);
    // A lost connection says the server went away (restart, failover): the idle ones are as
    // dead, so the next request connects afresh instead of finding out one by one.
    if (discard_) pool_->idle_.clear();
    if (discard_ || !server_->connection().is_open()) return;
    pool_->idle_.push_back(std::move(server_));
}

pqxx::connection& ConnectionPool::Lease::connection() {
    return server_->connection();
}

ConnectionPool::Lease ConnectionPool::acquire() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!idle_.empty()) {
            auto s = std::move(idle_.back());
            idle_.pop_back();
            return Lease(*this, std::move(s));
        }
    }
    try {
        return Lease(*this, std::make_unique<client::Server>(dsn_));
    } catch (const std::exception& e) {
        std::string message = "database unavailable: " + client::one_line(e.what());
        std::cerr << "delta-sync mcp: " << message << " (the next request tries again)"
                  << std::endl;
        throw McpError(internal_error, message);
    }
}

TableResources::TableResources(TablesConfig config, ChangeFeed* feed)
    : config_(std::move(config)), feed_(feed), pool_(config_.dsn) {}

std::vector<ResourceEntry> TableResources::list() {
    auto lease = pool_.acquire();
    std::vector<ServedTable> tables;
    try {
        tables = served_tables(lease.connection(), config_.tables);
    } catch (...) {
        bool lost = false;
        try {
            throw_database_error(&lost);
        } catch (...) {
            if (lost || !lease.connection().is_open()) lease.discard();
            throw;
        }
    }
    // Shapes of their own name are listed when their table is tracked (and readable).
    std::vector<ServedTable> all = tables;
    if (!config_.tables.empty() && !config_.shapes.empty()) {
        try {
            all = served_tables(lease.connection(), {});
        } catch (...) {
            bool lost = false;
            try {
                throw_database_error(&lost);
            } catch (...) {
                if (lost || !lease.connection().is_open()) lease.discard();
                throw;
            }
        }
    }
    std::vector<ResourceEntry> out;
    for (const ServedShape& s : config_.shapes) {
        if (shape_named(s.name) != &s) continue;  // the first of a name serves it
        bool tracked = std::any_of(all.begin(), all.end(),
                                   [&](const ServedTable& t) { return t.name == s.table; });
        bool in_place = std::any_of(tables.begin(), tables.end(),
                                    [&](const ServedTable& t) { return t.name == s.name; });
        if (!tracked || in_place) continue;
        std::string name = display(s.name);
        out.push_back({delta_uri(s.name), name + "/delta", name + " (a shape of " +
                       display(s.table) + ")",
                       "The rows of " + s.describe() +
                           " as delta_since documents (a row that leaves the shape comes as "
                           "deleted); then read " + delta_uri(s.name) +
                           "?since=<serverVersion> for only what changed.",
                       mime_json});
    }
    for (const auto& t : tables) {
        std::string name = display(t.name);
        if (const ServedShape* s = shape_named(t.name)) {
            out.push_back({delta_uri(t.name), name + "/delta", name + " (a shape)",
                           "The rows of " + s->describe() +
                               " as delta_since documents (a row that leaves the shape comes as "
                               "deleted); then read " + delta_uri(t.name) +
                               "?since=<serverVersion> for only what changed.",
                           mime_json});
            out.push_back({schema_uri(t.name), name + "/schema", name + " (columns and primary key)",
                           "The columns of table " + display(s->table) +
                               " with their PostgreSQL types, its primary key and comments.",
                           mime_json});
            continue;
        }
        out.push_back({delta_uri(t.name), name + "/delta", name + " (every live row)",
                       t.comment.empty()
                           ? "Every live row of table " + name +
                                 " as delta_since documents; then read " + delta_uri(t.name) +
                                 "?since=<serverVersion> for only what changed."
                           : t.comment,
                       mime_json});
        out.push_back({schema_uri(t.name), name + "/schema", name + " (columns and primary key)",
                       "The columns of table " + name +
                           " with their PostgreSQL types, its primary key and comments.",
                       mime_json});
    }
    return out;
}

std::vector<TemplateEntry> TableResources::templates() {
    std::vector<TemplateEntry> out;
    for (const auto& r : list()) {
        auto parsed = parse_resource_uri(r.uri);
        if (!parsed || parsed->kind != ResourceKind::delta) continue;
        std::string name = display(parsed->table);
        out.push_back({delta_template(parsed->table), name + "/delta", name + " (changes since)",
                       "What changed in table " + name +
                           " since a serverVersion: created, updated and deleted rows, and "
                           "the serverVersion to send next time. Without since: every live row.",
                       mime_json});
    }
    return out;
}

const ServedShape* TableResources::shape_named(const TableName& name) const {
    for (const ServedShape& s : config_.shapes)
        if (s.name == name) return &s;
    return nullptr;
}

ResourceUri TableResources::parse(const std::string& uri) {
    auto parsed = parse_resource_uri(uri);
    if (!parsed) throw McpError(resource_not_found, "resource not found: " + uri, {{"uri", uri}});
    return *parsed;
}

ServedTable TableResources::resolve(pqxx::connection& connection, const ResourceUri& uri,
                                    const std::string& text, bool any_tracked) {
    pqxx::read_transaction tx(connection);
    pqxx::result r = tx.exec_params(std::string(served_columns) +
                                        "WHERE n.nspname OPERATOR(pg_catalog.=) $1 "
                                        "AND c.relname OPERATOR(pg_catalog.=) $2 AND " +
                                        table_filter(3, false),
                                    uri.table.schema, uri.table.table,
                                    client::array_literal(any_tracked ? std::vector<std::string>()
                                                                      : config_.tables));
    tx.commit();
    if (r.empty())
        throw McpError(resource_not_found,
                       "resource not found: " + text + " (no such tracked table)", {{"uri", text}});
    return served_row(r[0]);
}

std::unique_ptr<ContentStream> TableResources::read(const std::string& uri) {
    ResourceUri parsed = parse(uri);
    auto lease = pool_.acquire();
    ServedTable table;
    const ServedShape* shape = shape_named(parsed.table);
    try {
        if (shape) {
            // The shape's table, tracked; whether the role may read it, the read itself says.
            ResourceUri of_table = parsed;
            of_table.table = shape->table;
            table = resolve(lease.connection(), of_table, uri, true);
        } else {
            table = resolve(lease.connection(), parsed, uri);
        }
        if (parsed.kind == ResourceKind::delta)
            return std::make_unique<DeltaContents>(std::move(lease), table, uri, parsed.since,
                                                   config_.page_size, shape);
        pqxx::read_transaction tx(lease.connection());
        const std::string oid = std::to_string(table.oid) + "::pg_catalog.oid";
        pqxx::result r = tx.exec_params(
            "SELECT pg_catalog.json_build_object("
            "'table', $1::pg_catalog.text, 'schema', $2::pg_catalog.text, "
            "'name', $3::pg_catalog.text, "
            "'comment', pg_catalog.obj_description(" +
            oid +
            ", 'pg_class'), "
            "'primaryKey', (SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord) "
            "  FROM pg_catalog.pg_index i, pg_catalog.unnest(i.indkey) WITH ORDINALITY k(attnum, "
            "ord), "
            "       pg_catalog.pg_attribute a "
            "  WHERE i.indrelid OPERATOR(pg_catalog.=) " +
            oid +
            " AND i.indisprimary "
            "    AND k.ord OPERATOR(pg_catalog.<=) i.indnkeyatts "  // not its INCLUDE columns
            "    AND a.attrelid OPERATOR(pg_catalog.=) i.indrelid "
            "    AND a.attnum OPERATOR(pg_catalog.=) k.attnum), "
            "'columns', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object("
            "    'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod), "
            "    'nullable', NOT a.attnotnull, "
            "    'default', pg_catalog.pg_get_expr(d.adbin, d.adrelid), "
            "    'comment', pg_catalog.col_description(a.attrelid, a.attnum)) ORDER BY a.attnum) "
            "  FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d "
            "    ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid AND d.adnum OPERATOR(pg_catalog.=) "
            "a.attnum "
            "  WHERE a.attrelid OPERATOR(pg_catalog.=) " +
            oid +
            " AND a.attnum > 0 "
            "    AND NOT a.attisdropped "
            "    AND a.attname <> ALL "
            "('{delta_sync_created_xid,delta_sync_changed_xid}'::pg_catalog.name[])), "
            "'delta', $4::pg_catalog.text)",
            display(table.name), table.name.schema, table.name.table, delta_uri(table.name));
        tx.commit();
        return std::make_unique<OneContent>(Content{uri, mime_json, r[0][0].as<std::string>()});
    } catch (...) {
        bool lost = false;
        try {
            throw_database_error(&lost);
        } catch (...) {
            if (lost || !lease.connection().is_open()) lease.discard();
            throw;
        }
    }
}

std::string TableResources::subscribable(const std::string& uri) {
    ResourceUri parsed = parse(uri);
    if (parsed.kind != ResourceKind::delta || parsed.since)
        throw McpError(invalid_params, "only db://<table>/delta can be subscribed to: " + uri);
    auto lease = pool_.acquire();
    try {
        if (const ServedShape* shape = shape_named(parsed.table)) {
            ResourceUri of_table = parsed;
            of_table.table = shape->table;
            resolve(lease.connection(), of_table, uri, true);
        } else {
            resolve(lease.connection(), parsed, uri);
        }
    } catch (...) {
        bool lost = false;
        try {
            throw_database_error(&lost);
        } catch (...) {
            if (lost || !lease.connection().is_open()) lease.discard();
            throw;
        }
    }
    return delta_uri(parsed.table);
}

void TableResources::watch(const std::set<std::string>& uris) {
    if (feed_) feed_->watch(uris);
}

}  // namespace delta_sync::mcp
