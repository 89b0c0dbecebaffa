// labels: fast
// AnimateDiff on TINY-A against diffusers v0.25.1 (fixtures tiny-animatediff-a): one motion module, the
// UNet with motion modules, every step of the text-to-video pipeline and the decoded frames, from the
// diffusers MotionAdapter folder and from the original AnimateDiff layout; errors on bad files.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include "engine/cli_test_util.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <sys/wait.h>
#include <fstream>
#include <unistd.h>

#include "atelier/concepts.h"
#include "atelier/engine.h"
#include "atelier/train_motion.h"
#include "atelier/video.h"
#include "atelier/error.h"
#include "atelier/image.h"
#include "models/motion_module.h"
#include "runtime/model_impl.h"
#include "runtime/tensors.h"
#include "sampling/pipeline.h"
#include "engine/test_device.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;
const std::string kAdapterDir = kFixtures + "/tiny-animatediff-a/motion-adapter";
const std::string kOriginal = kFixtures + "/tiny-animatediff-a/motion-module-original.safetensors";
constexpr double kTolerance = 1e-4;  // fixtures README: relative L2 per tensor

const TensorMap& reference() {
    static const TensorMap ref = load_tensors(kFixtures + "/tiny-animatediff-a/reference.safetensors");
    return ref;
}

std::shared_ptr<Model>& model() {
    static std::shared_ptr<Model> m = [] {
        LoadOptions options;
        options.path = kFixtures + "/tiny-sd-a";
        options.device = test_device();
        options.precision = "float32";
        return Model::load(options);
    }();
    return m;
}

std::string temp_path(const std::string& name) {
    static const TempDir dir("motion");
    return dir / name;
}

double rel(const at::Tensor& a, const at::Tensor& ref) { return relative_l2(a, ref); }

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("motion module: positional table and one module (diffusers and per-frame GroupNorm)") {
    const TensorMap& ref = reference();
    for (const std::string& path : {kAdapterDir, kOriginal}) {
        INFO(path);
        auto adapter = MotionAdapter::load(path, path == kOriginal ? 4 : 0);
        CHECK(adapter->config().block_out_channels == std::vector<int>{32, 64});
        CHECK(adapter->config().layers_per_block == 2);
        CHECK(adapter->config().mid_layers == 1);
        CHECK(adapter->config().max_frames == 32);
        const MotionModule& m = adapter->down[0][0];
        CHECK(rel(m.blocks[0].pe, ref.at("motion_module.pe")) < 1e-7);
        CHECK(rel(MotionModule::sinusoidal_table(32, 32), ref.at("motion_module.pe")) < 1e-6);
        const at::Tensor out = m.forward(ref.at("motion_module.input"), 8);
        const double e = rel(out, ref.at("motion_module.output"));
        MESSAGE("motion_module.output rel L2 " << e);
        CHECK(e < kTolerance);
        adapter->set_per_frame_groupnorm(true);
        const double e2 = rel(adapter->down[0][0].forward(ref.at("motion_module.input"), 8),
                              ref.at("motion_module.output_per_frame_groupnorm"));
        MESSAGE("motion_module.output_per_frame_groupnorm rel L2 " << e2);
        CHECK(e2 < kTolerance);
    }
}

TEST_CASE("UNet with motion modules: unet.out.t500 from both layouts, per-frame GroupNorm, no adapter") {
    const TensorMap& ref = reference();
    UNet2DCondition& unet = *model()->impl().unet;
    const at::Tensor sample = ref.at("unet.sample"), context = ref.at("unet.encoder_hidden_states");
    const at::Tensor t = ref.at("unet.timesteps");
    at::InferenceMode guard;
    unet.set_motion_adapter(nullptr);
    const double plain = rel(unet.forward(sample, t, context), ref.at("unet2d_per_frame.out.t500"));
    MESSAGE("unet2d_per_frame.out.t500 rel L2 " << plain);
    CHECK(plain < kTolerance);
    for (const std::string& path : {kAdapterDir, kOriginal}) {
        INFO(path);
        auto adapter = MotionAdapter::load(path, path == kOriginal ? 4 : 0);
        adapter->to(unet.device(), at::kFloat);
        unet.set_motion_adapter(adapter);
        const double e = rel(unet.forward(sample, t, context), ref.at("unet.out.t500"));
        MESSAGE("unet.out.t500 (" << fs::path(path).filename().string() << ") rel L2 " << e);
        CHECK(e < kTolerance);
        adapter->set_per_frame_groupnorm(true);
        const double e2 = rel(unet.forward(sample, t, context), ref.at("unet.out_per_frame_groupnorm.t500"));
        MESSAGE("unet.out_per_frame_groupnorm.t500 rel L2 " << e2);
        CHECK(e2 < kTolerance);
    }
    unet.set_motion_adapter(nullptr);
}

TEST_CASE("bad motion-module files give clear errors") {
    const std::string adapter_file = kAdapterDir + "/diffusion_pytorch_model.safetensors";
    SUBCASE("truncated") {
        const std::string path = temp_path("truncated.safetensors");
        std::ifstream in(adapter_file, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
        const std::string e = error_of([&] { MotionAdapter::load(path); });
        MESSAGE(e);
        CHECK(e.find(path) != std::string::npos);
        fs::remove(path);
    }
    SUBCASE("missing tensor") {
        TensorMap weights = load_tensors(adapter_file);
        weights.erase("up_blocks.1.motion_modules.2.proj_out.bias");
        const std::string path = temp_path("missing.safetensors");
        save_tensors(path, weights);
        const std::string e = error_of([&] { MotionAdapter::load(path); });
        MESSAGE(e);
        CHECK(e.find("missing tensor 'up_blocks.1.motion_modules.2.proj_out.bias'") != std::string::npos);
        CHECK(e.find("[32]") != std::string::npos);
        fs::remove(path);
    }
    SUBCASE("wrong channels for the UNet") {
        // Levels swapped (64 then 32 channels) and no mid module: a consistent adapter for another UNet.
        TensorMap weights;
        for (const auto& [name, t] : load_tensors(adapter_file)) {
            std::string n = name;
            if (n.rfind("mid_block.", 0) == 0) continue;
            for (const char* block : {"down_blocks.", "up_blocks."})
                if (n.rfind(block, 0) == 0) {
                    const size_t digit = std::string(block).size();
                    n[digit] = n[digit] == '0' ? '1' : '0';
                }
            weights[n] = t;
        }
        const std::string path = temp_path("swapped.safetensors");
        save_tensors(path, weights);
        auto adapter = MotionAdapter::load(path);
        CHECK(adapter->config().block_out_channels == std::vector<int>{64, 32});
        CHECK(adapter->config().mid_layers == 0);
        const std::string e = error_of([&] { model()->impl().unet->set_motion_adapter(adapter); });
        MESSAGE(e);
        CHECK(e.find("down_blocks.0.motion_modules.0.proj_in.weight") != std::string::npos);
        CHECK(e.find("[64, 64]") != std::string::npos);
        CHECK(e.find("[32, 32]") != std::string::npos);
        CHECK(model()->impl().unet->motion_adapter() == nullptr);
        fs::remove(path);
    }
    SUBCASE("not a motion module") {
        const std::string e = error_of([&] { MotionAdapter::load(kFixtures + "/tiny-sd-a/unet/diffusion_pytorch_model.safetensors"); });
        MESSAGE(e);
        CHECK(e.find("no motion modules found") != std::string::npos);
    }
}

namespace {

FloatTensor float_tensor(const at::Tensor& t) {
    const at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
    FloatTensor out;
    out.shape = c.sizes().vec();
    out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    return out;
}

GenerateRequest video_request() {
    GenerateRequest request;
    request.prompt = "a photo of a cat";
    request.negative_prompt = "";
    request.steps = 4;
    request.guidance = 7.5f;
    request.width = 64;
    request.height = 64;
    request.frames = 8;
    request.fps = 12;
    request.init_latents = float_tensor(reference().at("pipeline.init_latents"));
    return request;
}

}  // namespace

TEST_CASE("text-to-video pipeline: every step, final latents, decoded frames (both layouts)") {
    const TensorMap& ref = reference();
    for (const std::string& path : {kAdapterDir, kOriginal}) {
        INFO(path);
        model()->set_motion_module(path, path == kOriginal ? 4 : 0);
        CHECK(model()->info().motion_max_frames == 32);
        PipelineTrace trace;
        GenerateRequest request = video_request();
        request.keep_final_latents = true;
        int previews = 0;
        request.on_preview = [&](int, const Image& preview) {
            ++previews;
            CHECK(preview.width == 8 * 32);  // contact strip: 8 frames of 32x32 in one row
            CHECK(preview.height == 32);
        };
        const GenerateResult result = generate_traced(*model(), request, &trace);
        REQUIRE(!result.cancelled);
        CHECK(previews == 4);
        CHECK(at::equal(trace.prompt_ids, ref.at("pipeline.prompt_ids")));
        CHECK(at::equal(trace.negative_prompt_ids, ref.at("pipeline.negative_prompt_ids")));
        CHECK(rel(trace.prompt_embeds, ref.at("pipeline.prompt_embeds")) < kTolerance);
        REQUIRE(trace.timesteps.size() == 4);
        double worst = 0;
        for (int k = 0; k < 4; ++k) {
            CHECK(trace.timesteps[k] == double(ref.at("pipeline.timesteps")[k].item<int64_t>()));
            const double eu = rel(trace.unet_out[k], ref.at("pipeline.unet_out")[k]);
            const double el = rel(trace.step_latents[k], ref.at("pipeline.step_latents")[k]);
            MESSAGE("step " << k << ": unet_out rel L2 " << eu << ", step_latents " << el);
            CHECK(eu < kTolerance);
            CHECK(el < kTolerance);
            worst = std::max({worst, eu, el});
        }
        const double ef = rel(trace.final_latents, ref.at("pipeline.final_latents"));
        const double ed = rel(trace.vae_decoded, ref.at("pipeline.vae_decoded"));
        const double ei = rel(trace.image, ref.at("pipeline.frames"));
        MESSAGE("final_latents " << ef << ", vae_decoded " << ed << ", frames " << ei);
        CHECK(ef < kTolerance);
        CHECK(ed < kTolerance);
        CHECK(ei < kTolerance);

        // The public result: 8 frames of one clip, 8-bit = round(frames * 255) (+-1 for rounding at .5)
        REQUIRE(result.frames == 8);
        REQUIRE(result.images.size() == 8);
        REQUIRE(result.params.size() == 8);
        const at::Tensor want = (ref.at("pipeline.frames") * 255).round().permute({0, 2, 3, 1}).contiguous();
        for (int f = 0; f < 8; ++f) {
            const Image& im = result.images[size_t(f)];
            REQUIRE(im.width == 64);
            const at::Tensor got = at::from_blob(const_cast<uint8_t*>(im.pixels.data()), {64, 64, 3}, at::kByte).to(at::kFloat);
            CHECK((got - want[f]).abs().max().item<float>() <= 1.0f);
            CHECK(result.params[size_t(f)].frame_index == f);
        }
        CHECK(result.params[3].frames == 8);
        CHECK(result.params[3].fps == 12.0f);
        const std::string text = format_parameters(result.params[3]);
        CHECK(text.find("Frames: 8, Frame: 3, FPS: 12") != std::string::npos);
        const GenerationParams back = parse_parameters(text);
        CHECK(back.frames == 8);
        CHECK(back.frame_index == 3);
        CHECK(back.motion_module == result.params[3].motion_module);
        REQUIRE(result.final_latents);
        CHECK(result.final_latents->shape == std::vector<int64_t>{1, 4, 8, 32, 32});
    }
}

TEST_CASE("text-to-video: cancel, seeds, errors") {
    model()->set_motion_module(kAdapterDir);
    SUBCASE("cancel from on_progress after 2 steps; a cancelled token before the start") {
        GenerateRequest request = video_request();
        request.on_progress = [](int step, int) { return step < 2; };
        CHECK(generate(*model(), request).cancelled);
        CancelToken token;
        token.cancel();
        request.on_progress = nullptr;
        request.cancel = &token;
        CHECK(generate(*model(), request).cancelled);
    }
    SUBCASE("seeded noise: [B, C, F, h, w], clip b from seed + b") {
        GenerateRequest request = video_request();
        request.init_latents.reset();
        request.steps = 1;
        request.frames = 2;
        request.batch = 2;
        request.seed = 40;
        request.keep_final_latents = true;
        request.preview_interval = 0;
        const GenerateResult two = generate(*model(), request);
        CHECK(two.images.size() == 4);
        CHECK(two.final_latents->shape == std::vector<int64_t>{2, 4, 2, 32, 32});
        request.batch = 1;
        request.seed = 41;
        const GenerateResult one = generate(*model(), request);
        CHECK(one.images[0].pixels == two.images[2].pixels);  // clip 1 of the batch = seed 41 alone
        CHECK(one.params[1].seed == 41);
    }
    SUBCASE("errors") {
        GenerateRequest request = video_request();
        request.frames = 33;
        CHECK(error_of([&] { generate(*model(), request); }).find("supports at most 32") != std::string::npos);
        request.frames = 4;
        const std::string e = error_of([&] { generate(*model(), request); });
        MESSAGE(e);
        CHECK(e.find("expected shape [1, 4, 4, 32, 32] (batch, latent channels, frames,") != std::string::npos);
        model()->set_motion_module("");
        CHECK(model()->info().motion_module.empty());
        request.frames = 8;
        CHECK(error_of([&] { generate(*model(), request); }).find("needs a motion module") != std::string::npos);
        // An adapter that does not fit leaves the model as it was.
        model()->set_motion_module(kAdapterDir);
        CHECK(!error_of([&] { model()->set_motion_module(kFixtures + "/tiny-sd-a/unet/diffusion_pytorch_model.safetensors"); }).empty());
        CHECK(model()->info().motion_module == kAdapterDir);
    }
    model()->set_motion_module("");
}


namespace {

// A motion LoRA's layer: the module it adapts (diffusers name), its original AnimateDiff spelling and
// random factors big enough to change the clip.
struct MotionLoraLayer {
    std::string module, original;
    int64_t channels;  // the fixture's levels have 32 and 64 channels; the mid block 64; up block 1 is level 0
    at::Tensor down, up;
};

std::vector<MotionLoraLayer> random_motion_lora() {
    std::vector<MotionLoraLayer> layers = {
        {"down_blocks.0.motion_modules.1.transformer_blocks.0.attn1.to_q",
         "down_blocks.0.motion_modules.1.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora", 32, {}, {}},
        {"mid_block.motion_modules.0.transformer_blocks.0.attn2.to_out.0",
         "mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.1.processor.to_out_lora", 64, {}, {}},
        {"up_blocks.1.motion_modules.2.transformer_blocks.0.attn1.to_v",
         "up_blocks.1.motion_modules.2.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_v_lora", 32, {}, {}},
    };
    at::manual_seed(7);
    for (MotionLoraLayer& l : layers) {
        l.down = at::randn({2, l.channels}) * 0.5;
        l.up = at::randn({l.channels, 2}) * 0.5;
    }
    return layers;
}

at::Tensor clip_latents(GenerateRequest request) {
    request.keep_final_latents = true;
    const GenerateResult r = generate(*model(), request);
    REQUIRE(r.final_latents);
    return at::tensor(r.final_latents->data).view(r.final_latents->shape);
}

}  // namespace

TEST_CASE("prompt travel: one text per frame, interpolated between the keyframes") {
    model()->set_motion_module(kAdapterDir);
    GenerateRequest request = video_request();
    request.preview_interval = 0;
    const at::Tensor cat = clip_latents(request);  // "a photo of a cat" on every frame
    request.prompt = "a photo of a dog";
    const at::Tensor dog = clip_latents(request);
    REQUIRE(rel(dog, cat) > 1e-3);
    SUBCASE("keyframes that all say the same give the plain prompt's clip") {
        request.prompt = "0: a photo of a cat\n7: a photo of a cat";
        CHECK(rel(clip_latents(request), cat) < 1e-5);  // (1 - t) a + t a rounds; another text is ~1e-2 away
        request.prompt = "a photo,\n3: of a cat\nat night";  // one keyframe for every frame: head, text, tail
        const at::Tensor one_keyframe = clip_latents(request);
        request.prompt = "a photo, of a cat, at night";
        CHECK(rel(one_keyframe, clip_latents(request)) < 1e-6);
    }
    SUBCASE("cat to dog: the first frame is the cat clip's, the last the dog clip's, each nearer its own") {
        request.prompt = "0: a photo of a cat\n7: a photo of a dog";
        const at::Tensor travel = clip_latents(request);
        auto frame = [](const at::Tensor& clip, int64_t f) { return clip.select(2, f); };
        const double first_to_cat = rel(frame(travel, 0), frame(cat, 0)), first_to_dog = rel(frame(travel, 0), frame(dog, 0));
        const double last_to_cat = rel(frame(travel, 7), frame(cat, 7)), last_to_dog = rel(frame(travel, 7), frame(dog, 7));
        MESSAGE("frame 0: to cat " << first_to_cat << ", to dog " << first_to_dog << "; frame 7: to cat " << last_to_cat
                                   << ", to dog " << last_to_dog);
        CHECK(first_to_cat < first_to_dog);
        CHECK(last_to_dog < last_to_cat);
        CHECK(rel(travel, cat) > 1e-3);
        CHECK(rel(travel, dog) > 1e-3);
    }
    SUBCASE("clip b of a batch is the travel from seed + b alone") {
        request.init_latents.reset();
        request.prompt = "0: a photo of a cat\n7: a photo of a dog";
        request.steps = 2;
        request.batch = 2;
        request.seed = 40;
        const GenerateResult two = generate(*model(), request);
        request.batch = 1;
        request.seed = 41;
        const GenerateResult one = generate(*model(), request);
        REQUIRE(two.images.size() == 16);
        int worst = 0;
        for (int f = 0; f < 8; ++f)
            for (size_t k = 0; k < one.images[size_t(f)].pixels.size(); ++k)
                worst = std::max(worst, std::abs(int(one.images[size_t(f)].pixels[k]) - int(two.images[size_t(8 + f)].pixels[k])));
        CHECK(worst <= 1);  // a batch of two rounds differently in BLAS (the plain prompt's clips too); frames in the
                            // wrong order would give another frame's text, far more than one level
    }
    SUBCASE("a keyframe beyond the clip, keyframes out of order") {
        request.prompt = "a photo of\n0: a cat\n8: a dog";
        CHECK(error_of([&] { generate(*model(), request); }).find("keyframe 8 is beyond the clip's 8 frames") != std::string::npos);
        request.prompt = "a photo of\n5: a cat\n2: a dog";
        CHECK(error_of([&] { generate(*model(), request); }).find("frames must ascend") != std::string::npos);
    }
    model()->set_motion_module("");
}

TEST_CASE("motion LoRA (AnimateDiff MotionLoRA): three spellings give the clip of the module with the delta merged") {
    const std::vector<MotionLoraLayer> layers = random_motion_lora();
    const std::string dir = temp_path("motion-lora");
    fs::create_directories(dir);
    // Files in AnimateDiff's original spelling, diffusers' PEFT keys and kohya keys.
    TensorMap original, peft, kohya;
    for (const MotionLoraLayer& l : layers) {
        original[l.original + ".down.weight"] = l.down;
        original[l.original + ".up.weight"] = l.up;
        peft["unet." + l.module + ".lora_A.weight"] = l.down;
        peft["unet." + l.module + ".lora_B.weight"] = l.up;
        std::string stem = "lora_unet_" + l.module;
        std::replace(stem.begin(), stem.end(), '.', '_');
        kohya[stem + ".lora_down.weight"] = l.down;
        kohya[stem + ".lora_up.weight"] = l.up;
        kohya[stem + ".alpha"] = at::scalar_tensor(2.0);  // alpha = rank: scale 1
    }
    const std::vector<std::string> files = {dir + "/original.safetensors", dir + "/peft.safetensors", dir + "/kohya.safetensors"};
    save_tensors(files[0], original);
    save_tensors(files[1], peft);
    save_tensors(files[2], kohya);
    for (const std::string& file : files) {
        const ConceptFileInfo info = inspect_concept_file(file);
        CHECK(info.method == "lora");
        CHECK(info.motion);  // every layer on the motion modules
        CHECK(info.rank == 2);
        CHECK(info.layers == 3);
    }
    // The independent answer: the module's weights with W + s * up @ down written into a new adapter folder.
    auto merged_folder = [&](double strength) {
        const std::string folder = dir + "/merged-" + std::to_string(int(strength * 100));
        fs::create_directories(folder);
        fs::copy_file(kAdapterDir + "/config.json", folder + "/config.json", fs::copy_options::overwrite_existing);
        TensorMap w = load_tensors(kAdapterDir + "/diffusion_pytorch_model.safetensors");
        for (const MotionLoraLayer& l : layers) {
            at::Tensor& weight = w.at(l.module + ".weight");
            weight = weight.to(at::kFloat) + strength * at::matmul(l.up, l.down);
        }
        save_tensors(folder + "/diffusion_pytorch_model.safetensors", w);
        return folder;
    };
    GenerateRequest request = video_request();
    request.steps = 2;
    model()->set_motion_module(kAdapterDir);
    const at::Tensor plain = clip_latents(request);
    at::Tensor peft_at_1;
    for (const double strength : {1.0, 0.5}) {
        model()->set_motion_module(merged_folder(strength));
        const at::Tensor want = clip_latents(request);
        CHECK(rel(want, plain) > 1e-2);  // the LoRA changes the clip
        model()->set_motion_module(kAdapterDir);
        for (const std::string& file : files) {
            INFO(file << " at " << strength);
            GenerateRequest with = request;
            with.loras = {{file, float(strength)}};
            const at::Tensor got = clip_latents(with);
            if (file == files[1] && strength == 1.0) peft_at_1 = got;
            const double e = rel(got, want);
            MESSAGE(fs::path(file).filename().string() << " at " << strength << ": rel L2 to merged " << e);
            CHECK(e < 1e-5);
        }
    }
    // Strength 0 is exactly the module alone; the prompt tag works as --lora does; stills never run the module.
    GenerateRequest zero = request;
    zero.loras = {{files[1], 0.0f}};
    CHECK(at::equal(clip_latents(zero), plain));
    GenerateRequest tagged = request;
    tagged.prompt += " <lora:" + files[1] + ":1>";
    CHECK(at::equal(clip_latents(tagged), peft_at_1));
    GenerateRequest still = request;
    still.frames = 1;
    still.init_latents.reset();
    still.seed = 3;
    const GenerateResult without = generate(*model(), still);
    still.loras = {{files[1], 1.0f}};
    CHECK(generate(*model(), still).images[0].pixels == without.images[0].pixels);
    // Without a motion module the file names what it needs.
    model()->set_motion_module("");
    const std::string e = error_of([&] { generate(*model(), still); });
    MESSAGE(e);
    CHECK(e.find("transformer_blocks.0.attn1.to_q', which this model does not have (a motion LoRA: it needs a motion "
                 "module loaded") != std::string::npos);
    GenerateRequest kohya_still = still;
    kohya_still.loras = {{files[2], 1.0f}};
    CHECK(error_of([&] { generate(*model(), kohya_still); }).find("a motion LoRA: it needs a motion module loaded") !=
          std::string::npos);
}

namespace {

// The fixture's adapter with `deltas` (diffusers weight name -> change) added, written as a MotionAdapter folder.
std::string tuned_adapter(const std::string& name, const std::map<std::string, at::Tensor>& deltas) {
    const std::string dir = temp_path(name);
    fs::create_directories(dir);
    fs::copy_file(kAdapterDir + "/config.json", dir + "/config.json", fs::copy_options::overwrite_existing);
    TensorMap weights = MotionAdapter::read_weights(kAdapterDir);
    for (const auto& [key, delta] : deltas) {
        REQUIRE(weights.count(key));
        weights[key] = weights[key] + delta.to(weights[key].scalar_type());
    }
    save_tensors(dir + "/diffusion_pytorch_model.safetensors", weights);
    return dir;
}

}  // namespace

TEST_CASE("extract-motion-lora: the truncated SVD of a fine-tuning's change, applied as a motion LoRA, gives its clips") {
    // A known rank-2 change on three Linears (the fine-tuning), the rest of the module as it was.
    std::map<std::string, at::Tensor> deltas;
    for (const MotionLoraLayer& l : random_motion_lora()) deltas[l.module + ".weight"] = at::matmul(l.up, l.down) * 0.3;
    const std::string tuned = tuned_adapter("tuned", deltas);

    ExtractMotionLoraRequest request;
    request.base = kAdapterDir;
    request.tuned = tuned;
    request.rank = 2;
    request.out_path = temp_path("extracted-r2.safetensors");
    const ExtractMotionLoraResult full = extract_motion_lora(request);
    CHECK(full.layers == 3);
    CHECK(full.kept == doctest::Approx(1.0).epsilon(1e-9));
    CHECK(full.outside == 0.0);
    // The file holds each change exactly (PEFT keys, scale 1).
    const TensorMap file = load_tensors(request.out_path);
    CHECK(file.size() == 6);
    for (const auto& [key, delta] : deltas) {
        const std::string stem = "unet." + key.substr(0, key.size() - 7);
        const at::Tensor product = at::matmul(file.at(stem + ".lora_B.weight"), file.at(stem + ".lora_A.weight"));
        CHECK(rel(product, delta) < 1e-5);
    }
    // Applied to the base module, the LoRA gives the tuned module's clip.
    GenerateRequest clip_request = video_request();
    clip_request.preview_interval = 0;
    model()->set_motion_module(tuned);
    const at::Tensor tuned_clip = clip_latents(clip_request);
    model()->set_motion_module(kAdapterDir);
    const at::Tensor base_clip = clip_latents(clip_request);
    clip_request.loras = {{request.out_path, 1.0f}};
    const at::Tensor lora_clip = clip_latents(clip_request);
    MESSAGE("base vs tuned " << rel(base_clip, tuned_clip) << ", base + extracted LoRA vs tuned " << rel(lora_clip, tuned_clip));
    CHECK(rel(base_clip, tuned_clip) > 1e-3);
    CHECK(rel(lora_clip, tuned_clip) < 1e-5);
    // Stored as float16: half the file, the clip within float16's rounding.
    request.half = true;
    request.out_path = temp_path("extracted-r2-half.safetensors");
    extract_motion_lora(request);
    CHECK((load_tensors(request.out_path).begin()->second.scalar_type() == at::kHalf));
    CHECK(fs::file_size(request.out_path) < fs::file_size(temp_path("extracted-r2.safetensors")));
    clip_request.loras = {{request.out_path, 1.0f}};
    CHECK(rel(clip_latents(clip_request), tuned_clip) < 1e-3);
    request.half = false;

    // Rank 1 of a rank-2 change: the best rank-1 approximation (Eckart–Young), no worse than keeping either of the
    // change's own two terms, and `kept` is what the file's factors keep.
    request.rank = 1;
    request.out_path = temp_path("extracted-r1.safetensors");
    const ExtractMotionLoraResult one = extract_motion_lora(request);
    const TensorMap file1 = load_tensors(request.out_path);
    double total = 0, missed = 0;
    for (const MotionLoraLayer& l : random_motion_lora()) {
        const at::Tensor delta = deltas.at(l.module + ".weight");
        const std::string stem = "unet." + l.module;
        const at::Tensor approx = at::matmul(file1.at(stem + ".lora_B.weight"), file1.at(stem + ".lora_A.weight"));
        CHECK(file1.at(stem + ".lora_A.weight").size(0) == 1);
        const double error = (delta - approx).pow(2).sum().item<double>();
        for (int64_t k = 0; k < 2; ++k) {
            const at::Tensor term = at::outer(l.up.select(1, k), l.down.select(0, k)) * 0.3;
            CHECK(error <= (delta - term).pow(2).sum().item<double>() + 1e-6);
        }
        total += delta.pow(2).sum().item<double>();
        missed += error;
    }
    CHECK(one.kept == doctest::Approx(1.0 - missed / total).epsilon(1e-4));
    CHECK(one.kept < 0.999);

    // A bias change cannot ride on a LoRA: reported as the share outside.
    const std::string bias_key = random_motion_lora()[0].module;
    const at::Tensor bias_delta = at::full({32}, 0.05);
    const std::string with_bias = tuned_adapter("tuned-bias", {{bias_key + ".weight", deltas.at(bias_key + ".weight")},
                                                               {bias_key.substr(0, bias_key.rfind('.')) + ".to_out.0.bias", bias_delta}});
    request.tuned = with_bias;
    request.rank = 2;
    request.out_path = temp_path("extracted-bias.safetensors");
    const ExtractMotionLoraResult biased = extract_motion_lora(request);
    const double w = deltas.at(bias_key + ".weight").pow(2).sum().item<double>(), b = bias_delta.pow(2).sum().item<double>();
    CHECK(biased.layers == 1);
    CHECK(biased.outside == doctest::Approx(b / (b + w)).epsilon(1e-4));

    // Errors: the same module twice; a module of another shape; a rank below 1.
    request.tuned = kAdapterDir;
    CHECK(error_of([&] { extract_motion_lora(request); }).find("identical") != std::string::npos);
    request.tuned = kOriginal;  // the same weights in the original layout: also identical
    CHECK(error_of([&] { extract_motion_lora(request); }).find("identical") != std::string::npos);
    const std::string other = temp_path("other-shape");
    fs::create_directories(other);
    fs::copy_file(kAdapterDir + "/config.json", other + "/config.json", fs::copy_options::overwrite_existing);
    TensorMap reshaped = MotionAdapter::read_weights(kAdapterDir);
    const std::string key = random_motion_lora()[0].module + ".weight";
    reshaped[key] = at::zeros({32, 16});
    save_tensors(other + "/diffusion_pytorch_model.safetensors", reshaped);
    request.tuned = other;
    const std::string shape_error = error_of([&] { extract_motion_lora(request); });
    CHECK(shape_error.find("'" + key + "' is [32, 32]") != std::string::npos);
    CHECK(shape_error.find("[32, 16]") != std::string::npos);
    request.tuned = tuned;
    request.rank = 0;
    CHECK(error_of([&] { extract_motion_lora(request); }).find("rank must be >= 1") != std::string::npos);
    model()->set_motion_module("");
}

TEST_CASE("motion_phrases_in: whole words, any case, the longer of two overlapping phrases, tags aside") {
    const std::vector<std::string> phrases{"spinning", "spinning fast", "moving up"};
    CHECK(motion_phrases_in("a cat, Spinning", phrases) == std::vector<std::string>{"spinning"});
    CHECK(motion_phrases_in("a cat spinning fast", phrases) == std::vector<std::string>{"spinning fast"});
    CHECK(motion_phrases_in("a cat spinningly", phrases).empty());
    CHECK(motion_phrases_in("a cat <lora:moving up:0.5>", phrases).empty());
    CHECK(motion_phrases_in("a cat MOVING UP, spinning", phrases) == std::vector<std::string>{"spinning", "moving up"});
    CHECK(motion_phrases_in("a cat moving up", {}).empty());
}

TEST_CASE("motion words: a module folder's motion_loras.json applies a motion LoRA to clips whose prompt holds its phrase") {
    const std::string dir = temp_path("motion-words");
    fs::create_directories(dir);
    fs::copy_file(kAdapterDir + "/config.json", dir + "/config.json", fs::copy_options::overwrite_existing);
    fs::copy_file(kAdapterDir + "/diffusion_pytorch_model.safetensors", dir + "/diffusion_pytorch_model.safetensors",
                  fs::copy_options::overwrite_existing);
    // Two LoRAs: "spinning" and the longer "spinning fast" (its factors negated).
    TensorMap spin, fast;
    for (const MotionLoraLayer& l : random_motion_lora()) {
        spin["unet." + l.module + ".lora_A.weight"] = l.down;
        spin["unet." + l.module + ".lora_B.weight"] = l.up;
        fast["unet." + l.module + ".lora_A.weight"] = l.down;
        fast["unet." + l.module + ".lora_B.weight"] = -l.up;
    }
    fs::create_directories(dir + "/loras");
    save_tensors(dir + "/loras/spin.safetensors", spin);
    save_tensors(dir + "/loras/fast.safetensors", fast);
    auto write_json = [&](const std::string& text) { std::ofstream(dir + "/motion_loras.json") << text; };
    write_json(R"({"motion_loras": [
        {"phrase": "spinning", "file": "loras/spin.safetensors", "strength": 0.5},
        {"phrase": "spinning fast", "file": "loras/fast.safetensors"}]})");
    model()->set_motion_module(dir);
    CHECK(model()->info().motion_phrases == std::vector<std::string>{"spinning", "spinning fast"});

    GenerateRequest request = video_request();
    request.steps = 2;
    auto clip = [&](const std::string& prompt, std::vector<LoraSpec> loras = {}, bool words = true) {
        GenerateRequest r = request;
        r.prompt = prompt;
        r.loras = std::move(loras);
        r.motion_words = words;
        return clip_latents(r);
    };
    const at::Tensor plain = clip("a photo of a cat");
    const at::Tensor spin_half = clip("a photo of a cat", {{dir + "/loras/spin.safetensors", 0.5f}});
    const at::Tensor fast_one = clip("a photo of a cat", {{dir + "/loras/fast.safetensors", 1.0f}});
    CHECK(rel(spin_half, plain) > 1e-3);
    // The phrase applies its LoRA at its strength (the prompt's other words are the same tokens but for the
    // phrase, so compare against the same prompt with the LoRA given and the words off).
    CHECK(at::equal(clip("a photo of a cat, Spinning"), clip("a photo of a cat, Spinning", {{dir + "/loras/spin.safetensors", 0.5f}}, false)));
    CHECK(!at::equal(clip("a photo of a cat, spinning"), clip("a photo of a cat, spinning", {}, false)));
    // Whole words only; the longer phrase wins; switched off, the module alone.
    CHECK(at::equal(clip("a photo of a cat, spinningly"), clip("a photo of a cat, spinningly", {}, false)));
    CHECK(at::equal(clip("a photo of a cat spinning fast"), clip("a photo of a cat spinning fast", {{dir + "/loras/fast.safetensors", 1.0f}}, false)));
    // Still pictures never get them.
    GenerateRequest still = request;
    still.prompt = "a photo of a cat, spinning";
    still.frames = 1;
    still.init_latents.reset();
    const GenerateResult with_words = generate(*model(), still);
    still.motion_words = false;
    CHECK(generate(*model(), still).images[0].pixels == with_words.images[0].pixels);

    // Bad files: the error names the file and the entry, and the model keeps the module it had.
    model()->set_motion_module(kAdapterDir);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"{\"motion_loras\": [", "not valid JSON"},
        {"{\"motion_loras\": {}}", "expected {\"motion_loras\": [...]}"},
        {"{\"motion_loras\": [{\"file\": \"loras/spin.safetensors\"}]}", "motion_loras[0]: \"phrase\" must be a non-empty string"},
        {"{\"motion_loras\": [{\"phrase\": \"up\", \"file\": \"loras/none.safetensors\"}]}", "loras/none.safetensors' does not exist"},
        {"{\"motion_loras\": [{\"phrase\": \"up\", \"file\": \"config.json\"}]}", "config.json"},
        {"{\"motion_loras\": [{\"phrase\": \"up\", \"file\": \"loras/spin.safetensors\", \"strength\": \"x\"}]}", "\"strength\" must be a number"},
    };
    for (const auto& [json, expected] : bad) {
        write_json(json);
        const std::string e = error_of([&] { model()->set_motion_module(dir); });
        INFO(json);
        MESSAGE(e);
        CHECK(e.find(expected) != std::string::npos);
        CHECK(e.find("motion_loras.json") != std::string::npos);
        CHECK(model()->info().motion_module == kAdapterDir);
        CHECK(model()->info().motion_phrases.empty());
        CHECK(model()->impl().unet->motion_adapter()->source().find("motion-words") == std::string::npos);
    }
    model()->set_motion_module("");
}

TEST_CASE("atelier-cli generate --frames: 5-D latents in and out, GIF, MP4, PNG frames") {
    const std::string dir = temp_path("cli");
    fs::create_directories(dir);
    const std::string init = dir + "/init.safetensors", saved = dir + "/final.safetensors";
    write_tensor_file(init, "latents", float_tensor(reference().at("pipeline.init_latents")));
    const std::string common = "generate -q --model '" + kFixtures + "/tiny-sd-a' --motion-module '" + kAdapterDir +
                               "' --prompt 'a photo of a cat' --width 64 --height 64 --guidance 7.5 --sampler ddim ";
    const CliRun r = run_cli(common + "--steps 4 --frames 8 --fps 10 --init-latents '" + init + "' --save-latents '" + saved +
                             "' --frames-dir '" + dir + "/pngs' -o '" + dir + "/clip.gif'");
    INFO(r.output);
    REQUIRE(r.code == 0);
    const FloatTensor final_latents = read_tensor_file(saved);
    REQUIRE(final_latents.shape == std::vector<int64_t>{1, 4, 8, 32, 32});
    const at::Tensor got = at::from_blob(const_cast<float*>(final_latents.data.data()), {1, 4, 8, 32, 32}, at::kFloat);
    const double e = rel(got, reference().at("pipeline.final_latents"));
    MESSAGE("CLI final latents rel L2 " << e);
    CHECK(e < kTolerance);
    const Image first = read_image(dir + "/clip.gif");  // stb: the first frame
    CHECK(first.width == 64);
    CHECK(first.height == 64);
    for (int f = 0; f < 8; ++f) CHECK(fs::exists(dir + "/pngs/frame-00" + std::to_string(f) + ".png"));
    const auto text = read_png_text(dir + "/pngs/frame-003.png");
    REQUIRE(text.count("parameters"));
    CHECK(text.at("parameters").find("Frames: 8, Frame: 3, FPS: 10, Motion module: motion-adapter") != std::string::npos);
    MESSAGE(text.at("parameters"));

    const CliRun mp4 = run_cli(common + "--frames 2 --steps 1 --fps 6 -o '" + dir + "/clip.mp4'");
    INFO(mp4.output);
    REQUIRE(mp4.code == 0);
    const DecodedClip back = read_clip(dir + "/clip.mp4");
    CHECK(back.frames.size() == 2);
    CHECK(back.fps == doctest::Approx(6));
    CHECK(back.frames.at(0).width == 256);  // 64x64 frames scaled up 4x for players
    const CliRun avi = run_cli(common + "--frames 2 --steps 1 -o '" + dir + "/clip.avi'");
    CHECK(avi.code != 0);
    CHECK(avi.output.find(".gif, .mp4 or .webm") != std::string::npos);
    const CliRun no_module = run_cli("generate -q --model '" + kFixtures + "/tiny-sd-a' --prompt x --steps 1 --width 64 "
                                     "--height 64 --frames 4 -o '" + dir + "/x.gif'");
    CHECK(no_module.code != 0);
    CHECK(no_module.output.find("needs a motion module") != std::string::npos);
    fs::remove_all(dir);
}
