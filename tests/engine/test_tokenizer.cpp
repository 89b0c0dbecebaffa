// labels: fast
// links: core
// The CLIP tokenizer against transformers v4.35's CLIPTokenizer: the fixture's token ids, and hand cases
// whose expected ids were produced by a Python mirror of transformers' code (regex module, unicodedata).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "atelier/error.h"
#include "atelier/system.h"
#include "io/safetensors.h"
#include "text/clip_tokenizer.h"

using namespace atelier;
using Ids = std::vector<int64_t>;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;

const ClipTokenizer& tokenizer() {
    static const ClipTokenizer tok = ClipTokenizer::from_dir(kFixtures + "/tiny-sd-a/tokenizer");
    return tok;
}

Ids ids_of(const TensorView& view, int64_t row = 0, int64_t length = -1) {
    REQUIRE(view.dtype == DType::I64);
    const int64_t n = length >= 0 ? length : view.numel();
    const auto* p = reinterpret_cast<const int64_t*>(view.data) + row * n;
    return Ids(p, p + n);
}

Ids wrap(Ids tokens) {
    tokens.insert(tokens.begin(), 49406);
    tokens.push_back(49407);
    return tokens;
}

}  // namespace

TEST_CASE("fixture token ids: tokenizer.input_ids and tokenizer.untruncated_ids") {
    const auto ref = SafetensorsFile::open(kFixtures + "/tiny-sd-a-reference.safetensors");
    const auto prompts = nlohmann::json::parse(ref->metadata().at("prompts")).get<std::vector<std::string>>();
    REQUIRE(prompts.size() == 3);
    CHECK(prompts[0] == "a photo of a cat");

    const TensorView& padded = ref->at("tokenizer.input_ids");
    REQUIRE(padded.shape == std::vector<int64_t>{3, 77});
    for (int i = 0; i < 3; ++i) {
        CAPTURE(prompts[i]);
        const Ids expected_full = ids_of(ref->at("tokenizer.untruncated_ids." + std::to_string(i)));
        CHECK(tokenizer().encode(prompts[i]) == expected_full);
        CHECK(tokenizer().encode_padded(prompts[i]) == ids_of(padded, i, 77));
    }
    CHECK(ref->at("tokenizer.untruncated_ids.2").shape == std::vector<int64_t>{80});  // really truncated
    CHECK(tokenizer().encode_padded("") == ids_of(ref->at("pipeline.negative_prompt_ids")));
}

TEST_CASE("the README example and special ids") {
    CHECK(tokenizer().encode("a photo of a cat") == Ids{49406, 320, 1125, 539, 320, 2368, 49407});
    CHECK(tokenizer().bos_id() == 49406);
    CHECK(tokenizer().eos_id() == 49407);
    CHECK(tokenizer().pad_id() == 49407);
    CHECK(tokenizer().vocab_size() == 49408);
    CHECK(tokenizer().token_id("cat</w>") == 2368);
    CHECK_FALSE(tokenizer().token_id("no such token").has_value());
    CHECK(tokenizer().id_to_token(2368) == "cat</w>");
}

TEST_CASE("hand cases: apostrophes, digits, punctuation, unicode, whitespace") {
    // Contractions split off ('t, 'll, 's, 're, case-insensitively); other apostrophes stand alone.
    CHECK(tokenizer().encode("don't you'll it's rock'n'roll WE'RE") ==
          wrap({847, 713, 592, 1342, 585, 568, 2172, 262, 333, 262, 3341, 649, 982}));
    // Numbers: one token per digit.
    CHECK(tokenizer().encode("1234 3.14 8k 2nd") == wrap({272, 273, 274, 275, 274, 269, 272, 275, 279, 330, 273, 1764}));
    // Accents, Greek final sigma after lower-casing, CJK split per ideograph, the "fi" ligature.
    CHECK(tokenizer().encode("Café naïve Ωmega ΑΣ 東京 ﬁre") ==
          wrap({15304, 1097, 35689, 563, 139, 231, 9068, 138, 109, 139, 480, 27667, 365, 21078, 361, 171, 105, 223, 810}));
    // NFC: a decomposed accent equals the precomposed one.
    CHECK(tokenizer().encode("cafe\u0301") == wrap({15304}));
    CHECK(tokenizer().encode("café") == wrap({15304}));
    // Whitespace clean-up: tabs, newlines, no-break space collapse; control characters vanish.
    CHECK(tokenizer().encode("  a\t\nphoto\u00a0of\x07 a cat  ") == tokenizer().encode("a photo of a cat"));
    // Runs of punctuation stay together; a literal special token in the text is that token.
    CHECK(tokenizer().encode("hello!!! (highly-detailed) <|endoftext|> ok") ==
          wrap({3306, 995, 263, 5302, 268, 12609, 264, 49407, 2481}));
    CHECK(tokenizer().encode("🙂 👍🏽") == wrap({14860, 43722}));
    CHECK(tokenizer().encode("") == Ids{49406, 49407});
    // Invalid UTF-8 does not throw (bad bytes are dropped like U+FFFD).
    CHECK(tokenizer().encode("a \xff\xfe cat") == tokenizer().encode("a cat"));
}

TEST_CASE("padding and truncation") {
    const Ids short_ids = tokenizer().encode_padded("a photo of a cat", 10);
    CHECK(short_ids == Ids{49406, 320, 1125, 539, 320, 2368, 49407, 49407, 49407, 49407});
    std::string long_text;
    for (int i = 0; i < 100; ++i) long_text += "cat ";
    const Ids full = tokenizer().encode(long_text);
    CHECK(full.size() == 102);
    const Ids cut = tokenizer().encode_padded(long_text);
    REQUIRE(cut.size() == 77);
    CHECK(cut.front() == 49406);
    CHECK(cut[75] == 2368);
    CHECK(cut.back() == 49407);
    CHECK_THROWS_AS(tokenizer().encode_padded("x", 1), Error);
}

TEST_CASE("added tokens (textual inversion) are matched before BPE") {
    ClipTokenizer tok = tokenizer();  // a copy: the shared one stays unchanged
    CHECK(tok.encode("a <cat-toy> toy") == wrap({320, 283, 2368, 268, 5988, 285, 5988}));
    const int64_t id = tok.add_token("<cat-toy>");
    CHECK(id == 49408);
    CHECK(tok.vocab_size() == 49409);
    CHECK(tok.token_id("<cat-toy>") == 49408);
    CHECK(tok.add_token("<cat-toy>") == 49408);  // idempotent
    CHECK(tok.encode("a <cat-toy> toy") == wrap({320, 49408, 5988}));
    // Matched inside words too, case-sensitively, like transformers' added-token trie.
    CHECK(tok.encode("a<cat-toy>s on the <CAT-TOY>") == wrap({320, 49408, 338, 525, 518, 283, 2368, 268, 5988, 285}));
    CHECK(tokenizer().vocab_size() == 49408);
    CHECK(tok.encode_padded("<cat-toy>")[1] == 49408);
}

TEST_CASE("the shipped vocabulary is the fixture's") {
    const std::string dir = clip_vocab_dir();
    REQUIRE_FALSE(dir.empty());
    const ClipTokenizer shipped = ClipTokenizer::from_dir(dir);
    CHECK(shipped.vocab_size() == 49408);
    CHECK(shipped.encode("A Photo of an ASTRONAUT, riding a horse on Mars!!! (highly-detailed, 8k)") ==
          tokenizer().encode("A Photo of an ASTRONAUT, riding a horse on Mars!!! (highly-detailed, 8k)"));
}

TEST_CASE("bad vocabulary files are clear errors") {
    try {
        ClipTokenizer::from_files(kFixtures + "/nope/vocab.json", kFixtures + "/tiny-sd-a/tokenizer/merges.txt");
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("nope/vocab.json") != std::string::npos);
    }
    // merges.txt is not JSON
    CHECK_THROWS_AS(ClipTokenizer::from_files(kFixtures + "/tiny-sd-a/tokenizer/merges.txt",
                                              kFixtures + "/tiny-sd-a/tokenizer/merges.txt"),
                    Error);
}
