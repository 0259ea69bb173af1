// One-line messages out of libpq's and the server's multi-line ones.
#include "errors.hpp"

#include <utility>

namespace delta_sync::client {

namespace {

std::string flatten(const std::string& message) {
    std::string out;
    out.reserve(message.size());
    for (char c : message) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

}  // namespace

Error::Error(const std::string& message, std::string sqlstate)
    : std::runtime_error(flatten(message)), sqlstate_(std::move(sqlstate)) {}

std::string one_line(const std::string& message) {
    std::string first = message.substr(0, message.find('\n'));
    for (const char* prefix : {"ERROR:  ", "FATAL:  "})
        if (first.rfind(prefix, 0) == 0) first.erase(0, std::string(prefix).size());
    // A server hint is worth keeping: it usually says what to do.
    auto hint = message.find("HINT:  ");
    if (hint != std::string::npos) {
        std::string h = message.substr(hint + 7);
        h = h.substr(0, h.find('\n'));
        first += " (" + h + ")";
    }
    while (!first.empty() && (first.back() == ' ' || first.back() == '\r')) first.pop_back();
    return first;
}

}  // namespace delta_sync::client
