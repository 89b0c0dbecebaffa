// labels: fast
// links: core
#include <doctest/doctest.h>

#include "atelier/prompt_rules.h"

using atelier::MemoryEntry;

static MemoryEntry entry(int64_t id, const std::string& kind, const std::string& text, double weight = 1.0,
                         bool active = true) {
    MemoryEntry e;
    e.id = id;
    e.kind = kind;
    e.text = text;
    e.weight = weight;
    e.active = active;
    return e;
}

TEST_CASE("memory rules add likes to the prompt and dislikes to the negative prompt") {
    const auto result = atelier::apply_memory_rules(
        "a red star", "",
        {entry(1, "like", "warm colours"), entry(2, "dislike", "stripes"), entry(3, "rule", "avoid clutter", 2.0),
         entry(4, "style", "soft shadow", 0.5), entry(5, "concept", "my mug is blue")});
    CHECK(result.prompt == "a red star, warm colours, soft shadow");
    CHECK(result.negative_prompt == "clutter, stripes");
    CHECK(result.applied_entry_ids == std::vector<int64_t>{3, 1, 2, 4});
    CHECK(result.applied_texts == std::vector<std::string>{"-clutter", "+warm colours", "-stripes", "+soft shadow"});
}

TEST_CASE("inactive, deleted, zero-weight and already-present entries change nothing") {
    MemoryEntry deleted = entry(3, "like", "grainy");
    deleted.deleted = true;
    const auto result = atelier::apply_memory_rules(
        "Warm Colours everywhere", "blurry",
        {entry(1, "like", "warm colours"), entry(2, "like", "outlined", 1.0, false), deleted,
         entry(4, "like", "dots", 0.0), entry(5, "rule", "no blurry")});
    CHECK(result.prompt == "Warm Colours everywhere");
    CHECK(result.negative_prompt == "blurry");
    CHECK(result.applied_entry_ids.empty());
}
