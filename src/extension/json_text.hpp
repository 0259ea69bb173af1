// JSON text pieces exactly as PostgreSQL's to_json() writes them, in plain C++ (no server headers),
// so the record encoder can produce byte-for-byte the same output without going through to_json.
//
// A Sink is anything with append(const char*, std::size_t) and push_back(char): std::string in
// tests, a StringInfo adapter inside the server. The functions here never allocate themselves and
// never throw unless the sink does.
#pragma once

#include <cstddef>
#include <string_view>

namespace delta_sync::json {

// Appends `s` as a JSON string with quotes, escaping as PostgreSQL's escape_json() does:
// \" \\ \b \f \n \r \t, other bytes below 0x20 as \u00xx (lowercase hex), every other byte as is.
// Bytes are copied, never validated: the server guarantees the text is valid in its encoding, and
// a writer that dropped or rewrote bytes would make the record differ from to_json(row).
template <class Sink>
void append_string(Sink& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    const char* run = s.data();
    const char* end = s.data() + s.size();
    for (const char* p = run; p != end; ++p) {
        unsigned char c = static_cast<unsigned char>(*p);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (p != run) out.append(run, static_cast<std::size_t>(p - run));
        run = p + 1;
        switch (c) {
        case '"': out.append("\\\"", 2); break;
        case '\\': out.append("\\\\", 2); break;
        case '\b': out.append("\\b", 2); break;
        case '\f': out.append("\\f", 2); break;
        case '\n': out.append("\\n", 2); break;
        case '\r': out.append("\\r", 2); break;
        case '\t': out.append("\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out.append(u, 6);
        }
        }
    }
    if (run != end) out.append(run, static_cast<std::size_t>(end - run));
    out.push_back('"');
}

// True when `s` is a JSON number as PostgreSQL's IsValidJsonNumber() decides:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  — so "NaN", "Infinity" and "-Infinity" are not.
bool is_number(std::string_view s) noexcept;

}  // namespace delta_sync::json
