// The shared library's entry: PostgreSQL's magic block and one-time set-up.
#include "boundary.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
}

namespace delta_sync {
void register_trigger_callbacks();
void live_init();
}

void _PG_init(void) {
    // Plain PostgreSQL calls with nothing C++ on the stack.
    delta_sync::register_trigger_callbacks();
    delta_sync::live_init();
}
