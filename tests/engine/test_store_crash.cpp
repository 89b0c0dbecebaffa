// labels: slow
// links: core
// A judgement is durable once record_judgement() returns: a child process recording judgements
// is killed with SIGKILL at random moments (including while it creates or migrates the database);
// every acknowledged judgement must be there afterwards and the database must pass integrity_check.
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <thread>

#include "atelier/store.h"
#include "store_child_util.h"
#include "store_test_util.h"

using namespace atelier;

TEST_CASE("SIGKILL at random moments never loses an acknowledged judgement nor breaks the database") {
    const int trials = 120;
    std::mt19937 rng(20261124);
    std::uniform_int_distribution<int> delay_us(0, 250'000);
    store_test::TempDir dir("store-crash");
    std::vector<long long> all_acked;
    int killed_while_running = 0;
    size_t total_acked = 0;
    for (int trial = 0; trial < trials; ++trial) {
        if (trial % 30 == 0) {   // now and then start from nothing: kills land in creation and migration too
            std::filesystem::remove_all(dir.path);
            std::filesystem::create_directories(dir.path);
            all_acked.clear();
        }
        store_test::Child child = store_test::spawn_child(dir.str(), "crash", 100000);
        REQUIRE(child.pid > 0);
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
        ::kill(child.pid, SIGKILL);
        int status = 0;
        const auto acked = store_test::collect_acks(child, &status);
        if (WIFSIGNALED(status)) ++killed_while_running;
        all_acked.insert(all_acked.end(), acked.begin(), acked.end());
        total_acked += acked.size();

        StoreOptions o;
        o.data_dir = dir.str();
        auto store = Store::open(o);
        const CheckReport check = store->check(false);
        CAPTURE(trial);
        REQUIRE(check.integrity == "ok");
        REQUIRE(check.foreign_key_violations == 0);
        for (long long id : acked) {
            const Comparison c = store->comparison(id);
            REQUIRE(c.prompt == "trial");
            REQUIRE_FALSE(c.undone);
        }
        REQUIRE(store->stats().comparisons >= int64_t(all_acked.size()));
    }
    MESSAGE(trials << " trials, " << killed_while_running << " killed while running, " << total_acked
                   << " acknowledged judgements checked");
    CHECK(killed_while_running > trials / 2);
    CHECK(total_acked > size_t(trials));   // most kills land while judgements are being written
}
