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
    ErrorData* data = CopyErrorData();
    FlushErrorState();
    return data;
}

void throw_pg_error(ErrorData* data) { throw PgError(data); }

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
