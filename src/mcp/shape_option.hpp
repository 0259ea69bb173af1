// Shapes served as resources: `delta-sync mcp --shape [NAME=]TABLE[(COL,...)]:FILTER`. The shape
// is fixed by whoever starts the server; an agent only reads db://NAME/delta (and ?since=...),
// it never sends SQL. NAME defaults to TABLE, so `--shape orders:"status = 'open'"` restricts
// db://orders/delta itself; `--shape open_orders=orders(id,total):"status = 'open'"` adds
// db://open_orders/delta beside it. The filter is everything after the first ':' (it may hold
// ':' itself), checked by the extension at each read (README, "Shapes"); an empty one is no
// filter. Names are plain (schema.table outside public, as in the URIs). Plain C++, unit-tested.
#pragma once

#include "resource_uri.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace delta_sync::mcp {

struct ServedShape {
    TableName name;   // the resource: db://<name>/delta
    TableName table;  // the tracked table it is a shape of
    std::optional<std::vector<std::string>> columns;  // every key column always comes along
    std::optional<std::string> filter;
    std::string describe() const;  // "orders where status = 'open' (columns id, total)"
};

// Throws std::invalid_argument with what is wrong.
ServedShape parse_shape_option(std::string_view spec);

}  // namespace delta_sync::mcp
