// labels: fast
// links: core
// Two processes writing the same store at once: both finish, nothing is lost, the database is sound.
#include <doctest/doctest.h>

#include <set>

#include "atelier/store.h"
#include "store_child_util.h"
#include "store_test_util.h"

using namespace atelier;

TEST_CASE("two processes recording judgements at the same time both succeed") {
    store_test::TempDir dir("store-concurrent");
    const long each = 150;
    // Both start on a data directory that does not exist yet: creation and migration race too.
    const std::string data = dir.str() + "/data";
    store_test::Child a = store_test::spawn_child(data, "writer-a", each);
    store_test::Child b = store_test::spawn_child(data, "writer-b", each);
    int status_a = 0, status_b = 0;
    const auto acked_a = store_test::collect_acks(a, &status_a);
    const auto acked_b = store_test::collect_acks(b, &status_b);
    CHECK(WIFEXITED(status_a));
    CHECK(WEXITSTATUS(status_a) == 0);
    CHECK(WEXITSTATUS(status_b) == 0);
    CHECK(acked_a.size() == size_t(each));
    CHECK(acked_b.size() == size_t(each));

    StoreOptions o;
    o.data_dir = data;
    auto store = Store::open(o);
    CHECK(store->check().ok);
    CHECK(store->stats().comparisons == 2 * each);
    CHECK(store->stats().assets == 2);   // both imported the same two pictures: stored once
    std::set<long long> ids(acked_a.begin(), acked_a.end());
    ids.insert(acked_b.begin(), acked_b.end());
    CHECK(ids.size() == size_t(2 * each));
    CHECK(store->list_comparisons(store->find_profile("writer-a")->id, -1, false, 1000).size() == size_t(each));
}
