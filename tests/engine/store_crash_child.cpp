// Helper process for test_store_crash / test_store_concurrency: records judgements as fast as it
// can and prints "ack <id>" after each record_judgement() returned (i.e. after the commit).
//   store_crash_child <data_dir> <annotator> <count> [queue-name]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "atelier/store.h"

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: store_crash_child <data_dir> <annotator> <count>\n");
        return 2;
    }
    try {
        atelier::StoreOptions options;
        options.data_dir = argv[1];
        options.busy_timeout_ms = 20000;
        auto store = atelier::Store::open(options);
        const atelier::Profile me = store->ensure_profile(argv[2], "annotator");
        atelier::Image a{8, 8, 3, std::vector<uint8_t>(192, 10)}, b{8, 8, 3, std::vector<uint8_t>(192, 200)};
        const int64_t left = store->import_asset(a).id, right = store->import_asset(b).id;
        const long count = std::atol(argv[3]);
        for (long i = 0; i < count; ++i) {
            atelier::Judgement j;
            j.annotator_id = me.id;
            j.left_asset_id = left;
            j.right_asset_id = right;
            j.prompt = "trial";
            j.choice = i % 2 ? atelier::Choice::left : atelier::Choice::right;
            j.strength = int(i % 4);
            j.decision_ms = i;
            const int64_t id = store->record_judgement(j);
            char line[64];
            const int n = std::snprintf(line, sizeof line, "ack %lld\n", static_cast<long long>(id));
            if (::write(1, line, size_t(n)) != n) return 3;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "store_crash_child: %s\n", e.what());
        return 1;
    }
    return 0;
}
