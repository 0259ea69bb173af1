// Probes of the C++/PostgreSQL boundary (src/extension/boundary.hpp), for sql/boundary.sql.
//
// A test-only module, built by `make` beside the extension and never installed: the test binds
// its functions into pg_temp by the library's absolute path. It instantiates the guard templates
// in its own code, so what it shows is what every file of the extension gets:
//  - an error raised inside pg_guard() becomes a PgError C++ exception, with the guard's error
//    handler and the caller's error context stack put back (boundary_probe_inspect);
//  - cpp_entry() raises it again exactly as PostgreSQL raised it: same SQLSTATE, message, detail,
//    hint and context lines as the same ereport from plain C code (boundary_probe_plain against
//    boundary_probe_guarded);
//  - misuse fails loudly and leaves PostgreSQL's error state sound for the next error
//    (boundary_probe_misuse).
#include "../../src/extension/boundary.hpp"

extern "C" {
#include "utils/builtins.h"

PG_MODULE_MAGIC;
}

#include <cstring>

namespace {

void add_context(void* arg) { errcontext("%s", static_cast<const char*>(arg)); }

// The error every probe raises, from inside two error context callbacks.
void raise_probe_error() {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("probe error"),
                    errdetail("The probe raised this error on purpose."),
                    errhint("Compare it with the same error raised without C++ code.")));
}

void push(ErrorContextCallback& cb, const char* text) {
    cb.callback = add_context;
    cb.arg = const_cast<char*>(text);
    cb.previous = error_context_stack;
    error_context_stack = &cb;
}

// Raises the probe error from inside a guard, under an outer context pushed by C++ code and an
// inner one pushed by the guarded code. Returns what it observed, for boundary_probe_inspect.
const char* guarded_probe_error(bool catch_it) {
    ErrorContextCallback outer;
    push(outer, "outer probe frame");
    sigjmp_buf* const handler_before = PG_exception_stack;
    try {
        delta_sync::pg_guard([&] {
            ErrorContextCallback inner;
            push(inner, "inner probe frame");
            raise_probe_error();
        });
    } catch (const delta_sync::PgError& e) {
        if (!catch_it) throw;
        ErrorData* d = e.data();
        bool const handler_restored = PG_exception_stack == handler_before;
        bool const context_restored = error_context_stack == &outer;
        error_context_stack = outer.previous;
        return delta_sync::pg_guard([&] {
            return psprintf(
                "caught PgError: sqlstate %s, message \"%s\", detail \"%s\", hint \"%s\", "
                "context \"%s\"; error handler restored: %s; context stack restored: %s",
                unpack_sql_state(d->sqlerrcode), d->message, d->detail, d->hint, d->context,
                handler_restored ? "yes" : "no", context_restored ? "yes" : "no");
        });
    }
    error_context_stack = outer.previous;
    return "no error";
}

ErrorContextCallback leaked;  // static: a leaked callback must not point into a dead frame

Datum misuse(FunctionCallInfo fcinfo) {
    const char* kind = delta_sync::pg_guard([&] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    if (std::strcmp(kind, "context_left") == 0) {
        // Guarded code that pushes an error context callback and returns without popping it.
        delta_sync::pg_guard([] { push(leaked, "leaked probe frame"); });
    } else if (std::strcmp(kind, "handler_left") == 0) {
        // Guarded code that returns from inside PG_TRY, leaving its own jump buffer installed
        // (GCC sees the dangling pointer too; the probe makes it on purpose).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
        delta_sync::pg_guard([] {
            PG_TRY();
            {
                return;
            }
            PG_CATCH();
            {
                PG_RE_THROW();
            }
            PG_END_TRY();
        });
#pragma GCC diagnostic pop
    } else if (std::strcmp(kind, "body_context_left") == 0) {
        // An entry point's body that pushes an error context callback and returns.
        push(leaked, "leaked probe frame");
    } else if (std::strcmp(kind, "throw") == 0) {
        // A C++ exception leaving guarded code: allowed, and the guard's stacks are restored.
        delta_sync::pg_guard([] {
            throw delta_sync::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "probe exception",
                                       "The probe threw this C++ exception inside a guard.");
        });
    } else {
        throw delta_sync::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "unrecognized probe kind");
    }
    PG_RETURN_VOID();
}

}  // namespace

extern "C" {
// The reference: the probe error from plain C code, no C++ frame and no guard on the way.
PG_FUNCTION_INFO_V1(boundary_probe_plain);
Datum boundary_probe_plain(PG_FUNCTION_ARGS) {
    ErrorContextCallback outer, inner;
    push(outer, "outer probe frame");
    push(inner, "inner probe frame");
    raise_probe_error();
    PG_RETURN_VOID();
}
}

DELTA_SYNC_FUNCTION(boundary_probe_guarded, [](FunctionCallInfo) -> Datum {
    guarded_probe_error(false);
    PG_RETURN_VOID();
})
DELTA_SYNC_FUNCTION(boundary_probe_inspect, [](FunctionCallInfo) -> Datum {
    const char* seen = guarded_probe_error(true);
    return delta_sync::pg_guard([&] { return CStringGetTextDatum(seen); });
})
DELTA_SYNC_FUNCTION(boundary_probe_misuse, misuse)
