// The C++/PostgreSQL boundary (docs/design.md §11; the rule pg_duckdb follows too):
//
// PostgreSQL reports errors with longjmp, which skips C++ destructors; a C++ exception that reaches
// PostgreSQL's C code kills the backend. So:
//  - every function PostgreSQL calls is an extern "C" wrapper that runs its C++ body through
//    cpp_entry(): exceptions are caught there and turned into ereport(ERROR) only after every C++
//    frame of the body has unwound;
//  - every call from C++ into PostgreSQL that can raise an error runs inside pg_guard(), which
//    catches the error with PG_TRY, copies it, and rethrows it as a PgError C++ exception after
//    PG_END_TRY; cpp_entry() re-raises it unchanged (same SQLSTATE, message, detail);
//  - the lambda given to pg_guard() must not throw and must not own objects with destructors.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <exception>
#include <type_traits>

namespace delta_sync {

// A PostgreSQL error in flight through C++ frames.
class PgError final : public std::exception {
public:
    explicit PgError(ErrorData* data) noexcept : data_(data) {}
    const char* what() const noexcept override { return data_->message ? data_->message : "error"; }
    ErrorData* data() const noexcept { return data_; }

private:
    ErrorData* data_;  // copied into the memory context current when pg_guard() began
};

// An error this project raises from C++ code: re-raised by cpp_entry() with this SQLSTATE.
class SqlError final : public std::exception {
public:
    SqlError(int sqlstate, const char* message, const char* detail = nullptr,
             const char* hint = nullptr) noexcept;
    const char* what() const noexcept override { return message_; }
    int sqlstate() const noexcept { return sqlstate_; }
    const char* detail() const noexcept { return detail_[0] ? detail_ : nullptr; }
    const char* hint() const noexcept { return hint_[0] ? hint_ : nullptr; }

private:
    int sqlstate_;
    char message_[512];
    char detail_[512];
    char hint_[512];
};

// Turns a caught PostgreSQL error into PgError; only called from pg_guard().
[[noreturn]] void throw_pg_error(ErrorData* data);
ErrorData* capture_pg_error(MemoryContext safe);

// Runs `f` so that a PostgreSQL error it raises surfaces as a PgError after PG_END_TRY.
template <class F>
void run_guarded(F& f) {
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData* volatile error = nullptr;
    PG_TRY();
    {
        f();
    }
    PG_CATCH();
    {
        error = capture_pg_error(caller_context);
    }
    PG_END_TRY();
    if (error) throw_pg_error(error);
}

// Runs `f` (plain PostgreSQL calls only) so that any PostgreSQL error surfaces as a PgError.
// Its result must be plain data: building a C++ object inside PG_TRY could throw there.
template <class F>
auto pg_guard(F&& f) -> decltype(f()) {
    using R = decltype(f());
    if constexpr (std::is_void_v<R>) {
        run_guarded(f);
    } else {
        static_assert(std::is_trivially_copyable_v<R>, "pg_guard returns plain data only");
        R result{};
        auto call = [&] { result = f(); };  // written in the lambda's frame, not across setjmp
        run_guarded(call);
        return result;
    }
}

// What a failed body leaves behind: plain data only, so that raising it skips no destructor.
struct Failure {
    ErrorData* pg_error = nullptr;  // a PostgreSQL error to re-raise as it was
    int sqlstate = 0;
    char message[512] = {0};
    char detail[512] = {0};
    char hint[512] = {0};

    void capture_current() noexcept;  // call only inside a catch handler
};

[[noreturn]] void raise_failure(const Failure& failure);

// Runs a C++ body for an extern "C" entry point. The catch handler only copies the exception into
// plain data; the error is raised after the handler has ended and every C++ frame of the body is gone.
template <class Body>
Datum cpp_entry(FunctionCallInfo fcinfo, Body&& body) noexcept {
    Failure failure;
    try {
        return body(fcinfo);
    } catch (...) {
        failure.capture_current();
    }
    raise_failure(failure);
}

}  // namespace delta_sync

// Declares an SQL-callable function `name` whose body is `impl(fcinfo)`, run through cpp_entry().
#define DELTA_SYNC_FUNCTION(name, impl)                                                  \
    extern "C" {                                                                         \
    PG_FUNCTION_INFO_V1(name);                                                           \
    Datum name(PG_FUNCTION_ARGS) { return delta_sync::cpp_entry(fcinfo, impl); }         \
    }
