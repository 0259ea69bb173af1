// Resource URIs (see resource_uri.hpp).
#include "resource_uri.hpp"

#include <vector>

namespace delta_sync::mcp {

namespace {

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '~';
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string_view::npos ? p : p - start));
        if (p == std::string_view::npos) return out;
        start = p + 1;
    }
}

}  // namespace

std::string percent_encode(std::string_view s) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (unreserved(c)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string uri_table(const TableName& t) {
    std::string name = percent_encode(t.table);
    return t.schema == "public" ? name : percent_encode(t.schema) + "." + name;
}

std::string delta_uri(const TableName& t) {
    return "db://" + uri_table(t) + "/delta";
}
std::string schema_uri(const TableName& t) {
    return "db://" + uri_table(t) + "/schema";
}
std::string delta_template(const TableName& t) {
    return delta_uri(t) + "{?since}";
}

std::optional<ResourceUri> parse_resource_uri(std::string_view uri) {
    constexpr std::string_view scheme = "db://";
    if (uri.substr(0, scheme.size()) != scheme) return std::nullopt;
    uri.remove_prefix(scheme.size());
    std::string_view query;
    if (auto q = uri.find('?'); q != std::string_view::npos) {
        query = uri.substr(q + 1);
        uri = uri.substr(0, q);
    }
    if (uri.find('#') != std::string_view::npos || query.find('#') != std::string_view::npos)
        return std::nullopt;
    auto slash = uri.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string_view table = uri.substr(0, slash), path = uri.substr(slash + 1);

    ResourceUri out;
    if (path == "delta")
        out.kind = ResourceKind::delta;
    else if (path == "schema")
        out.kind = ResourceKind::schema;
    else
        return std::nullopt;

    auto parts = split(table, '.');
    if (parts.size() > 2) return std::nullopt;
    for (auto p : parts)
        if (p.empty()) return std::nullopt;
    auto name = percent_decode(parts.back());
    if (!name) return std::nullopt;
    out.table.table = *name;
    if (parts.size() == 2) {
        auto schema = percent_decode(parts[0]);
        if (!schema) return std::nullopt;
        out.table.schema = *schema;
    }

    if (!query.empty()) {
        if (out.kind != ResourceKind::delta) return std::nullopt;
        for (auto param : split(query, '&')) {
            auto eq = param.find('=');
            std::string_view key = param.substr(0, eq);
            std::string_view value = eq == std::string_view::npos ? "" : param.substr(eq + 1);
            if (key != "since" || out.since) return std::nullopt;
            auto v = percent_decode(value);
            if (!v) return std::nullopt;
            if (!v->empty()) out.since = *v;
        }
    }
    return out;
}

}  // namespace delta_sync::mcp
