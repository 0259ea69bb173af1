// Conversions between PostgreSQL errors and C++ exceptions; see boundary.hpp for the rule.
#include "boundary.hpp"

#include <cstdio>
#include <cstring>
#include <new>

namespace delta_sync {

namespace {
void copy_text(char* dst, std::size_t size, const char* src) noexcept {
    if (!src) {
        dst[0] = '\0';
        return;
    }
    std::snprintf(dst, size, "%s", src);
}
}  // namespace

SqlError::SqlError(int sqlstate, const char* message, const char* detail,
                   const char* hint) noexcept
    : sqlstate_(sqlstate) {
    copy_text(message_, sizeof message_, message);
    copy_text(detail_, sizeof detail_, detail);
    copy_text(hint_, sizeof hint_, hint);
}

ErrorData* capture_pg_error(MemoryContext safe) {
    MemoryContextSwitchTo(safe);
    {
        // Copying allocates and so can fail in turn; that error is caught here too, never let
        // jump over the C++ frames that called the guard.
        ErrorStackScope saved;
        sigjmp_buf handler;
        if (sigsetjmp(handler, 0) == 0) {
            PG_exception_stack = &handler;
            ErrorData* data = CopyErrorData();
            FlushErrorState();
            return data;
        }
        saved.restore();
    }
    MemoryContextSwitchTo(safe);
    FlushErrorState();
    throw SqlError(ERRCODE_OUT_OF_MEMORY, "out of memory",
                   "An error raised by PostgreSQL could not be copied to pass it through C++ code.");
}

void throw_pg_error(ErrorData* data) { throw PgError(data); }

void throw_guard_misuse(bool handler_left, bool context_left) {
    const char* left = handler_left && context_left
                           ? "an error handler of its own still installed and an error context "
                             "callback still pushed"
                       : handler_left ? "an error handler of its own still installed"
                                      : "an error context callback still pushed";
    char detail[256];
    std::snprintf(detail, sizeof detail,
                  "The code returned with %s; both error stacks were restored.", left);
    throw SqlError(ERRCODE_INTERNAL_ERROR, "unbalanced error state on return from guarded code",
                   detail);
}

void Failure::capture_current() noexcept {
    try {
        throw;
    } catch (const PgError& e) {
        pg_error = e.data();
    } catch (const SqlError& e) {
        sqlstate = e.sqlstate();
        copy_text(message, sizeof message, e.what());
        copy_text(detail, sizeof detail, e.detail());
        copy_text(hint, sizeof hint, e.hint());
    } catch (const std::bad_alloc&) {
        sqlstate = ERRCODE_OUT_OF_MEMORY;
        copy_text(message, sizeof message, "out of memory");
        copy_text(detail, sizeof detail, "A memory allocation of the delta_sync extension failed.");
    } catch (const std::exception& e) {
        sqlstate = ERRCODE_INTERNAL_ERROR;
        std::snprintf(message, sizeof message, "unexpected C++ exception in delta_sync: %s",
                      e.what());
    } catch (...) {
        sqlstate = ERRCODE_INTERNAL_ERROR;
        copy_text(message, sizeof message, "unexpected C++ exception in delta_sync");
    }
}

void raise_failure(const Failure& failure) {
    if (failure.pg_error) ReThrowError(failure.pg_error);
    ereport(ERROR, (errcode(failure.sqlstate), errmsg_internal("%s", failure.message),
                    failure.detail[0] ? errdetail_internal("%s", failure.detail) : 0,
                    failure.hint[0] ? errhint("%s", failure.hint) : 0));
    pg_unreachable();
}

}  // namespace delta_sync
