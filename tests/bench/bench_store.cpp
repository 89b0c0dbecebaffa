// links: core
// The store's figures: durable judgement latency, bulk import rate, and query times with a
// million comparisons stored, with the query plans that show which indexes serve them.
//   bench_store [data-dir] [comparisons=1000000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "atelier/store.h"
#include "memory/queries.h"
#include "memory/sqlite_db.h"

using namespace atelier;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

Image picture(int seed) {
    Image image{16, 16, 3, std::vector<uint8_t>(16 * 16 * 3)};
    for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = uint8_t(i * 7 + size_t(seed) * 131);
    return image;
}

struct Latency {
    double p50, p99, max;
};

// record_judgement() latency (durable or not) over `n` judgements of a fresh queue.
Latency judgement_latency(const std::string& dir, bool durable, int n, double* next_pair_p50) {
    std::filesystem::remove_all(dir);
    StoreOptions o;
    o.data_dir = dir;
    o.durable = durable;
    auto store = Store::open(o);
    const Profile me = store->create_profile("me", "annotator");
    std::vector<QueuePairInput> pairs;
    const int64_t a = store->import_asset(picture(1)).id, b = store->import_asset(picture(2)).id;
    for (int i = 0; i < n; ++i) pairs.push_back({a, b, "p"});
    const int64_t q = store->create_queue("latency", me.id, pairs, 1);
    std::vector<double> record_ms, next_ms;
    for (int i = 0; i < n; ++i) {
        auto t0 = Clock::now();
        auto pair = store->next_pair(q, me.id);
        next_ms.push_back(ms_since(t0));
        Judgement j;
        j.annotator_id = me.id;
        j.queue_item_id = pair->item_id;
        j.choice = i % 3 ? Choice::left : Choice::right;
        j.strength = 2;
        t0 = Clock::now();
        store->record_judgement(j);
        record_ms.push_back(ms_since(t0));
    }
    if (next_pair_p50) *next_pair_p50 = percentile(next_ms, 0.5);
    return {percentile(record_ms, 0.5), percentile(record_ms, 0.99), percentile(record_ms, 1.0)};
}

template <class F>
Latency time_query(int reps, F&& f) {
    std::vector<double> v;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = Clock::now();
        f();
        v.push_back(ms_since(t0));
    }
    return {percentile(v, 0.5), percentile(v, 0.99), percentile(v, 1.0)};
}

void print_plan(Db& db, const std::string& title, const std::string& sql) {
    std::printf("\nEXPLAIN QUERY PLAN  %s\n", title.c_str());
    Stmt s(db, ("EXPLAIN QUERY PLAN " + sql).c_str());
    while (s.step()) std::printf("  %s\n", s.text(3).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const std::string base = argc > 1 ? argv[1] : (std::filesystem::temp_directory_path() / "atelier-bench-store").string();
    const long total = argc > 2 ? std::atol(argv[2]) : 1'000'000;
    std::printf("bench_store: SQLite %s, data under %s, %ld comparisons\n\n", "(WAL)", base.c_str(), total);

    double next_small = 0;
    const Latency durable = judgement_latency(base + "/latency-full", true, 2000, &next_small);
    const Latency normal = judgement_latency(base + "/latency-normal", false, 2000, nullptr);

    // Bulk: a queue of total/2 + total/10 items, overlap 2; two annotators judge the first 45% of
    // the judgements' worth of items each (closing them), a third judges 10% alone (still open).
    std::filesystem::remove_all(base + "/bulk");
    StoreOptions o;
    o.data_dir = base + "/bulk";
    auto store = Store::open(o);
    std::vector<Profile> people;
    for (const char* name : {"a0", "a1", "a2", "a3"}) people.push_back(store->create_profile(name, "annotator"));
    std::vector<int64_t> assets;
    for (int i = 0; i < 64; ++i) assets.push_back(store->import_asset(picture(i)).id);
    const long closed_items = long(double(total) * 0.45), lone_items = total - 2 * closed_items;
    const long items = closed_items + lone_items + total / 10;
    std::vector<QueuePairInput> pairs;
    pairs.reserve(size_t(items));
    for (long i = 0; i < items; ++i)
        pairs.push_back({assets[size_t(i % 64)], assets[size_t((i * 7 + 1) % 64)], "prompt " + std::to_string(i % 1000)});
    auto t0 = Clock::now();
    const int64_t q = store->create_queue("bulk", people[0].id, pairs, 2);
    const double queue_ms = ms_since(t0);
    std::vector<int64_t> item_ids(static_cast<size_t>(items));
    {
        Db db(store->database_path(), true, false);
        Stmt s(db, "SELECT id, position FROM queue_items WHERE queue_id = ?");
        s.bind(1, q);
        while (s.step()) item_ids[size_t(s.int64(1))] = s.int64(0);
    }
    std::vector<Judgement> batch;
    const size_t batch_size = 50'000;
    double import_ms = 0;
    long written = 0;
    auto flush = [&] {
        const auto t = Clock::now();
        store->record_judgements(batch);
        import_ms += ms_since(t);
        written += long(batch.size());
        batch.clear();
    };
    auto add = [&](const Profile& who, long item) {
        Judgement j;
        j.annotator_id = who.id;
        j.queue_item_id = item_ids[size_t(item)];
        j.choice = item % 5 == 0 ? Choice::tie : item % 2 ? Choice::left : Choice::right;
        j.strength = int(item % 4);
        j.decision_ms = 800 + item % 3000;
        j.created_ms = 1'700'000'000'000 + item * 1000;
        batch.push_back(j);
        if (batch.size() == batch_size) flush();
    };
    for (long i = 0; i < closed_items; ++i) add(people[0], i);
    for (long i = 0; i < closed_items; ++i) add(people[1], i);
    for (long i = closed_items; i < closed_items + lone_items; ++i) add(people[2], i);
    if (!batch.empty()) flush();

    // Memory: 2,000 entries for a0, each learned from 50 comparisons.
    for (int i = 0; i < 2000; ++i) {
        MemoryEntry e;
        e.profile_id = people[0].id;
        e.kind = i % 3 ? "like" : "rule";
        e.text = (i % 10 ? "prefers warm light, entry " : "avoid harsh shadows, entry ") + std::to_string(i);
        e.source = "learned";
        for (int k = 0; k < 50; ++k) e.source_comparison_ids.push_back(1 + (int64_t(i) * 50 + k) % written);
        store->add_memory(e, Actor::learner);
    }

    const Latency next_fresh = time_query(200, [&] { store->next_pair(q, people[3].id); });
    const Latency next_done = time_query(200, [&] { store->next_pair(q, people[0].id); });
    const Latency next_lone = time_query(20, [&] { store->next_pair(q, people[2].id); });
    MemoryFilter f;
    f.profile_id = people[0].id;
    f.limit = 100;
    const Latency memory_page = time_query(200, [&] { store->list_memory(f); });
    f.search = "shadows";
    const Latency memory_search = time_query(50, [&] { store->list_memory(f); });
    const Latency provenance = time_query(200, [&] { store->memory_provenance(1000); });
    const Latency undo = time_query(50, [&] {
        store->undo_last_judgement(people[3].id, q);
    });
    const Latency agreement = time_query(1, [&] { store->agreement(q); });
    const Latency progress = time_query(5, [&] { store->queue_progress(q, people[0].id); });
    const StoreStats stats = store->stats();

    std::printf("| measure | p50 | p99 | max | note |\n|---|---|---|---|---|\n");
    std::printf("| record_judgement, durable (synchronous=FULL) | %.3f ms | %.3f ms | %.3f ms | 2,000 judgements, fresh store |\n",
                durable.p50, durable.p99, durable.max);
    std::printf("| record_judgement, synchronous=NORMAL | %.3f ms | %.3f ms | %.3f ms | durable/normal p50 ratio %.1fx |\n",
                normal.p50, normal.p99, normal.max, durable.p50 / normal.p50);
    std::printf("| next_pair, small queue | %.3f ms | | | |\n", next_small);
    std::printf("| next_pair, %ld comparisons, new annotator | %.3f ms | %.3f ms | %.3f ms | skips %ld closed items via the partial index |\n",
                written, next_fresh.p50, next_fresh.p99, next_fresh.max, closed_items);
    std::printf("| next_pair, annotator who closed the first items | %.3f ms | %.3f ms | %.3f ms | |\n", next_done.p50,
                next_done.p99, next_done.max);
    std::printf("| next_pair, annotator ahead on %ld still-open items | %.3f ms | %.3f ms | %.3f ms | starts after their latest judgement |\n",
                lone_items, next_lone.p50, next_lone.p99, next_lone.max);
    std::printf("| list_memory, 100 of 2,000 entries | %.3f ms | %.3f ms | %.3f ms | |\n", memory_page.p50,
                memory_page.p99, memory_page.max);
    std::printf("| list_memory, substring search | %.3f ms | %.3f ms | %.3f ms | |\n", memory_search.p50,
                memory_search.p99, memory_search.max);
    std::printf("| memory_provenance, 50 sources | %.3f ms | %.3f ms | %.3f ms | |\n", provenance.p50, provenance.p99,
                provenance.max);
    std::printf("| undo_last_judgement (nothing to undo) | %.3f ms | %.3f ms | | |\n", undo.p50, undo.p99);
    std::printf("| queue_progress, one annotator | %.1f ms | | | |\n", progress.p50);
    std::printf("| agreement over the queue | %.0f ms | | | %ld judgements |\n", agreement.p50, written);
    std::printf("\n| bulk | figure |\n|---|---|\n");
    std::printf("| create_queue, %ld items | %.0f ms (%.0f items/s) |\n", items, queue_ms, double(items) / queue_ms * 1000);
    std::printf("| record_judgements, %ld comparisons in batches of %zu | %.0f ms (%.0f comparisons/s) |\n", written,
                batch_size, import_ms, double(written) / import_ms * 1000);
    std::printf("| database size | %.1f MB |\n", double(stats.database_bytes) / 1e6);

    Db db(store->database_path(), true, false);
    print_plan(db, "next_pair: the annotator's latest position", std::string(last_position_sql()));
    print_plan(db, "next_pair", std::string(next_pair_sql()));
    MemoryFilter plain;
    print_plan(db, "list_memory", list_memory_sql(plain));
    print_plan(db, "undo_last_judgement",
               "SELECT id FROM comparisons WHERE annotator_id = 1 AND queue_id IS 1 AND undone_ms IS NULL ORDER BY id DESC LIMIT 1");
    print_plan(db, "memory_provenance",
               "SELECT c.id FROM memory_entry_sources s JOIN comparisons c ON c.id = s.comparison_id WHERE s.entry_id = 1 ORDER BY c.id");
    store.reset();
    std::filesystem::remove_all(base);
    return 0;
}
