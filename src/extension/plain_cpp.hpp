// Marks a file of the extension as plain C++: code built both into the extension and, with no
// PostgreSQL header at all, into the Boost.Test unit tests and the fuzzer (docs/design.md §11).
// Such a file includes this header; including postgres.h (or postgres_fe.h, or c.h, through
// which every PostgreSQL header comes) in it then fails the build, whichever comes first:
//  - the PostgreSQL header first: its include guard is already defined when this header is read;
//  - this header first: the include guards are poisoned, so the PostgreSQL header's own
//    `#ifndef POSTGRES_H` is an error.
// tests/unit/plain_cpp_check.sh proves both for every marked file (ctest plain_cpp.*).
#pragma once

#if defined(POSTGRES_H) || defined(POSTGRES_FE_H) || defined(C_H)
#error "plain C++ file: it must not include PostgreSQL headers (see src/extension/plain_cpp.hpp)"
#endif
#pragma GCC poison POSTGRES_H POSTGRES_FE_H C_H
