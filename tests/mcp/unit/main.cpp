// Boost.Test entry point of the MCP protocol layer's unit tests (no database).
#define BOOST_TEST_MODULE delta_sync mcp unit tests
#include <boost/test/unit_test.hpp>
