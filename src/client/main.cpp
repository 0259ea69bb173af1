// delta-sync: the command-line program; everything happens in the library (cli.cpp).
#include "cli.hpp"

#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return delta_sync::client::run(args);
}
