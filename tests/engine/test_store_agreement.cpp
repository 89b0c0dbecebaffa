// labels: fast
// links: core
// Agreement statistics: Krippendorff's alpha against the values published for his worked
// examples, and the store's per-annotator agreement with the majority and with gold items.
#include <doctest/doctest.h>

#include <cmath>

#include "atelier/store.h"
#include "store_test_util.h"

using namespace atelier;
using store_test::picture;
using store_test::TempDir;

namespace {
// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
// 12 units, values 1..5, missing values left out. Published: nominal .743, interval .849.
std::vector<std::vector<double>> krippendorff_2011_units() {
    const double m = -1;   // missing
    const double a[4][12] = {{1, 2, 3, 3, 2, 1, 4, 1, 2, m, m, m},
                             {1, 2, 3, 3, 2, 2, 4, 1, 2, 5, m, 3},
                             {m, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, m},
                             {1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, m}};
    std::vector<std::vector<double>> units(12);
    for (int u = 0; u < 12; ++u)
        for (int o = 0; o < 4; ++o)
            if (a[o][u] != m) units[size_t(u)].push_back(a[o][u]);
    return units;
}
}  // namespace

TEST_CASE("Krippendorff's alpha reproduces the published worked examples") {
    const auto units = krippendorff_2011_units();
    CHECK(krippendorff_alpha(units, AlphaLevel::nominal) == doctest::Approx(0.743).epsilon(0.0007));
    CHECK(krippendorff_alpha(units, AlphaLevel::interval) == doctest::Approx(0.849).epsilon(0.0007));

    // Krippendorff (2004), Content Analysis, 2nd ed., binary data, 2 coders x 10 units: alpha = 0.095.
    const double a[10] = {0, 1, 0, 0, 0, 0, 0, 0, 1, 0};
    const double b[10] = {1, 1, 1, 0, 0, 1, 0, 0, 0, 0};
    std::vector<std::vector<double>> binary;
    for (int i = 0; i < 10; ++i) binary.push_back({a[i], b[i]});
    CHECK(krippendorff_alpha(binary, AlphaLevel::nominal) == doctest::Approx(0.095).epsilon(0.001));

    // Perfect agreement is 1; single-value units are not pairable; no variation is undefined.
    CHECK(krippendorff_alpha({{1, 1}, {2, 2, 2}, {3}}, AlphaLevel::nominal) == doctest::Approx(1.0));
    CHECK(std::isnan(krippendorff_alpha({{1, 1}, {1, 1}}, AlphaLevel::nominal)));
    CHECK(std::isnan(krippendorff_alpha({{1}, {2}}, AlphaLevel::interval)));
}

TEST_CASE("store agreement: alpha over queue judgements, majority and gold per annotator") {
    TempDir dir("store-agreement");
    StoreOptions o;
    o.data_dir = dir.str();
    auto store = Store::open(o);
    std::vector<Profile> people;
    for (const char* name : {"a", "b", "c"}) people.push_back(store->create_profile(name, "annotator"));
    std::vector<int64_t> assets;
    for (int i = 0; i < 8; ++i) assets.push_back(store->import_asset(picture(i)).id);
    std::vector<QueuePairInput> pairs;
    for (int i = 0; i < 4; ++i) pairs.push_back({assets[size_t(2 * i)], assets[size_t(2 * i + 1)], "p" + std::to_string(i)});
    pairs.push_back({assets[0], assets[7], "gold", Choice::right});
    const int64_t q = store->create_queue("q", people[0].id, pairs, /*overlap=*/3);

    // Rows: item -> choice of a, b, c (strength 2 for left/right).
    const Choice L = Choice::left, R = Choice::right, T = Choice::tie, S = Choice::skip;
    const Choice table[5][3] = {{L, L, L}, {R, R, L}, {L, T, L}, {R, R, S}, {R, R, L}};
    const int64_t t0 = 1'700'000'000'000;
    for (int person = 0; person < 3; ++person)
        for (int item = 0; item < 5; ++item) {
            auto pair = store->next_pair(q, people[size_t(person)].id);
            REQUIRE(pair.has_value());
            Judgement j;
            j.annotator_id = people[size_t(person)].id;
            j.queue_item_id = pair->item_id;
            j.choice = table[pair->position][person];
            j.strength = (j.choice == L || j.choice == R) ? 2 : 0;
            j.created_ms = t0 + person * 1'000'000 + item * 6'000;   // one every 6 s: 10 per minute
            store->record_judgement(j);
        }
    const AgreementStats stats = store->agreement(q);
    // Expected nominal alpha from the same units (skips excluded), via the tested function.
    const double l = 1, r = 2, t = 3;
    const std::vector<std::vector<double>> units = {{l, l, l}, {r, r, l}, {l, t, l}, {r, r}, {r, r, l}};
    CHECK(stats.alpha_choice == doctest::Approx(krippendorff_alpha(units, AlphaLevel::nominal)));
    CHECK(stats.items == 5);
    // Signed strength: left -2, right +2, tie 0.
    const std::vector<std::vector<double>> strengths = {{-2, -2, -2}, {2, 2, -2}, {-2, 0, -2}, {2, 2}, {2, 2, -2}};
    CHECK(stats.alpha_strength == doctest::Approx(krippendorff_alpha(strengths, AlphaLevel::interval)));
    REQUIRE(stats.annotators.size() == 3);
    const AnnotatorAgreement& a = stats.annotators[0];
    const AnnotatorAgreement& c = stats.annotators[2];
    CHECK(a.name == "a");
    CHECK(a.judgements == 5);
    // a: majority of the others (b, c) exists on items 0 (L,L), 1? (R,L no), 2 (T,L no), 3 (R only: <2), 4 (R,L no) -> 1 of 1.
    CHECK(a.majority_items == 1);
    CHECK(a.with_majority == doctest::Approx(1.0));
    // c: others (a, b): item0 L,L; item1 R,R; item2 L,T no; item3 skipped by c; item4 R,R -> c agreed on 1 of 3.
    CHECK(c.majority_items == 3);
    CHECK(c.with_majority == doctest::Approx(1.0 / 3.0));
    CHECK(c.decided == 4);
    CHECK(a.gold_items == 1);
    CHECK(a.with_gold == doctest::Approx(1.0));
    CHECK(c.gold_items == 1);
    CHECK(c.with_gold == doctest::Approx(0.0));
    CHECK(a.judgements_per_minute == doctest::Approx(10.0));
    // Undoing a judgement removes it from the statistics.
    store->undo_last_judgement(people[2].id, q);
    CHECK(store->agreement(q).annotators[2].judgements == 4);
}
