// The names of the resources: db://<table>/delta, db://<table>/delta?since=<cursor> and
// db://<table>/schema. <table> is the table's name, "schema.table" outside public; each name is
// percent-encoded (everything but ASCII letters, digits, '-', '_' and '~', so a '.' inside a name
// is %2E and the one between schema and table is the separator). Plain C++, unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace delta_sync::mcp {

struct TableName {
    std::string schema = "public";
    std::string table;
    bool operator==(const TableName& o) const { return schema == o.schema && table == o.table; }
    bool operator<(const TableName& o) const {
        return schema != o.schema ? schema < o.schema : table < o.table;
    }
};

enum class ResourceKind { delta, schema };

struct ResourceUri {
    TableName table;
    ResourceKind kind = ResourceKind::delta;
    std::optional<std::string> since;  // db://t/delta?since=...; an empty value counts as none
};

std::string percent_encode(std::string_view s);
// Nothing when `s` holds a malformed escape.
std::optional<std::string> percent_decode(std::string_view s);

// <table> as it appears in a URI.
std::string uri_table(const TableName& t);
std::string delta_uri(const TableName& t);
std::string schema_uri(const TableName& t);
std::string delta_template(const TableName& t);

// Parses a resource URI; nothing when it is not one of this server's forms (unknown query
// parameters included).
std::optional<ResourceUri> parse_resource_uri(std::string_view uri);

}  // namespace delta_sync::mcp
