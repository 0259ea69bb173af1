// Thin RAII over the SQLite C API: a Database owns its handle, a Statement its prepared statement;
// every failure becomes an Error that says what was being done.
#pragma once

#include "sql_value.hpp"

#include <sqlite3.h>

#include <string>
#include <string_view>

namespace delta_sync::client::sqlite {

class Database {
public:
    enum class Mode { create, existing };
    Database(const std::string& path, Mode mode);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // Runs one or more statements that return no rows.
    void exec(const std::string& sql);
    sqlite3* handle() const { return db_; }
    const std::string& path() const { return path_; }
    [[noreturn]] void fail(const std::string& doing) const;

private:
    sqlite3* db_ = nullptr;
    std::string path_;
};

class Statement {
public:
    Statement() = default;
    Statement(Database& db, const std::string& sql);
    ~Statement();
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    // Binds 1-based parameter i. Text is bound without a copy: it must outlive step().
    void bind(int i, const SqlValue& v);
    // Advances; true while a row is available.
    bool step();
    // Runs a statement that returns no row, then makes it ready to run again.
    void run();
    // The same, keeping the bindings: for a caller that binds every parameter before each run.
    void run_rebound();
    void reset();
    SqlValue column(int i) const;  // text views are valid until the next step()
    std::string column_text(int i) const;
    std::int64_t column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
    bool column_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
    explicit operator bool() const { return stmt_ != nullptr; }

private:
    Database* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

// A statement for a message: whole when short, else cut between two words, with "...".
std::string statement_summary(std::string_view sql);

// "name" with embedded quotes doubled: any server column or table name is a valid identifier.
std::string quote_identifier(std::string_view name);

}  // namespace delta_sync::client::sqlite
