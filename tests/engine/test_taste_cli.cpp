// labels: fast
// links: core
// atelier-cli taste on a store: a simulated person's judgements -> fit (saved record) -> show -> predict ->
// next-pair -> rank -> learn-memory (entries written as the learner, the person's entry respected), with the
// picture statistics; then the default feature set, the shipped world encoder, writes the world's words.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "atelier/store.h"
#include "engine/store_test_util.h"

namespace {

const std::string kCli = ATELIER_CLI_PATH;

struct Run {
    int code = -1;
    std::string output;
};

Run run(const std::string& dir, const std::string& args) {
    const std::string command = kCli + " --threads 1 --data-dir '" + dir + "' " + args + " 2>&1";
    Run r;
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.output.append(buffer.data(), n);
    const int status = pclose(pipe);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace

TEST_CASE("taste commands on a simulated profile") {
    store_test::TempDir dir("taste-cli");
    const std::string d = dir.str();

    Run r = run(d, "taste fit --features atelier-basic-v1 --profile nobody");
    CHECK(r.code != 0);
    CHECK(r.output.find("no profile named 'nobody'") != std::string::npos);

    r = run(d, "taste simulate --into-profile sim --judgements 240 --archetype 0 --seed 5");
    REQUIRE(r.code == 0);
    CHECK(r.output.find("240 simulated judgements") != std::string::npos);

    r = run(d, "taste show --features atelier-basic-v1 --profile sim");
    CHECK(r.code != 0);   // nothing fitted yet
    CHECK(r.output.find("taste fit") != std::string::npos);

    r = run(d, "taste fit --features atelier-basic-v1 --profile sim");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("atelier-basic-v1") != std::string::npos);
    CHECK(r.output.find("saved reward model") != std::string::npos);

    atelier::StoreOptions so;
    so.data_dir = d;
    {
        auto store = atelier::Store::open(so);
        const auto profile = store->find_profile("sim");
        REQUIRE(profile);
        const auto record = store->latest_reward_model(profile->id);
        REQUIRE(record);
        CHECK(record->feature_set == "atelier-basic-v1");
        CHECK(record->label_count >= 200);           // ties included, skips none
        CHECK(record->heldout_accuracy > 0.55);       // better than chance on its own held-out choices
        CHECK_FALSE(record->parameters.empty());
    }

    r = run(d, "taste show --features atelier-basic-v1 --profile sim");
    REQUIRE(r.code == 0);
    CHECK(r.output.find("held-out accuracy") != std::string::npos);
    CHECK(r.output.find("subject_warmth") != std::string::npos);

    r = run(d, "taste predict --features atelier-basic-v1 --profile sim 1 2");
    REQUIRE(r.code == 0);
    double p1 = -1, pt = -1, p2 = -1;
    const size_t a = r.output.find("P(first)"), t = r.output.find("P(tie)"), b = r.output.find("P(second)");
    REQUIRE(a != std::string::npos);
    REQUIRE(t != std::string::npos);
    REQUIRE(b != std::string::npos);
    p1 = std::stod(r.output.substr(a + 9));
    pt = std::stod(r.output.substr(t + 7));
    p2 = std::stod(r.output.substr(b + 10));
    CHECK(p1 + pt + p2 == doctest::Approx(1.0).epsilon(0.003));

    r = run(d, "taste next-pair --features atelier-basic-v1 --profile sim --epsilon 0 1 2 3 4 5 6");
    REQUIRE(r.code == 0);
    CHECK(r.output.find("score") != std::string::npos);
    const Run again = run(d, "taste next-pair --features atelier-basic-v1 --profile sim --epsilon 0 1 2 3 4 5 6");
    CHECK(again.output == r.output);   // deterministic

    r = run(d, "taste rank --features atelier-basic-v1 --profile sim 1 2 3 4");
    REQUIRE(r.code == 0);
    CHECK(r.output.find("P(best)") != std::string::npos);

    // The person's own entry about a direction is kept; the learner writes its entries once.
    r = run(d, "taste learn-memory --features atelier-basic-v1 --profile sim --min-z 2 --dry-run");
    REQUIRE(r.code == 0);
    const size_t add = r.output.find("would add      ");
    REQUIRE(add != std::string::npos);
    const std::string description = r.output.substr(add + 15, r.output.find(" (", add) - add - 15);
    MESSAGE("the person writes: " << description);
    {
        auto store = atelier::Store::open(so);
        atelier::MemoryFilter f;
        f.profile_id = store->find_profile("sim")->id;
        CHECK(store->list_memory(f).empty());   // a dry run writes nothing
        atelier::MemoryEntry mine;
        mine.profile_id = f.profile_id;
        mine.kind = description.rfind("dislikes", 0) == 0 ? "dislike" : "like";
        mine.text = description;
        mine.weight = 0.3;
        store->add_memory(mine, atelier::Actor::user);
    }
    r = run(d, "taste learn-memory --features atelier-basic-v1 --profile sim --min-z 2");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("yours    " + description) != std::string::npos);
    const Run second = run(d, "taste learn-memory --features atelier-basic-v1 --profile sim --min-z 2");
    CHECK(second.output.find("add ") == std::string::npos);   // nothing new the second time
    {
        auto store = atelier::Store::open(so);
        atelier::MemoryFilter f;
        f.profile_id = store->find_profile("sim")->id;
        int learned = 0, mine = 0;
        for (const atelier::MemoryEntry& e : store->list_memory(f)) {
            if (e.source == "learned") ++learned;
            if (e.source == "user") {
                ++mine;
                CHECK(e.weight == 0.3);
            }
        }
        CHECK(mine == 1);
        CHECK(learned >= 1);
    }
}

TEST_CASE("taste with the default features: the world encoder learns in the world's words") {
    store_test::TempDir dir("taste-cli-world");
    const std::string d = dir.str();
    // Archetype 0: warm object colours, one object, no stripes or checkerboards.
    Run r = run(d, "taste simulate --into-profile sim --judgements 300 --archetype 0 --seed 9");
    REQUIRE(r.code == 0);
    r = run(d, "taste fit --profile sim");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("world-attributes-v1") != std::string::npos);
    r = run(d, "taste learn-memory --profile sim --min-z 2 --dry-run");
    INFO(r.output);
    REQUIRE(r.code == 0);
    // What it would write speaks of what this person cares about, in words the embedded model draws.
    int hits = 0;
    for (const char* expected : {"dislikes stripes", "dislikes striped", "dislikes checkered", "likes a single object",
                                 "dislikes three objects", "likes red objects", "likes orange objects",
                                 "likes yellow objects", "likes pink objects", "dislikes blue objects",
                                 "dislikes green objects", "dislikes cyan objects", "dislikes purple objects"})
        hits += r.output.find(expected) != std::string::npos;
    CHECK(hits >= 2);
    CHECK(r.output.find("add      likes blue objects") == std::string::npos);
    r = run(d, "taste fit --profile sim --features clip-vision-v9");
    CHECK(r.code != 0);
    CHECK(r.output.find("no feature set 'clip-vision-v9'") != std::string::npos);
}
