// The Boost.Test runner of the client's unit tests.
#define BOOST_TEST_MODULE delta_sync_client
#include <boost/test/unit_test.hpp>
