// labels: fast
// links: core
// The caption rule of concept enrollment (PICTURE.txt files, the Concepts page): the concept written as {} or
// as its token, surrounding whitespace dropped, a caption without the concept refused by name.
#include <doctest/doctest.h>

#include "atelier/concepts.h"
#include "atelier/error.h"

using atelier::concept_caption;

TEST_CASE("concept captions: {} or the token marks the concept; anything else is refused") {
    CHECK(concept_caption("a {} on a plain white background", "<my-mug>") == "a {} on a plain white background");
    CHECK(concept_caption("  a red <my-mug> on a table\n", "<my-mug>") == "a red {} on a table");
    // Only the first mention becomes the placeholder; a second stays as written.
    CHECK(concept_caption("<my-mug> beside <my-mug>", "<my-mug>") == "{} beside <my-mug>");
    // {} wins over the token when both are there.
    CHECK(concept_caption("{} and <my-mug>", "<my-mug>") == "{} and <my-mug>");
    CHECK_THROWS_WITH_AS(concept_caption("a mug on a table", "<my-mug>"),
                         doctest::Contains("\"a mug on a table\" names neither {} nor the token <my-mug>"),
                         atelier::Error);
    CHECK_THROWS_AS(concept_caption("   ", "<my-mug>"), atelier::Error);
    CHECK_THROWS_AS(concept_caption("a mug", ""), atelier::Error);
}
