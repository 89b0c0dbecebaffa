// The store's schema as an ordered list of forward migrations (internal; tests build old versions with it).
#pragma once
#include <string>
#include <vector>

namespace atelier {

class Db;

struct Migration {
    int to_version;
    const char* summary;
    const char* sql;
};

// migrations()[i] takes a database from version i to version i + 1 (version 0: empty file).
const std::vector<Migration>& migrations();
int latest_version();

// Runs the migrations from the file's user_version up to `target` (default: the latest), each in its
// own transaction. Throws Error if the file is newer than `target`.
void migrate(Db& db, int target = -1);

}  // namespace atelier
