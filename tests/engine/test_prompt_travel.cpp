// labels: fast
// links: core
// Prompt travel: the A1111 AnimateDiff extension's "FRAME: text" lines, the keyframes' prompts, the
// position of a frame between them, errors, and the memory rules on such a prompt.
#include <doctest/doctest.h>

#include "atelier/error.h"
#include "atelier/prompt_rules.h"
#include "atelier/prompt_travel.h"

using namespace atelier;

TEST_CASE("prompt travel: head, keyframes and tail make each keyframe's prompt") {
    const auto travel = parse_prompt_travel("a red star,\non a plain blue background\n0: on the right\n"
                                            "  8 : in the centre,\n15: on the left\n\noutlined");
    REQUIRE(travel);
    REQUIRE(travel->keyframes.size() == 3);
    CHECK(travel->keyframes[0].frame == 0);
    CHECK(travel->keyframes[0].prompt == "a red star, on a plain blue background, on the right, outlined");
    CHECK(travel->keyframes[1].frame == 8);
    CHECK(travel->keyframes[1].prompt == "a red star, on a plain blue background, in the centre, outlined");
    CHECK(travel->keyframes[2].frame == 15);
    CHECK(travel->keyframes[2].prompt == "a red star, on a plain blue background, on the left, outlined");

    const auto bare = parse_prompt_travel("4: a circle\n12: a square");
    REQUIRE(bare);
    CHECK(bare->keyframes[0].prompt == "a circle");
    CHECK(bare->keyframes[1].prompt == "a square");
    const auto empty_text = parse_prompt_travel("a star\n0: red\n5:");
    REQUIRE(empty_text);
    CHECK(empty_text->keyframes[1].prompt == "a star");
}

TEST_CASE("prompt travel: ordinary prompts are not travel") {
    CHECK_FALSE(parse_prompt_travel("two small red stars on a striped blue background"));
    CHECK_FALSE(parse_prompt_travel("a poster, 16:9 framing\n3 stars"));
    CHECK_FALSE(parse_prompt_travel(""));
    CHECK(first_frame_prompt("a red star") == "a red star");
    CHECK(first_frame_prompt("a star\n2: red\n9: blue") == "a star, red");
}

TEST_CASE("prompt travel: where a frame lies between the keyframes") {
    const auto travel = parse_prompt_travel("a star\n4: red\n8: blue\n15: green");
    REQUIRE(travel);
    auto at = [&](int frame) { return travel->at(frame); };
    // Before the first keyframe: its prompt.
    CHECK(at(0).before == 0);
    CHECK(at(0).after == 0);
    CHECK(at(0).t == 0.0);
    CHECK(at(4).before == 0);
    CHECK(at(4).t == 0.0);
    CHECK(at(5).before == 0);
    CHECK(at(5).after == 1);
    CHECK(at(5).t == doctest::Approx(0.25));
    CHECK(at(7).t == doctest::Approx(0.75));
    CHECK(at(8).before == 1);
    CHECK(at(8).t == 0.0);
    CHECK(at(10).before == 1);
    CHECK(at(10).after == 2);
    CHECK(at(10).t == doctest::Approx(2.0 / 7.0));
    // At and after the last keyframe: its prompt.
    CHECK(at(15).before == 2);
    CHECK(at(15).after == 2);
    CHECK(at(20).before == 2);
    CHECK(at(20).t == 0.0);
}

TEST_CASE("prompt travel: errors name the line") {
    auto message = [](const std::string& text) {
        try {
            parse_prompt_travel(text);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK(message("a star\n8: red\n4: blue").find("keyframe 4 comes after keyframe 8") != std::string::npos);
    CHECK(message("a star\n8: red\n8: blue").find("keyframe 8 comes after keyframe 8") != std::string::npos);
    CHECK(message("a star\n0: red\noutlined\n9: blue").find("\"9: blue\" comes after a tail line") != std::string::npos);
    CHECK(message("a star\n99999999: red").find("out of range") != std::string::npos);

    const auto travel = parse_prompt_travel("a star\n0: red\n16: blue");
    REQUIRE(travel);
    CHECK_NOTHROW(check_prompt_travel(*travel, 17));
    try {
        check_prompt_travel(*travel, 16);
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("keyframe 16 is beyond the clip's 16 frames") != std::string::npos);
    }
}

TEST_CASE("memory rules on a travel prompt reach every keyframe") {
    MemoryEntry like;
    like.id = 7;
    like.kind = "like";
    like.text = "soft shadow";
    like.weight = 1;
    // The last line is a keyframe: the phrase starts a tail.
    const auto ended_by_keyframe = apply_memory_rules("a star\n0: red\n15: blue", "", {like});
    CHECK(ended_by_keyframe.prompt == "a star\n0: red\n15: blue\nsoft shadow");
    const auto travel = parse_prompt_travel(ended_by_keyframe.prompt);
    REQUIRE(travel);
    CHECK(travel->keyframes[0].prompt == "a star, red, soft shadow");
    CHECK(travel->keyframes[1].prompt == "a star, blue, soft shadow");
    // A tail is there already: the phrase joins it.
    CHECK(apply_memory_rules("a star\n0: red\n15: blue\noutlined", "", {like}).prompt ==
          "a star\n0: red\n15: blue\noutlined, soft shadow");
    // Ordinary prompts as before.
    CHECK(apply_memory_rules("a star.", "", {like}).prompt == "a star, soft shadow");
}
