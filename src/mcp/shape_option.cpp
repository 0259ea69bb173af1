// --shape (see shape_option.hpp).
#include "shape_option.hpp"

#include <stdexcept>

namespace delta_sync::mcp {

namespace {

TableName table_name(std::string_view s, std::string_view spec) {
    if (s.empty()) throw std::invalid_argument("--shape " + std::string(spec) + ": no table");
    TableName t;
    auto dot = s.find('.');
    if (dot == std::string_view::npos) {
        t.table = std::string(s);
    } else {
        t.schema = std::string(s.substr(0, dot));
        t.table = std::string(s.substr(dot + 1));
        if (t.schema.empty() || t.table.empty() || t.table.find('.') != std::string::npos)
            throw std::invalid_argument("--shape " + std::string(spec) + ": \"" + std::string(s) +
                                        "\" is not TABLE or SCHEMA.TABLE");
    }
    return t;
}

}  // namespace

std::string ServedShape::describe() const {
    std::string out = table.schema == "public" ? table.table : table.schema + "." + table.table;
    if (filter) out += " where " + *filter;
    if (columns) {
        out += " (columns";
        for (std::size_t i = 0; i < columns->size(); ++i) out += (i ? ", " : " ") + (*columns)[i];
        out += columns->empty() ? " of the key only)" : ", and the key)";
    }
    return out;
}

ServedShape parse_shape_option(std::string_view spec) {
    auto colon = spec.find(':');
    if (colon == std::string_view::npos)
        throw std::invalid_argument("--shape " + std::string(spec) +
                                    ": expected [NAME=]TABLE[(COL,...)]:FILTER");
    std::string_view head = spec.substr(0, colon);
    ServedShape shape;
    if (colon + 1 < spec.size()) shape.filter = std::string(spec.substr(colon + 1));
    std::string_view name;
    if (auto eq = head.find('='); eq != std::string_view::npos) {
        name = head.substr(0, eq);
        head = head.substr(eq + 1);
        if (name.empty()) throw std::invalid_argument("--shape " + std::string(spec) + ": empty NAME");
    }
    if (auto open = head.find('('); open != std::string_view::npos) {
        if (head.back() != ')')
            throw std::invalid_argument("--shape " + std::string(spec) + ": columns end with ')'");
        std::string_view list = head.substr(open + 1, head.size() - open - 2);
        head = head.substr(0, open);
        std::vector<std::string> columns;
        std::size_t start = 0;
        while (!list.empty()) {
            auto comma = list.find(',', start);
            std::string_view c = list.substr(start, comma == std::string_view::npos ? comma : comma - start);
            if (c.empty())
                throw std::invalid_argument("--shape " + std::string(spec) + ": an empty column name");
            columns.emplace_back(c);
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        shape.columns = std::move(columns);
    }
    shape.table = table_name(head, spec);
    shape.name = name.empty() ? shape.table : table_name(name, spec);
    if (!shape.filter && !shape.columns)
        throw std::invalid_argument("--shape " + std::string(spec) +
                                    ": neither a filter nor columns (serve the table itself)");
    return shape;
}

}  // namespace delta_sync::mcp
