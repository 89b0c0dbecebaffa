#include "memory/sqlite_db.h"

#include <sqlite3.h>

#include "atelier/error.h"

namespace atelier {

Db::Db(const std::string& path, bool read_only, bool create) : path_(path) {
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (create && !read_only) flags |= SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_NOMUTEX;   // one thread at a time per Store (documented)
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error(path + ": cannot open the database (" + reason + ")");
    }
    sqlite3_extended_result_codes(db_, 1);
}

Db::~Db() {
    if (db_) sqlite3_close_v2(db_);
}

void Db::fail(int rc, const std::string& what) const {
    std::string reason = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    const int primary = rc & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
        reason += "; the file is not an Atelier database or is damaged - restore it from a backup or move it away";
    else if (primary == SQLITE_FULL)
        reason += "; the disk (or the database size limit) is full - nothing of this change was stored";
    else if (primary == SQLITE_READONLY)
        reason += "; the data directory or database is read-only";
    else if (primary == SQLITE_BUSY)
        reason += "; another process kept the database locked longer than the busy timeout";
    throw Error(path_ + ": " + what + " failed: " + reason);
}

void Db::exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    if (message) sqlite3_free(message);
    if (rc != SQLITE_OK) fail(rc, "'" + sql.substr(0, 60) + (sql.size() > 60 ? "...'" : "'"));
}

int64_t Db::query_int(const std::string& sql) {
    Stmt stmt(*this, sql.c_str());
    return stmt.step() ? stmt.int64(0) : 0;
}

std::string Db::query_text(const std::string& sql) {
    Stmt stmt(*this, sql.c_str());
    return stmt.step() ? stmt.text(0) : std::string();
}

int64_t Db::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int Db::changes() const { return sqlite3_changes(db_); }

Stmt::Stmt(Db& db, const char* sql) : db_(db), sql_(sql) {
    const int rc = sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) db_.fail(rc, "preparing '" + sql_.substr(0, 60) + "'");
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}
Stmt& Stmt::bind(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
    return *this;
}
Stmt& Stmt::bind(int index, const std::string& value) {
    sqlite3_bind_text(stmt_, index, value.data(), int(value.size()), SQLITE_TRANSIENT);
    return *this;
}
Stmt& Stmt::bind_blob(int index, const std::vector<uint8_t>& value) {
    if (value.empty()) {   // a NULL data pointer would bind NULL, not an empty blob
        sqlite3_bind_zeroblob(stmt_, index, 0);
        return *this;
    }
    sqlite3_bind_blob(stmt_, index, value.data(), int(value.size()), SQLITE_TRANSIENT);
    return *this;
}
Stmt& Stmt::bind_null(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
}
Stmt& Stmt::bind_id(int index, int64_t id) { return id ? bind(index, id) : bind_null(index); }

bool Stmt::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3_reset(stmt_);
    db_.fail(rc, "'" + sql_.substr(0, 60) + (sql_.size() > 60 ? "...'" : "'"));
}

void Stmt::reset() { sqlite3_reset(stmt_); }

int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::real(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Stmt::text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, col))) : std::string();
}
std::vector<uint8_t> Stmt::blob(int col) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>();
}
bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

// Inside an open transaction this nests as a savepoint, so store calls compose (an import
// calls create_queue, record_judgements, ... within its own transaction).
Transaction::Transaction(Db& db) : db_(db), nested_(sqlite3_get_autocommit(db.handle()) == 0) {
    db_.exec(nested_ ? "SAVEPOINT nested" : "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (done_) return;
    if (nested_) sqlite3_exec(db_.handle(), "ROLLBACK TO nested; RELEASE nested", nullptr, nullptr, nullptr);
    else sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    db_.exec(nested_ ? "RELEASE nested" : "COMMIT");
    done_ = true;
}

}  // namespace atelier
