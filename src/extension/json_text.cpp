// JSON number recognition, the same grammar as PostgreSQL's json_lex_number().
#include "json_text.hpp"
#include "plain_cpp.hpp"  // plain C++: including a PostgreSQL header here fails the build

namespace delta_sync::json {

namespace {
bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
}  // namespace

bool is_number(std::string_view s) noexcept {
    std::size_t i = 0, n = s.size();
    if (i < n && s[i] == '-') ++i;
    if (i == n) return false;
    if (s[i] == '0') {
        ++i;
    } else if (digit(s[i])) {
        while (i < n && digit(s[i])) ++i;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        ++i;
        if (i == n || !digit(s[i])) return false;
        while (i < n && digit(s[i])) ++i;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
        if (i == n || !digit(s[i])) return false;
        while (i < n && digit(s[i])) ++i;
    }
    return i == n;
}

}  // namespace delta_sync::json
