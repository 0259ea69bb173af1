// The delta-sync command line: parsing (kept apart so it can be unit-tested) and the commands.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace delta_sync::client {

// Exit statuses: 0 done; 1 diff found differences; 2 any failure; 130 pull interrupted.
enum ExitStatus { exit_ok = 0, exit_differs = 1, exit_failure = 2, exit_interrupted = 130 };

struct CommandLine {
    std::string command;                         // pull, get, diff, track, untrack, status, help
    std::vector<std::string> tables;             // positional arguments
    std::map<std::string, std::string> options;  // without "--"; flags map to ""
    bool help = false;

    bool has(const std::string& option) const { return options.count(option) > 0; }
    std::optional<std::string> value(const std::string& option) const;
    // An integer option within [min, max]; UsageError otherwise.
    std::optional<int> integer(const std::string& option, int min, int max) const;
};

// Parses argv[1..]. Throws UsageError for an unknown command or option, a missing value or
// a missing required argument. `--help` anywhere sets help and skips the other checks.
CommandLine parse_command_line(const std::vector<std::string>& args);

// The help text of a command ("" or "help": the overview).
std::string help_text(const std::string& command);

// Runs a parsed command line; errors are printed as one line on stderr.
int run(const std::vector<std::string>& args);

}  // namespace delta_sync::client
