// The resources this server serves, read from PostgreSQL through the client library: for each
// table given on the command line, or else each tracked table the role may SELECT,
//   db://<table>/delta            the full snapshot (resources/list)
//   db://<table>/delta{?since}    the changes since a serverVersion (resources/templates/list)
//   db://<table>/schema           columns, PostgreSQL types, primary key and comments
// A read of db://<table>/delta is one delta_since() call: one content per page, each content's
// text exactly one delta_since document, fetched one page at a time from a server-side cursor.
// Everything runs as the connecting role: its privileges and row-level security apply as in SQL.
// This is the only layer (with change_feed) that knows PostgreSQL.
#pragma once

#include "protocol.hpp"
#include "resource_uri.hpp"
#include "shape_option.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace delta_sync::client {
class Server;
}

namespace delta_sync::mcp {

class ChangeFeed;

struct TablesConfig {
    std::string dsn;
    std::vector<std::string> tables;  // as given (SQL names); empty: every tracked table readable
    int page_size = 10000;            // rows per delta_since page, so per content
    // Shapes served as resources of their own (--shape): db://<name>/delta reads only the
    // shape's rows and columns. A shape named like a table takes its resource's place.
    std::vector<ServedShape> shapes;
};

// A table served.
struct ServedTable {
    std::uint32_t oid = 0;
    TableName name;
    std::string comment;
    bool notify = true;  // its triggers send NOTIFY delta_sync
};

// The tables served, in name order; `only` as TablesConfig::tables.
std::vector<ServedTable> served_tables(pqxx::connection& connection,
                                       const std::vector<std::string>& only);

// Translates the exception being handled (libpqxx, client library) into an McpError: a malformed
// cursor (22023) is invalid params with the extension's message; anything else one line with the
// SQLSTATE as data. Sets `lost` when the connection is gone.
[[noreturn]] void throw_database_error(bool* lost = nullptr);

// Connections for requests: opened on demand, kept while healthy, so a server that went away is
// reconnected to by the next request.
class ConnectionPool {
public:
    explicit ConnectionPool(std::string dsn);
    ~ConnectionPool();

    class Lease {
    public:
        Lease(ConnectionPool& pool, std::unique_ptr<client::Server> server);
        Lease(Lease&&) = default;
        ~Lease();
        client::Server& server() { return *server_; }
        pqxx::connection& connection();
        void discard() { discard_ = true; }

    private:
        ConnectionPool* pool_;
        std::unique_ptr<client::Server> server_;
        bool discard_ = false;
    };

    // Throws McpError when PostgreSQL cannot be reached.
    Lease acquire();

private:
    std::string dsn_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<client::Server>> idle_;
};

class TableResources : public ResourceProvider {
public:
    TableResources(TablesConfig config, ChangeFeed* feed);

    std::vector<ResourceEntry> list() override;
    std::vector<TemplateEntry> templates() override;
    std::unique_ptr<ContentStream> read(const std::string& uri) override;
    std::string subscribable(const std::string& uri) override;
    void watch(const std::set<std::string>& uris) override;

private:
    // The served table a URI names; McpError resource_not_found when there is none. With
    // any_tracked (a shape's table), any tracked table, also one not among those given.
    ServedTable resolve(pqxx::connection& connection, const ResourceUri& uri,
                        const std::string& text, bool any_tracked = false);
    ResourceUri parse(const std::string& uri);
    // The shape served under this name, or null.
    const ServedShape* shape_named(const TableName& name) const;

    TablesConfig config_;
    ChangeFeed* feed_;
    ConnectionPool pool_;
};

}  // namespace delta_sync::mcp
