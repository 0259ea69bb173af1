// Boost.Test entry point of the unit tests of the extension's plain-C++ parts.
#define BOOST_TEST_MODULE delta_sync unit tests
#include <boost/test/unit_test.hpp>
