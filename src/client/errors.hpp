// The client's failures: each carries one line a user can act on; the kinds decide what happens
// next (retry a lost connection, exit 2 on a usage error, roll back on an interrupt).
#pragma once

#include <stdexcept>
#include <string>

namespace delta_sync::client {

// A failure reported to the user as one line; what() never holds a newline. A failure the
// server reported keeps its SQLSTATE ("22023", "42501", ...; empty for the client's own), so
// callers branch on the code, never on the message.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, std::string sqlstate = std::string());
    const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
    std::string sqlstate_;
};

// The command line is wrong: the user must change what they typed.
class UsageError : public Error {
public:
    using Error::Error;
};

// The server went away in the middle of something: retrying later is the right move, and since
// the replica's cursor only moves on commit, a retry can never skip a change.
class ConnectionLost : public Error {
public:
    using Error::Error;
};

// Another connection holds the replica's write lock longer than the busy timeout: waiting more
// (--watch retries) is the right move, and nothing was written.
class ReplicaBusy : public Error {
public:
    using Error::Error;
};

// The server table a pull was following no longer exists (dropped since it was resolved).
class TableDropped : public Error {
public:
    using Error::Error;
};

// SIGINT/SIGTERM arrived: the current table's SQLite transaction is rolled back.
class Interrupted : public Error {
public:
    using Error::Error;
};

// The first line of a multi-line message (libpq's, SQLite's), without PostgreSQL's "ERROR:  ".
std::string one_line(const std::string& message);

}  // namespace delta_sync::client
