// A thin RAII layer over the sqlite3 C API, used only inside the store (internal).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace atelier {

class Db {
public:
    // Opens `path`; `read_only` opens without the right to write. Throws Error naming the file.
    Db(const std::string& path, bool read_only, bool create);
    ~Db();
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    sqlite3* handle() const { return db_; }
    const std::string& path() const { return path_; }
    void exec(const std::string& sql);                // statements without results
    int64_t query_int(const std::string& sql);        // first column of the first row (0 if none)
    std::string query_text(const std::string& sql);
    int64_t last_insert_id() const;
    int changes() const;
    [[noreturn]] void fail(int rc, const std::string& what) const;   // throws Error with the file and SQLite's words

private:
    sqlite3* db_ = nullptr;
    std::string path_;
};

class Stmt {
public:
    Stmt(Db& db, const char* sql);
    ~Stmt();
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int index, int64_t value);
    Stmt& bind(int index, int value) { return bind(index, int64_t(value)); }
    Stmt& bind(int index, bool value) { return bind(index, int64_t(value ? 1 : 0)); }
    Stmt& bind(int index, double value);
    Stmt& bind(int index, const std::string& value);
    Stmt& bind(int index, const char* value) { return bind(index, std::string(value)); }
    Stmt& bind_blob(int index, const std::vector<uint8_t>& value);
    Stmt& bind_null(int index);
    Stmt& bind_id(int index, int64_t id);             // 0 binds NULL (optional foreign keys)

    bool step();                                       // true: a row is ready
    void run() { step(); }
    void reset();                                      // ready to run again (bindings kept until rebound)

    int64_t int64(int col) const;
    double real(int col) const;
    std::string text(int col) const;
    std::vector<uint8_t> blob(int col) const;
    bool is_null(int col) const;

private:
    Db& db_;
    sqlite3_stmt* stmt_ = nullptr;
    std::string sql_;
};

// BEGIN IMMEDIATE ... COMMIT (a savepoint when nested); rolls back if not committed (an exception left the scope).
class Transaction {
public:
    explicit Transaction(Db& db);
    ~Transaction();
    void commit();

private:
    Db& db_;
    bool nested_ = false;
    bool done_ = false;
};

}  // namespace atelier
