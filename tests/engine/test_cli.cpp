// labels: fast
// links: core
// atelier-cli inspect / generate on the TINY-A fixture: PNG + parameters chunk, --from-png reproduces the
// pixels, --init-latents/--save-latents give diffusers' final latents, bad input exits non-zero.
// Memory rules from the CLI: the default profile, and generate --profile.
#include <doctest/doctest.h>

#include "engine/cli_test_util.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <unistd.h>

#include "atelier/engine.h"
#include "atelier/error.h"
#include "atelier/image.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;
const std::string kCli = ATELIER_CLI_PATH;

double relative_l2(const std::vector<float>& a, const std::vector<float>& ref) {
    REQUIRE(a.size() == ref.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
        den += double(ref[i]) * ref[i];
    }
    return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("inspect prints what was found") {
    const CliRun r = run_cli("inspect '" + kFixtures + "/tiny-sd-a'");
    CHECK(r.code == 0);
    CHECK(r.output.find("format        diffusers") != std::string::npos);
    CHECK(r.output.find("sampler       ddim") != std::string::npos);
    CHECK(r.output.find("default size  64x64") != std::string::npos);
    CHECK(r.output.find("UNet 1,") != std::string::npos);
    const CliRun bad = run_cli("inspect /nonexistent/tiny");
    CHECK(bad.code != 0);
    CHECK(bad.output.find("/nonexistent/tiny") != std::string::npos);
}

TEST_CASE("generate writes PNGs with A1111 parameters; --from-png reproduces the same pixels") {
    TempDir dir;
    const std::string model = kFixtures + "/tiny-sd-a";
    const CliRun r = run_cli("generate --model '" + model + "' --prompt 'a photo of a cat' --negative 'blurry' --steps 3 "
                      "--sampler euler_a --seed 11 --batch 2 --guidance 6 -o '" + (dir / "cat.png") + "'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("step 3/3") != std::string::npos);  // the progress bar on stderr
    REQUIRE(fs::exists(dir / "cat-0.png"));
    REQUIRE(fs::exists(dir / "cat-1.png"));
    const atelier::Image image = atelier::read_image(dir / "cat-1.png");
    CHECK(image.width == 64);
    CHECK(image.height == 64);
    const auto text = atelier::read_png_text(dir / "cat-1.png");
    REQUIRE(text.count("parameters"));
    const std::string& parameters = text.at("parameters");
    CHECK(parameters.rfind("a photo of a cat\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, CFG scale: 6, "
                           "Seed: 12, Size: 64x64, Model hash: ", 0) == 0);
    const atelier::GenerationParams p = atelier::parse_parameters(parameters);
    CHECK(p.seed == 12);
    CHECK(p.sampler == "euler_a");
    CHECK(p.model_name == "tiny-sd-a");

    const CliRun again = run_cli("generate --model '" + model + "' --from-png '" + (dir / "cat-1.png") + "' -o '" +
                          (dir / "again.png") + "'");
    INFO(again.output);
    REQUIRE(again.code == 0);
    // Regenerated alone, the batch's second picture comes back up to rounding (BLAS may round differently for
    // batch 1 and 2); another seed's would differ by far more than a level.
    const std::vector<uint8_t> again_pixels = atelier::read_image(dir / "again.png").pixels;
    REQUIRE(again_pixels.size() == image.pixels.size());
    int worst = 0;
    for (size_t k = 0; k < again_pixels.size(); ++k) worst = std::max(worst, std::abs(int(again_pixels[k]) - int(image.pixels[k])));
    CHECK(worst <= 1);
    CHECK(atelier::read_png_text(dir / "again.png").at("parameters") == parameters);

    // flags override the PNG's values
    const CliRun other = run_cli("generate --model '" + model + "' --from-png '" + (dir / "cat-1.png") + "' --seed 99 -o '" +
                          (dir / "other.png") + "'");
    REQUIRE(other.code == 0);
    CHECK(atelier::parse_parameters(atelier::read_png_text(dir / "other.png").at("parameters")).seed == 99);
    CHECK(atelier::read_image(dir / "other.png").pixels != image.pixels);
}

TEST_CASE("--init-latents / --save-latents reproduce diffusers' final latents") {
    TempDir dir;
    const atelier::FloatTensor init =
        atelier::read_tensor_file(kFixtures + "/tiny-sd-a-reference.safetensors", "pipeline.init_latents");
    atelier::write_tensor_file(dir / "init.safetensors", "latents", init);
    const CliRun r = run_cli("generate --model '" + kFixtures + "/tiny-sd-a' --prompt 'a photo of a cat' "
                      "--steps 4 --guidance 7.5 --width 64 --height 64 --init-latents '" + (dir / "init.safetensors") +
                      "' --save-latents '" + (dir / "final.safetensors") + "' -q -o '" + (dir / "x.png") + "'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    const atelier::FloatTensor final_latents = atelier::read_tensor_file(dir / "final.safetensors", "latents");
    const atelier::FloatTensor expected =
        atelier::read_tensor_file(kFixtures + "/tiny-sd-a-reference.safetensors", "pipeline.final_latents");
    CHECK((final_latents.shape == expected.shape));
    const double e = relative_l2(final_latents.data, expected.data);
    MESSAGE("CLI final latents vs diffusers: relative L2 " << e);
    CHECK(e < 1e-4);
}

TEST_CASE("bad input exits non-zero with a message") {
    TempDir dir;
    const std::string model = kFixtures + "/tiny-sd-a";
    CliRun r = run_cli("generate --model '" + model + "' --prompt x --width 60 -o '" + (dir / "x.png") + "'");
    CHECK(r.code != 0);
    CHECK(r.output.find("multiples of 8") != std::string::npos);
    r = run_cli("generate --model '" + model + "' --prompt x --sampler heun -o '" + (dir / "x.png") + "'");
    CHECK(r.code != 0);
    CHECK(r.output.find("heun") != std::string::npos);
    CHECK(!fs::exists(dir / "x.png"));
}

TEST_CASE("a device that is not there, or not a device, is refused by name before any work") {
    TempDir dir;
    for (const std::string& command :
         {"train-base --out '" + (dir / "tiny") + "' --vae-steps 1 --unet-steps 1 --device vulkan",
          "train-motion --base '" + kFixtures + "/tiny-sd-a' --out '" + (dir / "motion") + "' --steps 1 --device tpu",
          "generate --model '" + kFixtures + "/tiny-sd-a' --prompt x --device npu -o '" + (dir / "x.png") + "'"}) {
        CAPTURE(command);
        const CliRun r = run_cli(command);
        CHECK(r.code != 0);
        CHECK(r.output.find("is not supported (expected auto, cpu, cuda or cuda:N)") != std::string::npos);
    }
    CHECK(!fs::exists(dir / "x.png"));
    CHECK(!fs::exists(fs::path(dir / "motion") / "config.json"));
    if (run_cli("doctor").output.find("cuda:") == std::string::npos) {  // no GPU here: asking for one says so
        const CliRun r = run_cli("train-base --out '" + (dir / "tiny") + "' --vae-steps 1 --unet-steps 1 --device cuda");
        CHECK(r.code != 0);
        CHECK(r.output.find("no CUDA or no GPU is present") != std::string::npos);
        CHECK(!fs::exists(fs::path(dir / "tiny") / "vae" / "config.json"));
    }
}

TEST_CASE("train-base --only words|decoder: finishes a shipped model folder, once, and names what is missing") {
    TempDir dir;
    const fs::path model = fs::path(dir / "tiny");
    fs::copy(fs::path(ATELIER_SOURCE_DIR) / "resources" / "models" / "atelier-tiny", model, fs::copy_options::recursive);
    const fs::path text = model / "text_encoder" / "model.safetensors";
    auto bytes = [](const fs::path& p) {
        std::ifstream f(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(f), {});
    };
    const std::string before = bytes(text);
    CliRun r = run_cli("train-base --out '" + model.string() + "' --only words --words-steps 2 --words-batch 4");
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("words") != std::string::npos);
    CHECK(bytes(text) != before);   // the text encoder was trained ...
    CHECK(bytes(text).size() == before.size());   // ... and written in the same layout (float16)
    CHECK(fs::exists(model / "checkpoints" / "words.done"));
    const std::string after = bytes(text);
    r = run_cli("train-base --out '" + model.string() + "' --only words --words-steps 2 --words-batch 4");
    CHECK(r.code == 0);
    CHECK(bytes(text) == after);    // done once: a second run changes nothing
    const fs::path vae = model / "vae" / "diffusion_pytorch_model.safetensors";
    const std::string vae_before = bytes(vae);
    r = run_cli("train-base --out '" + model.string() + "' --only decoder --decoder-steps 2 --vae-batch 4");
    CHECK(r.code == 0);
    CHECK(bytes(vae) != vae_before);
    CHECK(bytes(vae).size() == vae_before.size());
    CHECK(bytes(text) == after);    // the decoder phase leaves the text encoder alone
    fs::remove_all(model / "unet");
    fs::remove(model / "checkpoints" / "words.done");
    r = run_cli("train-base --out '" + model.string() + "' --only words --words-steps 2 --words-batch 4");
    CHECK(r.code != 0);
    CHECK(r.output.find("unet") != std::string::npos);
    r = run_cli("train-base --out '" + model.string() + "' --only vae");
    CHECK(r.code != 0);
}

TEST_CASE("memory from the CLI: the default profile ($ATELIER_PROFILE), and generate --profile applies its rules") {
    TempDir dir;
    const std::string global = "--threads 1 --data-dir '" + (dir / "data") + "'";
    ::setenv("ATELIER_PROFILE", "ann", 1);
    CliRun r = run_cli("memory list", global);
    CHECK(r.code != 0);   // nobody yet: named, with the way out
    CHECK(r.output.find("no profile named 'ann'") != std::string::npos);
    CHECK(r.output.find("--profile") != std::string::npos);
    REQUIRE(run_cli("memory add --kind dislike stripes", global).code == 0);   // writing makes the profile
    REQUIRE(run_cli("memory add --kind like 'a plain background' --weight 2", global).code == 0);
    CHECK(run_cli("profiles list", global).output.find("ann") != std::string::npos);
    r = run_cli("memory list", global);
    CHECK(r.output.find("stripes") != std::string::npos);
    CHECK(r.output.find("a plain background") != std::string::npos);
    ::unsetenv("ATELIER_PROFILE");

    const std::string generate = "generate --prompt 'two red stars' --steps 2 ";
    r = run_cli(generate + "--profile ann -o '" + (dir / "rules.png") + "'", global);
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("memory adds: +a plain background; -stripes") != std::string::npos);   // by weight
    const std::string with_rules = atelier::read_png_text(dir / "rules.png").at("parameters");
    CHECK(with_rules.rfind("two red stars, a plain background\nNegative prompt: stripes\n", 0) == 0);
    REQUIRE(run_cli("memory edit 1 --active off", global).code == 0);
    REQUIRE(run_cli(generate + "--profile ann -q -o '" + (dir / "off.png") + "'", global).code == 0);
    CHECK(atelier::read_png_text(dir / "off.png").at("parameters").rfind("two red stars, a plain background\nSteps:", 0) == 0);
    REQUIRE(run_cli(generate + "-q -o '" + (dir / "plain.png") + "'", global).code == 0);   // no --profile: no rules
    CHECK(atelier::read_png_text(dir / "plain.png").at("parameters").rfind("two red stars\nSteps:", 0) == 0);
    r = run_cli(generate + "--profile nobody -o '" + (dir / "x.png") + "'", global);
    CHECK(r.code != 0);
    CHECK(r.output.find("no profile named 'nobody'") != std::string::npos);
    CHECK(!fs::exists(dir / "x.png"));
}
