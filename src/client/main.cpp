// delta-sync: the command-line program; everything happens in the library (cli.cpp), and
// `delta-sync mcp` in the MCP server (src/mcp).
#include "cli.hpp"
#include "mcp_command.hpp"

#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    // The MCP server lives in src/mcp, on top of this library.
    if (!args.empty() && args[0] == "mcp") return delta_sync::mcp::run_command(args);
    if (args.size() == 2 && args[0] == "help" && args[1] == "mcp")
        return delta_sync::mcp::run_command({"mcp", "--help"});
    return delta_sync::client::run(args);
}
