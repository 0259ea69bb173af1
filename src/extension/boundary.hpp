// The C++/PostgreSQL boundary (docs/design.md §11; the rule pg_duckdb follows too):
//
// PostgreSQL reports errors with longjmp, which skips C++ destructors; a C++ exception that reaches
// PostgreSQL's C code kills the backend. So:
//  - every function PostgreSQL calls is an extern "C" wrapper that runs its C++ body through
//    cpp_entry(): exceptions are caught there and turned into ereport(ERROR) only after every C++
//    frame of the body has unwound;
//  - every call from C++ into PostgreSQL that can raise an error runs inside pg_guard(), which
//    catches the error with a sigsetjmp of its own, copies it, and rethrows it as a PgError C++
//    exception once its frame is gone; cpp_entry() re-raises it unchanged (same SQLSTATE,
//    message, detail, hint, context);
//  - the guard saves PostgreSQL's error handler and error context stack in an RAII object, so
//    every way out of the guarded lambda (return, PostgreSQL error, C++ exception) puts both back,
//    and it checks on the normal way out that the lambda left them as it found them: a lambda
//    that returns from inside a PG_TRY or leaves a context callback pushed fails loudly with an
//    internal error instead of corrupting the next error;
//  - the lambda given to pg_guard() owns nothing with a destructor: its captures are checked at
//    compile time, its body is the author's duty (a PostgreSQL error leaves it by longjmp).
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

// PostgreSQL's error-handling state, saved when a guard begins and put back when its scope ends,
// however it ends: a normal return, a caught PostgreSQL error, or a C++ exception leaving the
// guarded code. PG_exception_stack is where the next ereport(ERROR) will longjmp to;
// error_context_stack lists the callbacks that add CONTEXT lines to an error. Left pointing into a
// frame that is gone, either one turns the next error into a jump to a dead stack.
class ErrorStackScope {
public:
    ErrorStackScope() noexcept
        : exception_stack_(PG_exception_stack), context_stack_(error_context_stack) {}
    ~ErrorStackScope() { restore(); }
    ErrorStackScope(const ErrorStackScope&) = delete;
    ErrorStackScope& operator=(const ErrorStackScope&) = delete;

    void restore() const noexcept {
        PG_exception_stack = exception_stack_;
        error_context_stack = context_stack_;
    }
    ErrorContextCallback* context_stack() const noexcept { return context_stack_; }

private:
    sigjmp_buf* const exception_stack_;
    ErrorContextCallback* const context_stack_;
};

// Copies the error PostgreSQL is handling into `safe` and clears it; only called from a guard's
// handler, with the guard's stacks already restored.
ErrorData* capture_pg_error(MemoryContext safe);
// Throws the captured error as a PgError.
[[noreturn]] void throw_pg_error(ErrorData* data);
// Guarded code (a pg_guard() lambda, a cpp_entry() body) that returned normally but left
// PostgreSQL's error state changed behind it: an error handler of its own still installed (a
// `return` inside PG_TRY) or an error context callback still pushed. Both stacks are put back by
// the caller; this reports the bug as an internal error instead of letting it corrupt the next
// error.
[[noreturn]] void throw_guard_misuse(bool handler_left, bool context_left);

// Throws the misuse error of throw_guard_misuse() when PostgreSQL's error stacks differ from
// what was saved; the caller restores them.
inline void check_error_state(sigjmp_buf* handler, ErrorContextCallback* context) {
    bool const handler_left = PG_exception_stack != handler;
    bool const context_left = error_context_stack != context;
    if (handler_left || context_left) throw_guard_misuse(handler_left, context_left);
}

// Runs `f` so that a PostgreSQL error it raises surfaces as a PgError once the guard's frame and
// its jump buffer are gone. The shape: an ErrorStackScope (RAII) around a sigsetjmp of our own,
// so that no way out of `f` -- return, longjmp, C++ exception -- leaves PostgreSQL pointing at a
// dead frame, and a check on the normal way out that `f` left both stacks as it found them.
template <class F>
void run_guarded(F& f) {
    static_assert(std::is_trivially_destructible_v<F>,
                  "pg_guard: the lambda must capture nothing with a destructor (capture by "
                  "reference); a PostgreSQL error would skip it");
    MemoryContext const caller_context = CurrentMemoryContext;
    ErrorData* error = nullptr;
    {
        ErrorStackScope saved;
        sigjmp_buf handler;
        if (sigsetjmp(handler, 0) == 0) {
            PG_exception_stack = &handler;
            f();
            check_error_state(&handler, saved.context_stack());  // ~saved restores if it throws
            return;
        }
        // A PostgreSQL error longjmp'd here: its handler frames are gone, ours is current again.
        saved.restore();
        error = capture_pg_error(caller_context);
    }
    throw_pg_error(error);
}

// Runs `f` (PostgreSQL calls and plain data) so that any PostgreSQL error surfaces as a PgError.
// `f` must own nothing with a destructor, in its captures (checked at compile time) or its body:
// a PostgreSQL error leaves it by longjmp. A C++ exception may leave it: the guard's stacks are
// restored on the way. Its result must be plain data (checked at compile time), written in the
// lambda's own frame rather than across the sigsetjmp.
template <class F>
auto pg_guard(F&& f) -> decltype(f()) {
    static_assert(std::is_trivially_destructible_v<std::remove_reference_t<F>>,
                  "pg_guard: the lambda must capture nothing with a destructor (capture by "
                  "reference); a PostgreSQL error would skip it");
    using R = decltype(f());
    if constexpr (std::is_void_v<R>) {
        run_guarded(f);
    } else {
        static_assert(std::is_trivially_copyable_v<R>, "pg_guard returns plain data only");
        R result{};
        auto call = [&] { result = f(); };
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
// plain data; the error is raised after the handler has ended and every C++ frame of the body is
// gone, with PostgreSQL's error handler and context stack put back as they were on entry (a body
// that left them changed is a bug, reported as one). Plain pointers rather than an
// ErrorStackScope here: raise_failure() leaves this frame by longjmp.
template <class Body>
Datum cpp_entry(FunctionCallInfo fcinfo, Body&& body) noexcept {
    sigjmp_buf* const handler = PG_exception_stack;
    ErrorContextCallback* const context = error_context_stack;
    Failure failure;
    try {
        Datum result = body(fcinfo);
        check_error_state(handler, context);
        return result;
    } catch (...) {
        failure.capture_current();
    }
    PG_exception_stack = handler;
    error_context_stack = context;
    raise_failure(failure);
}

}  // namespace delta_sync

// Declares an SQL-callable function `name` whose body is `impl(fcinfo)`, run through cpp_entry().
#define DELTA_SYNC_FUNCTION(name, impl)                                                  \
    extern "C" {                                                                         \
    PG_FUNCTION_INFO_V1(name);                                                           \
    Datum name(PG_FUNCTION_ARGS) { return delta_sync::cpp_entry(fcinfo, impl); }         \
    }
