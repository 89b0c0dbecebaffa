// labels: fast
// links: core
// The store's schema and reliability: migrations from every older version keep the data; a
// newer, corrupt, read-only or full database gives a clear error and loses nothing stored.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "atelier/store.h"
#include "io/file_util.h"
#include "memory/schema.h"
#include "memory/sqlite_db.h"
#include "store_test_util.h"

namespace fs = std::filesystem;
using namespace atelier;
using store_test::picture;
using store_test::TempDir;

namespace {

std::unique_ptr<Store> open_at(const std::string& dir, int64_t max_pages = 0) {
    StoreOptions o;
    o.data_dir = dir;
    o.max_page_count = max_pages;
    return Store::open(o);
}

// Data written with the columns every version since v1 has, as an older Atelier would have.
void fill_old_data(Db& db, int version) {
    db.exec("INSERT INTO profiles (id, name, role, settings, created_ms) VALUES (1, 'ada', 'annotator', '{}', 1000),"
            " (2, 'bob', 'annotator', '{}', 1000)");
    db.exec("INSERT INTO assets (id, sha256, size_bytes, width, height, origin, created_ms) VALUES"
            " (1, 'aa', 1, 8, 8, 'imported', 1000), (2, 'bb', 1, 8, 8, 'imported', 1000),"
            " (3, 'cc', 1, 8, 8, 'imported', 1000)");
    db.exec("INSERT INTO queues (id, name, created_by, overlap, created_ms) VALUES (1, 'old queue', 1, 2, 1000)");
    db.exec("INSERT INTO queue_items (id, queue_id, position, left_asset_id, right_asset_id, prompt, decided_count) VALUES"
            " (1, 1, 0, 1, 2, 'p0', 2), (2, 1, 1, 2, 3, 'p1', 1), (3, 1, 2, 1, 3, 'p2', 0)");
    db.exec("INSERT INTO comparisons (annotator_id, queue_id, queue_item_id, left_asset_id, right_asset_id, prompt, choice,"
            " strength, created_ms) VALUES (1, 1, 1, 1, 2, 'p0', 1, 2, 2000), (2, 1, 1, 1, 2, 'p0', 1, 3, 2100),"
            " (1, 1, 2, 2, 3, 'p1', 2, 1, 2200)");
    db.exec("INSERT INTO memory_entries (id, profile_id, kind, text, weight, active, source, deleted, created_ms,"
            " updated_ms) VALUES (1, 1, 'like', 'warm light', 0.5, 1, 'user', 0, 3000, 3100)");
    db.exec("INSERT INTO memory_history (entry_id, event, actor, old_text, new_text, created_ms) VALUES"
            " (1, 'ADD', 'user', NULL, 'warm ligth', 3000), (1, 'UPDATE', 'user', 'warm ligth', 'warm light', 3100)");
    db.exec("INSERT INTO memory_entry_sources (entry_id, comparison_id) VALUES (1, 1)");
    if (version >= 2)   // what a v2 writer stored besides
        db.exec("UPDATE memory_history SET profile_id = 1, old_weight = 0.5, new_weight = 0.5,"
                " old_active = (event <> 'ADD'), new_active = 1");
}

}  // namespace

TEST_CASE("the migration list is ordered and ends at the latest version") {
    const auto& list = migrations();
    REQUIRE(list.size() >= 2);
    for (size_t i = 0; i < list.size(); ++i) CHECK(list[i].to_version == int(i + 1));
    CHECK(Store::latest_schema_version() == int(list.size()));
}

TEST_CASE("a database of every older version migrates to the latest and keeps its data") {
    for (int from = 0; from < latest_version(); ++from) {
        CAPTURE(from);
        TempDir dir("store-migrate");
        {
            Db db(dir.str() + "/atelier.db", false, true);
            migrate(db, from);
            CHECK(db.query_int("PRAGMA user_version") == from);
            if (from >= 1) fill_old_data(db, from);
        }
        auto store = open_at(dir.str());
        CHECK(store->schema_version() == latest_version());
        if (from == 0) {
            CHECK(store->list_profiles().empty());
            continue;
        }
        CHECK(store->list_profiles().size() == 2);
        CHECK(store->comparison(3).choice == Choice::right);
        // v3 derived each item's open flag: p0 has its two decisions, so ada and bob get p2/p1 next.
        const QueueProgress progress = store->queue_progress(1);
        CHECK(progress.done_items == 1);
        CHECK(progress.judgements == 3);
        CHECK(store->next_pair(1, 2)->prompt == "p1");
        CHECK(store->next_pair(1, 1)->prompt == "p2");
        // v2 filled the history's profile and weights; undo works on history written by v1.
        const auto history = store->memory_history(1);
        REQUIRE(history.size() == 2);
        CHECK(history[1].profile_id == 1);
        CHECK(history[1].old_text == "warm ligth");
        CHECK(store->profile_memory_history(1).size() == 2);
        const auto undo = store->undo_memory(1);
        REQUIRE(undo.has_value());
        CHECK(store->memory_entry(1).text == "warm ligth");
        CHECK(store->memory_provenance(1).comparisons.size() == 1);
        // The reward model table exists now.
        RewardModelRecord r;
        r.profile_id = 1;
        r.feature_set = "f";
        r.parameters = {1};
        CHECK(store->save_reward_model(r) > 0);
        CHECK(store->check().integrity == "ok");
        CHECK(store->check().foreign_key_violations == 0);
    }
}

TEST_CASE("a database from a newer Atelier is refused and left untouched") {
    TempDir dir("store-newer");
    const std::string path = dir.str() + "/atelier.db";
    {
        Db db(path, false, true);
        migrate(db);
        db.exec("PRAGMA user_version = " + std::to_string(latest_version() + 1));
    }
    const auto before = read_file_bytes(path);
    try {
        open_at(dir.str());
        FAIL("expected an error");
    } catch (const Error& e) {
        const std::string message = e.what();
        CHECK(message.find(path) != std::string::npos);
        CHECK(message.find("newer") != std::string::npos);
        CHECK(message.find("untouched") != std::string::npos);
    }
    CHECK(read_file_bytes(path) == before);
    CHECK_FALSE(fs::exists(path + "-wal"));
}

TEST_CASE("a corrupt database file gives a clear error naming it") {
    TempDir dir("store-corrupt");
    const std::string path = dir.str() + "/atelier.db";
    {
        std::ofstream out(path, std::ios::binary);
        for (int i = 0; i < 8192; ++i) out.put(char((i * 7919) % 251));
    }
    const auto before = read_file_bytes(path);
    try {
        open_at(dir.str());
        FAIL("expected an error");
    } catch (const Error& e) {
        const std::string message = e.what();
        CHECK(message.find(path) != std::string::npos);
        CHECK(message.find("not an Atelier database or is damaged") != std::string::npos);
    }
    CHECK(read_file_bytes(path) == before);

    // Damage inside a real database (header intact): refused at open, or reported by check().
    TempDir dir2("store-corrupt2");
    {
        auto store = open_at(dir2.str());
        const Profile p = store->create_profile("p");
        for (int i = 0; i < 200; ++i) {
            MemoryEntry e;
            e.profile_id = p.id;
            e.text = "entry number " + std::to_string(i) + std::string(200, 'x');
            store->add_memory(e);
        }
    }
    const std::string path2 = dir2.str() + "/atelier.db";
    {
        // Every page but the first (the header and schema) and the last gets garbage in its middle.
        const auto size = fs::file_size(path2);
        REQUIRE(size > 4 * 4096);
        std::fstream f(path2, std::ios::binary | std::ios::in | std::ios::out);
        for (uint64_t page = 1; page + 1 < size / 4096; ++page) {
            f.seekp(std::streamoff(page * 4096 + 200));
            for (int i = 0; i < 2000; ++i) f.put(char(0xA5));
        }
    }
    bool reported = false;
    try {
        auto store = open_at(dir2.str());
        const CheckReport report = store->check(false);
        reported = !report.ok && report.integrity != "ok";
        MESSAGE("integrity_check: " << report.integrity.substr(0, 120));
    } catch (const Error& e) {
        reported = std::string(e.what()).find(path2) != std::string::npos;
    }
    CHECK(reported);
}

TEST_CASE("a read-only store reads but refuses writes; an unusable data directory is named") {
    TempDir dir("store-readonly");
    int64_t id = 0;
    {
        auto store = open_at(dir.str());
        id = store->create_profile("ada").id;
    }
    StoreOptions o;
    o.data_dir = dir.str();
    o.read_only = true;
    auto ro = Store::open(o);
    CHECK(ro->profile(id).name == "ada");
    CHECK_THROWS_WITH_AS(ro->create_profile("bob"), doctest::Contains("read-only"), Error);
    CHECK(ro->list_profiles().size() == 1);

    // A data directory that cannot be created.
    const std::string blocker = dir.str() + "/a-file";
    std::ofstream(blocker) << "x";
    StoreOptions bad;
    bad.data_dir = blocker + "/atelier";
    CHECK_THROWS_WITH_AS(Store::open(bad), doctest::Contains("cannot create the data directory"), Error);

    if (::geteuid() != 0) {
        TempDir locked("store-locked");
        { open_at(locked.str()); }
        ::chmod(locked.str().c_str(), 0555);
        CHECK_THROWS_WITH_AS(open_at(locked.str()), doctest::Contains("read-only"), Error);
        ::chmod(locked.str().c_str(), 0755);
    } else {
        MESSAGE("running as root: permission bits do not stop root, the chmod 0555 case is skipped");
    }
}

TEST_CASE("a full disk (max_page_count) gives a clear error and loses nothing already stored") {
    TempDir dir("store-full");
    std::vector<int64_t> acknowledged;
    int64_t ann = 0, a = 0, b = 0;
    {
        auto store = open_at(dir.str());
        ann = store->create_profile("ann").id;
        a = store->import_asset(picture(1)).id;
        b = store->import_asset(picture(2)).id;
    }
    {
        auto store = open_at(dir.str(), /*max_pages=*/48);
        bool full = false;
        for (int i = 0; i < 20000 && !full; ++i) {
            Judgement j;
            j.annotator_id = ann;
            j.left_asset_id = a;
            j.right_asset_id = b;
            j.choice = Choice::left;
            j.rationale = std::string(300, 'r');
            try {
                acknowledged.push_back(store->record_judgement(j));
            } catch (const Error& e) {
                full = true;
                CHECK(std::string(e.what()).find("full") != std::string::npos);
                CHECK(std::string(e.what()).find("atelier.db") != std::string::npos);
            }
        }
        REQUIRE(full);
        CHECK(acknowledged.size() > 10);
        // A multi-row change that does not fit is rolled back as a whole.
        std::vector<Judgement> batch(200);
        for (auto& j : batch) {
            j.annotator_id = ann;
            j.left_asset_id = a;
            j.right_asset_id = b;
            j.choice = Choice::right;
        }
        const int64_t before = store->stats().comparisons;
        CHECK_THROWS_AS(store->record_judgements(batch), Error);
        CHECK(store->stats().comparisons == before);
    }
    auto store = open_at(dir.str());
    for (int64_t id : acknowledged) CHECK(store->comparison(id).annotator_id == ann);
    CHECK(store->stats().comparisons == int64_t(acknowledged.size()));
    CHECK(store->check().integrity == "ok");
    Judgement j;
    j.annotator_id = ann;
    j.left_asset_id = a;
    j.right_asset_id = b;
    j.choice = Choice::tie;
    CHECK(store->record_judgement(j) > 0);   // room again without the cap
}
