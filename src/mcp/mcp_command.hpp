// `delta-sync mcp`: the MCP resource server, wired from its layers (protocol, transports,
// PostgreSQL resources, change feed).
#pragma once

#include <string>
#include <vector>

namespace delta_sync::mcp {

// args[0] is "mcp". Returns the exit status: 0 after a clean stop (end of input, SIGTERM,
// SIGINT), 2 on a usage or start-up error (one line on stderr).
int run_command(const std::vector<std::string>& args);

}  // namespace delta_sync::mcp
