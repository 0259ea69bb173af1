// RAII over the SQLite C API (see sqlite.hpp).
#include "sqlite.hpp"

#include "errors.hpp"

#include <utility>

namespace delta_sync::client::sqlite {

namespace {

// SQLite's allocation statistics take a global mutex on every allocation, which a bulk load makes
// for every row; nothing here reads them. Only possible before SQLite initializes (once a
// process; a later call is refused and changes nothing).
void configure_sqlite_once() {
    static const bool configured = [] {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        return true;
    }();
    (void)configured;
}

}  // namespace

Database::Database(const std::string& path, Mode mode) : path_(path) {
    configure_sqlite_once();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (mode == Mode::create) flags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error("cannot open replica " + path + ": " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
}

Database::~Database() {
    sqlite3_close_v2(db_);
}

void Database::fail(const std::string& doing) const {
    int code = sqlite3_errcode(db_);
    std::string msg = sqlite3_errmsg(db_);
    if ((code & 0xff) == SQLITE_BUSY)
        throw ReplicaBusy("replica " + path_ + ": " + doing + ": " + msg +
                          " (another program is writing this replica)");
    if ((code & 0xff) == SQLITE_READONLY)
        msg += " (delta-sync needs to write the replica file and its directory)";
    throw Error("replica " + path_ + ": " + doing + ": " + msg);
}

void Database::exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        sqlite3_free(err);
        fail("running " + statement_summary(sql));
    }
}

Statement::Statement(Database& db, const std::string& sql) : db_(&db) {
    if (sqlite3_prepare_v2(db.handle(), sql.c_str(), static_cast<int>(sql.size()), &stmt_,
                           nullptr) != SQLITE_OK)
        db.fail("preparing " + statement_summary(sql));
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(stmt_);
        db_ = other.db_;
        stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
}

void Statement::bind(int i, const SqlValue& v) {
    int rc = SQLITE_OK;
    switch (v.kind) {
        case SqlValue::Kind::null:
            rc = sqlite3_bind_null(stmt_, i);
            break;
        case SqlValue::Kind::integer:
            rc = sqlite3_bind_int64(stmt_, i, v.integer);
            break;
        case SqlValue::Kind::real:
            rc = sqlite3_bind_double(stmt_, i, v.real);
            break;
        case SqlValue::Kind::text:
            rc = sqlite3_bind_text64(stmt_, i, v.text.data(), v.text.size(), SQLITE_STATIC,
                                     SQLITE_UTF8);
            break;
        case SqlValue::Kind::blob:
            // An empty blob is still a blob (a null pointer would bind NULL).
            rc = sqlite3_bind_blob64(stmt_, i, v.text.empty() ? "" : v.text.data(), v.text.size(),
                                     SQLITE_STATIC);
            break;
    }
    if (rc != SQLITE_OK) db_->fail("binding a value");
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    db_->fail("running " + statement_summary(sqlite3_sql(stmt_)));
}

void Statement::run() {
    while (step()) {
    }
    reset();
}

void Statement::run_rebound() {
    while (step()) {
    }
    sqlite3_reset(stmt_);
}

void Statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

SqlValue Statement::column(int i) const {
    switch (sqlite3_column_type(stmt_, i)) {
        case SQLITE_INTEGER:
            return SqlValue::of_integer(sqlite3_column_int64(stmt_, i));
        case SQLITE_FLOAT:
            return SqlValue::of_real(sqlite3_column_double(stmt_, i));
        case SQLITE_NULL:
            return SqlValue::null_value();
        case SQLITE_BLOB: {
            const char* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
            return SqlValue::of_blob(std::string_view(p ? p : "", sqlite3_column_bytes(stmt_, i)));
        }
        default: {
            const char* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
            return SqlValue::of_text(std::string_view(p ? p : "", sqlite3_column_bytes(stmt_, i)));
        }
    }
}

std::string Statement::column_text(int i) const {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, i)) : std::string();
}

std::string statement_summary(std::string_view sql) {
    const std::size_t limit = 80;
    if (sql.size() <= limit) return std::string(sql);
    // Cut between words, never inside a name or a keyword.
    std::size_t cut = sql.rfind(' ', limit);
    if (cut == std::string_view::npos || cut < limit / 2) cut = limit;
    return std::string(sql.substr(0, cut)) + " ...";
}

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

}  // namespace delta_sync::client::sqlite
