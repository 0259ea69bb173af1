// Shapes of replica tables (see shape.hpp).
#include "shape.hpp"

#include "errors.hpp"
#include "server.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>

namespace delta_sync::client {

namespace {

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
    }
    out.push_back('"');
}

}  // namespace

std::string Shape::canonical() const {
    if (empty()) return "";
    std::string out = "{";
    if (columns) {
        std::vector<std::string> sorted = *columns;
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        out += "\"columns\":[";
        for (std::size_t i = 0; i < sorted.size(); ++i) {
            if (i) out.push_back(',');
            append_json_string(out, sorted[i]);
        }
        out.push_back(']');
    }
    if (filter) {
        if (columns) out.push_back(',');
        out += "\"where\":";
        append_json_string(out, *filter);
    }
    out.push_back('}');
    return out;
}

Shape Shape::from_canonical(std::string_view text) {
    Shape shape;
    if (text.empty()) return shape;
    try {
        simdjson::dom::parser parser;
        simdjson::dom::element doc = parser.parse(text.data(), text.size());
        for (auto field : doc.get_object()) {
            if (field.key == "columns") {
                std::vector<std::string> names;
                for (auto name : field.value.get_array())
                    names.emplace_back(std::string_view(name.get_string()));
                shape.columns = std::move(names);
            } else if (field.key == "where") {
                shape.filter = std::string(std::string_view(field.value.get_string()));
            } else {
                throw Error("unknown field");
            }
        }
    } catch (const std::exception&) {
        throw Error("the replica's shape record is damaged: " + std::string(text));
    }
    return shape;
}

std::vector<std::string> Shape::column_list(std::string_view option) {
    std::vector<std::string> names;
    if (option.empty()) return names;
    std::size_t start = 0;
    for (;;) {
        std::size_t comma = option.find(',', start);
        std::string_view name =
            option.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (name.empty()) throw UsageError("--columns: an empty column name in '" + std::string(option) + "'");
        names.emplace_back(name);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return names;
}

void apply_shape(TableInfo& info, const Shape& shape) {
    info.replica.shape = shape.canonical();
    if (!shape.columns) return;
    for (const std::string& name : *shape.columns)
        if (std::none_of(info.replica.columns.begin(), info.replica.columns.end(),
                         [&](const ReplicaColumn& c) { return c.name == name; }))
            throw Error(info.display_name + ": column \"" + name + "\" of the table does not exist");
    std::vector<ReplicaColumn> kept;
    for (ReplicaColumn& c : info.replica.columns)
        if (std::find(info.replica.primary_key.begin(), info.replica.primary_key.end(), c.name) !=
                info.replica.primary_key.end() ||
            std::find(shape.columns->begin(), shape.columns->end(), c.name) != shape.columns->end())
            kept.push_back(std::move(c));
    info.replica.columns = std::move(kept);
}

}  // namespace delta_sync::client
