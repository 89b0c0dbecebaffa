// labels: fast
// links: core
// The safetensors reader/writer: round trips of every dtype, and every malformed file rejected with an
// error naming the file and the tensor/field.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "atelier/error.h"
#include "io/safetensors.h"
#include "temp_dir.h"

using namespace atelier;
namespace fs = std::filesystem;

namespace {

// A file with the given header text (not padded) followed by `data_bytes` bytes of data.
std::string write_raw(const TempDir& dir, const std::string& name, const std::string& header, size_t data_bytes,
                      int64_t header_len_override = -1) {
    const std::string path = (dir / name);
    std::ofstream out(path, std::ios::binary);
    const uint64_t len = header_len_override >= 0 ? static_cast<uint64_t>(header_len_override) : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xFF));
    out << header;
    out << std::string(data_bytes, '\x01');
    return path;
}

// Asserts that opening `path` throws an Error whose message contains the file path and every `needle`.
void expect_error(const std::string& path, const std::vector<std::string>& needles) {
    std::string message;
    try {
        SafetensorsFile::open(path);
    } catch (const Error& e) {
        message = e.what();
    }
    INFO("message: " << message);
    REQUIRE_FALSE(message.empty());
    CHECK(message.find(path) != std::string::npos);
    for (const auto& needle : needles) CHECK_MESSAGE(message.find(needle) != std::string::npos, needle);
}

}  // namespace

TEST_CASE("dtype names and sizes") {
    CHECK(dtype_size(DType::F32) == 4);
    CHECK(dtype_size(DType::BF16) == 2);
    CHECK(dtype_size(DType::I64) == 8);
    CHECK(dtype_size(DType::BOOL) == 1);
    CHECK(std::string(dtype_name(DType::F16)) == "F16");
    CHECK(parse_dtype("U8") == DType::U8);
    CHECK_THROWS_AS(parse_dtype("F8_E4M3"), Error);
    CHECK(std::string(dtype_name(static_cast<DType>(0))) == "INVALID");
}

TEST_CASE("round trip of every dtype, with metadata and a scalar and an empty tensor") {
    TempDir dir;
    const std::vector<DType> all = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64,
                                    DType::I32, DType::I16, DType::I8,   DType::U8,  DType::BOOL};
    std::vector<std::vector<uint8_t>> storage;
    std::vector<TensorView> views;
    for (size_t k = 0; k < all.size(); ++k) {
        TensorView v;
        v.name = std::string("t.") + dtype_name(all[k]);
        v.dtype = all[k];
        v.shape = {2, static_cast<int64_t>(k + 1)};
        std::vector<uint8_t> bytes(static_cast<size_t>(v.numel()) * dtype_size(all[k]));
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(all[k] == DType::BOOL ? i % 2 : i * 7 + k);
        v.size_bytes = bytes.size();
        storage.push_back(bytes);
        views.push_back(v);
    }
    TensorView scalar{"scalar", DType::F32, {}, nullptr, 4};
    const float pi = 3.14159f;
    storage.emplace_back(reinterpret_cast<const uint8_t*>(&pi), reinterpret_cast<const uint8_t*>(&pi) + 4);
    views.push_back(scalar);
    TensorView empty{"empty", DType::I64, {0, 3}, nullptr, 0};
    storage.emplace_back();
    views.push_back(empty);
    for (size_t i = 0; i < views.size(); ++i) views[i].data = storage[i].data();

    const std::string path = (dir / "all.safetensors");
    write_safetensors(path, views, {{"format", "pt"}, {"note", "ünïcode ✓"}});

    // Standard layout: the header length is a multiple of 8 and the data follows it.
    {
        std::ifstream in(path, std::ios::binary);
        uint8_t len_bytes[8];
        in.read(reinterpret_cast<char*>(len_bytes), 8);
        uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
        CHECK(len % 8 == 0);
        std::string header(len, '\0');
        in.read(header.data(), static_cast<std::streamsize>(len));
        CHECK(header.front() == '{');
        CHECK(header.find("__metadata__") != std::string::npos);
    }

    const auto file = SafetensorsFile::open(path);
    CHECK(file->path() == path);
    REQUIRE(file->tensors().size() == views.size());
    CHECK(file->metadata().at("format") == "pt");
    CHECK(file->metadata().at("note") == "ünïcode ✓");
    for (size_t i = 0; i < views.size(); ++i) {
        const TensorView& got = file->at(views[i].name);
        CHECK(got.dtype == views[i].dtype);
        CHECK(got.shape == views[i].shape);
        REQUIRE(got.size_bytes == storage[i].size());
        CHECK(std::memcmp(got.data, storage[i].data(), got.size_bytes) == 0);
    }
    CHECK(file->find("missing") == nullptr);
    try {
        file->at("missing");
        FAIL("at() did not throw");
    } catch (const Error& e) {
        const std::string m = e.what();
        CHECK(m.find(path) != std::string::npos);
        CHECK(m.find("missing") != std::string::npos);
    }
}

TEST_CASE("the writer rejects inconsistent input") {
    TempDir dir;
    const float x[2] = {1, 2};
    const auto* p = reinterpret_cast<const uint8_t*>(x);
    CHECK_THROWS_AS(write_safetensors((dir / "a"), {{"a", DType::F32, {3}, p, 8}}), Error);  // 3 x 4 != 8
    CHECK_THROWS_AS(write_safetensors((dir / "b"), {{"a", DType::F32, {2}, p, 8}, {"a", DType::F32, {2}, p, 8}}),
                    Error);  // duplicate
    CHECK_FALSE(fs::exists((dir / "a")));
}

TEST_CASE("malformed files are rejected, naming the file and the tensor or field") {
    TempDir dir;
    SUBCASE("missing file") { expect_error((dir / "nope.safetensors"), {"cannot open"}); }
    SUBCASE("truncated below 8 bytes") {
        const std::string path = (dir / "short.safetensors");
        std::ofstream(path, std::ios::binary) << "abc";
        expect_error(path, {"truncated", "3 bytes", "at least 8"});
    }
    SUBCASE("header length beyond the file") {
        const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
        expect_error(write_raw(dir, "long.safetensors", header, 4, 100000), {"header length 100000", "end of the file"});
    }
    SUBCASE("truncated data (file cut after the header)") {
        const std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
        expect_error(write_raw(dir, "cut.safetensors", header, 10), {"tensor \"w\"", "data_offsets", "outside the data area of 10 bytes"});
    }
    SUBCASE("invalid JSON") {
        expect_error(write_raw(dir, "json.safetensors", R"({"a": {"dtype": "F32", )", 0), {"not valid JSON"});
    }
    SUBCASE("header not an object") {
        expect_error(write_raw(dir, "arr.safetensors", "[1,2]", 0), {"expected a JSON object"});
    }
    SUBCASE("unknown dtype") {
        const std::string header = R"({"weird":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}})";
        expect_error(write_raw(dir, "dtype.safetensors", header, 1), {"tensor \"weird\"", "unknown dtype \"F7\""});
    }
    SUBCASE("missing field") {
        const std::string header = R"({"nofs":{"dtype":"F32","shape":[1]}})";
        expect_error(write_raw(dir, "field.safetensors", header, 4), {"tensor \"nofs\"", "missing field \"data_offsets\""});
    }
    SUBCASE("offsets outside the data area") {
        const std::string header = R"({"far":{"dtype":"U8","shape":[4],"data_offsets":[100,104]}})";
        expect_error(write_raw(dir, "far.safetensors", header, 8), {"tensor \"far\"", "[100, 104]", "outside the data area of 8 bytes"});
    }
    SUBCASE("begin after end") {
        const std::string header = R"({"rev":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})";
        expect_error(write_raw(dir, "rev.safetensors", header, 8), {"tensor \"rev\"", "begin 4 > end 0"});
    }
    SUBCASE("negative offsets") {
        const std::string header = R"({"neg":{"dtype":"U8","shape":[4],"data_offsets":[-4,0]}})";
        expect_error(write_raw(dir, "nego.safetensors", header, 8), {"tensor \"neg\"", "data_offsets"});
    }
    SUBCASE("overlapping tensors") {
        const std::string header = R"({"first":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("second":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
        expect_error(write_raw(dir, "overlap.safetensors", header, 12), {"\"second\"", "overlaps", "\"first\""});
    }
    SUBCASE("byte length != product(shape) x dtype size") {
        const std::string header = R"({"size":{"dtype":"F16","shape":[3,2],"data_offsets":[0,8]}})";
        expect_error(write_raw(dir, "size.safetensors", header, 8),
                     {"tensor \"size\"", "byte length 8", "[3, 2]", "F16", "= 12 bytes"});
    }
    SUBCASE("shape overflowing the byte size") {
        const std::string header =
            R"({"huge":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})";
        expect_error(write_raw(dir, "huge.safetensors", header, 0), {"tensor \"huge\"", "overflows"});
    }
    SUBCASE("negative shape") {
        const std::string header = R"({"negshape":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,0]}})";
        expect_error(write_raw(dir, "negshape.safetensors", header, 0), {"tensor \"negshape\"", "negative dimension -1"});
    }
    SUBCASE("metadata that is not string to string") {
        const std::string header = R"({"__metadata__":{"steps":4}})";
        expect_error(write_raw(dir, "meta.safetensors", header, 0), {"__metadata__", "\"steps\"", "expected a string"});
    }
}

TEST_CASE("the fixture files read") {
    const std::string fixtures = ATELIER_FIXTURES_DIR;
    const auto reference = SafetensorsFile::open(fixtures + "/tiny-sd-a-reference.safetensors");
    CHECK(reference->tensors().size() == 30);
    const TensorView& ids = reference->at("tokenizer.input_ids");
    CHECK(ids.dtype == DType::I64);
    CHECK(ids.shape == std::vector<int64_t>{3, 77});
    const auto* first = reinterpret_cast<const int64_t*>(ids.data);
    CHECK(first[0] == 49406);
    CHECK(first[1] == 320);  // "a"
    CHECK(reference->at("text_encoder.last_hidden_state").shape == std::vector<int64_t>{3, 77, 32});
    CHECK(reference->metadata().at("scheduler") == "DDIMScheduler");

    const auto te = SafetensorsFile::open(fixtures + "/tiny-sd-a/text_encoder/model.safetensors");
    CHECK(te->tensors().size() == 36);
    CHECK(te->at("text_model.embeddings.token_embedding.weight").shape == std::vector<int64_t>{49408, 32});
    CHECK(te->metadata().at("format") == "pt");

    const auto original = SafetensorsFile::open(fixtures + "/tiny-sd-a-original.safetensors");
    CHECK(original->tensors().size() == 497);
    CHECK(original->at("cond_stage_model.transformer.text_model.embeddings.position_ids").dtype == DType::I64);
}
