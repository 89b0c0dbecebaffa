// labels: fast
// Motion-module training (atelier/train_motion.h) on the random-weight fixture TINY-A with small clips
// (32x32 frames: 16x16 latents keep each step well under a second): the loss falls, the folder loads and
// generates, an untrained module is the identity, seeds reproduce, cancel + resume equals one run, bad input.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <doctest/doctest.h>

#include "engine/cli_test_util.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sys/wait.h>
#include <unistd.h>

#include "atelier/engine.h"
#include "atelier/error.h"
#include "atelier/train_motion.h"
#include "models/motion_module.h"
#include "personalize/apply.h"
#include "personalize/base_model.h"
#include "personalize/lora.h"
#include "personalize/motion_clips.h"
#include "personalize/motion_training.h"
#include "runtime/model_impl.h"
#include "runtime/tensors.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace atelier;

namespace {

const std::string kFixtures = ATELIER_FIXTURES_DIR;
const std::string kBase = kFixtures + "/tiny-sd-a";

std::string temp_dir(const std::string& name) {
    static const TempDir dir("train-motion");
    const fs::path p = dir.path / name;
    fs::remove_all(p);
    return p.string();
}

TrainMotionRequest small_request(const std::string& out) {
    TrainMotionRequest r;
    r.base_dir = kBase;
    r.out_dir = out;
    r.frames = 8;
    r.steps = 6;
    r.batch = 1;
    r.clips = 4;
    r.frame_size = 32;
    r.threads = 1;
    r.checkpoint_every = 0;
    return r;
}

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::shared_ptr<Model> load_fixture() {
    LoadOptions o;
    o.path = kBase;
    o.device = "cpu";
    o.precision = "float32";
    return Model::load(o);
}

// Epsilon loss of the fixture's UNet with `adapter` (none: the still model, frame by frame) on a fixed batch of
// the training clips, noise and timesteps.
double eval_loss(Model& model, std::shared_ptr<MotionAdapter> adapter, uint64_t seed) {
    at::NoGradGuard no_grad;
    Model::Impl& m = model.impl();
    const ClipBatch clips = render_clip_batch(motion_train_base(seed), 0, 4, 8, 32);
    const at::Tensor x0 = encode_clips(*m.vae, clips.frames).first * m.vae->config().scaling_factor;
    std::vector<int64_t> ids;
    for (const auto& c : clips.captions) {
        const auto t = m.tokenizer->encode_padded(c, 77);
        ids.insert(ids.end(), t.begin(), t.end());
    }
    const at::Tensor context = m.text_encoder->forward(at::tensor(ids, at::kLong).view({4, 77}));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
    const at::Tensor noise = at::randn(x0.sizes(), gen);
    const at::Tensor t = at::tensor(std::vector<int64_t>{100, 300, 600, 900}, at::kLong);
    m.unet->set_motion_adapter(std::move(adapter));
    const double loss = motion_epsilon_loss(*m.unet, x0, context, t, noise).item<double>();
    m.unet->set_motion_adapter(nullptr);
    return loss;
}

// Two steps at 32x32 of a caption with a motion: a still picture (frames 0) or a clip.
GenerateRequest small_generate(int frames) {
    GenerateRequest g;
    g.prompt = "a red circle moving to the left";
    g.steps = 2;
    g.width = 32;
    g.height = 32;
    g.frames = frames;
    g.seed = 3;
    g.preview_interval = 0;
    return g;
}

// An untrained adapter (proj_out zero) for the fixture, as a folder.
std::string write_identity_adapter(const std::string& dir) {
    const MotionAdapterConfig c = motion_adapter_config_for(load_fixture()->impl().unet->config(), 4, 32);
    TensorMap w = init_motion_adapter_weights(c, 5);
    for (const auto& [k, v] : motion_positional_tables(c)) w[k] = v;
    fs::create_directories(dir);
    save_tensors(dir + "/diffusion_pytorch_model.safetensors", w);
    std::ofstream(dir + "/config.json") << motion_adapter_config_json(c);
    return dir;
}

}  // namespace

TEST_CASE("train_motion_module: the loss on a fixed batch falls; the folder loads and generates 8 frames") {
    const std::string out = temp_dir("train");
    TrainMotionRequest r = small_request(out);
    r.steps = 12;
    r.lr = 2e-3;
    int reports = 0;
    double first_loss = -1;
    r.on_progress = [&](const TrainMotionProgress& p) {
        if (p.phase != "train") return;
        ++reports;
        if (first_loss < 0) first_loss = p.loss;
        CHECK(p.total == 12);
        CHECK(p.step_seconds > 0);
    };
    const TrainMotionResult result = train_motion_module(r);
    MESSAGE("12 steps: " << result.train_seconds << " s, final running loss " << result.loss << " (first " << first_loss
                         << "), " << result.parameters << " parameters");
    CHECK(!result.cancelled);
    CHECK(result.steps_done == 12);
    CHECK(reports == 12);
    CHECK(result.parameters > 0);
    REQUIRE(fs::exists(out + "/config.json"));
    REQUIRE(fs::exists(out + "/diffusion_pytorch_model.safetensors"));
    const TensorMap saved = load_tensors(out + "/diffusion_pytorch_model.safetensors");
    CHECK((saved.at("down_blocks.0.motion_modules.0.proj_out.weight").scalar_type() == at::kHalf));
    CHECK(saved.at("down_blocks.0.motion_modules.0.proj_out.weight").abs().max().item<float>() > 0);  // it learnt

    auto model = load_fixture();
    const double still = eval_loss(*model, nullptr, r.seed);
    const double trained = eval_loss(*model, MotionAdapter::load(out), r.seed);
    MESSAGE("fixed-batch loss: still model (identity module) " << still << ", after 12 steps " << trained);
    CHECK(trained < still);

    model->set_motion_module(out);
    CHECK(model->info().motion_max_frames == 32);
    const GenerateResult clip = generate(*model, small_generate(8));
    REQUIRE(clip.images.size() == 8);
    CHECK(clip.images[7].width == 32);
    fs::remove_all(out);
}

TEST_CASE("an untrained motion module is the identity: video frames equal the still model's images") {
    const std::string dir = write_identity_adapter(temp_dir("identity"));
    auto model = load_fixture();
    UNet2DCondition& unet = *model->impl().unet;
    {  // the UNet: bit for bit, with and without the module
        at::NoGradGuard no_grad;
        auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
        const at::Tensor sample = at::randn({2, 4, 8, 16, 16}, gen);
        const at::Tensor context = at::randn({2, 77, 32}, gen);
        const at::Tensor t = at::tensor(std::vector<int64_t>{10, 700}, at::kLong);
        const at::Tensor still = unet.forward(sample, t, context);
        unet.set_motion_adapter(MotionAdapter::load(dir));
        const at::Tensor video = unet.forward(sample, t, context);
        unet.set_motion_adapter(nullptr);
        CHECK(at::equal(still, video));
    }
    // The pipeline: frame f of a clip from latents L equals the still image from L's frame f.
    model->set_motion_module(dir);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
    const at::Tensor latents = at::randn({1, 4, 4, 16, 16}, gen);
    GenerateRequest g;
    g.prompt = "a green star growing";
    g.steps = 3;
    g.width = 32;
    g.height = 32;
    g.frames = 4;
    g.preview_interval = 0;
    auto as_float_tensor = [](const at::Tensor& t) {
        const at::Tensor c = t.contiguous();
        FloatTensor f;
        f.shape = c.sizes().vec();
        f.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
        return f;
    };
    g.init_latents = as_float_tensor(latents);
    const GenerateResult clip = generate(*model, g);
    REQUIRE(clip.images.size() == 4);
    model->set_motion_module("");
    int max_diff = 0;
    for (int f = 0; f < 4; ++f) {
        GenerateRequest s = g;
        s.frames = 0;
        s.init_latents = as_float_tensor(latents.select(2, f));
        const GenerateResult still = generate(*model, s);
        REQUIRE(still.images.size() == 1);
        const auto& a = clip.images[size_t(f)].pixels;
        const auto& b = still.images[0].pixels;
        REQUIRE(a.size() == b.size());
        for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::abs(int(a[i]) - int(b[i])));
    }
    MESSAGE("largest pixel difference, clip frames vs still images: " << max_diff);
    // The frames run as one batch of 4 (x2 for guidance) through the UNet, the stills one by one: kernels may
    // block a batch differently, so the float sums can differ in the last bits and flip a rounding.
    CHECK(max_diff <= 1);
    fs::remove_all(dir);
}

TEST_CASE("train_motion_module: same seed, same file; cancel then resume equals one uninterrupted run") {
    const std::string a = temp_dir("a"), b = temp_dir("b"), c = temp_dir("c");
    const std::string file = "/diffusion_pytorch_model.safetensors";
    train_motion_module(small_request(a));
    train_motion_module(small_request(b));
    CHECK(file_bytes(a + file) == file_bytes(b + file));

    CancelToken token;
    TrainMotionRequest r = small_request(c);
    r.cancel = &token;
    r.on_progress = [&](const TrainMotionProgress& p) {
        if (p.phase == "train" && p.step == 3) token.cancel();
    };
    const TrainMotionResult first = train_motion_module(r);
    CHECK(first.cancelled);
    CHECK(first.steps_done == 3);
    CHECK(fs::exists(c + "/checkpoints/motion.safetensors"));
    CHECK(!fs::exists(c + file));
    r.cancel = nullptr;
    r.on_progress = nullptr;
    r.resume = true;
    const TrainMotionResult second = train_motion_module(r);
    CHECK(!second.cancelled);
    CHECK(second.steps_done == 6);
    CHECK(file_bytes(a + file) == file_bytes(c + file));

    TrainMotionRequest other = small_request(b);
    other.seed = 2;
    train_motion_module(other);
    CHECK(file_bytes(a + file) != file_bytes(b + file));
    for (const auto& d : {a, b, c}) fs::remove_all(d);
}


TEST_CASE("gradient checkpointing: every motion module's gradients are the same, recomputed; training runs with it") {
    LoadOptions load;
    load.path = kBase;
    load.device = "cpu";
    const auto model = Model::load(load);
    UNet2DCondition& unet = *model->impl().unet;
    const MotionAdapterConfig config = motion_adapter_config_for(unet.config(), 4, 32);
    TensorMap all = motion_positional_tables(config);
    std::vector<at::Tensor> trainable;
    at::manual_seed(5);
    for (auto [name, w] : init_motion_adapter_weights(config, 3)) {
        // proj_out starts at zero (the identity); values there let the gradient reach every module's inside
        if (name.find("proj_out") != std::string::npos) w = at::randn(w.sizes()) * 0.05;
        all[name] = w.requires_grad_(true);
        trainable.push_back(w);
    }
    unet.set_motion_adapter(std::make_shared<MotionAdapter>(config, all, ""));
    const at::Tensor x0 = at::randn({1, 4, 4, 8, 8}), noise = at::randn({1, 4, 4, 8, 8});
    const at::Tensor context = at::randn({1, 77, unet.config().cross_attention_dim});
    const at::Tensor t = at::full({1}, 400, at::kLong);
    auto gradients = [&](bool checkpointing) {
        unet.set_gradient_checkpointing(checkpointing);
        for (at::Tensor& w : trainable) w.mutable_grad() = at::Tensor();
        motion_epsilon_loss(unet, x0, context, t, noise).backward();
        std::vector<at::Tensor> g;
        for (const at::Tensor& w : trainable) g.push_back(w.grad().defined() ? w.grad().clone() : at::zeros_like(w));
        return g;
    };
    const auto kept = gradients(false), recomputed = gradients(true);
    unet.set_gradient_checkpointing(false);
    unet.set_motion_adapter(nullptr);
    double largest = 0;
    for (size_t i = 0; i < kept.size(); ++i) {
        CHECK(at::allclose(recomputed[i], kept[i], 1e-4, 1e-7));
        largest = std::max(largest, kept[i].abs().max().item<double>());
    }
    CHECK(largest > 0);   // the comparison is of real gradients

    TrainMotionRequest lean = small_request(temp_dir("recomputed"));
    lean.steps = 2;
    lean.gradient_checkpointing = true;
    const TrainMotionResult r = train_motion_module(lean);
    CHECK(r.steps_done == 2);
    CHECK(std::isfinite(r.loss));
}

TEST_CASE("train_motion_module: init_from fine-tunes a module; a text LoRA on the cross-attention is for clips only") {
    const std::string a = temp_dir("text-lora-start"), b = temp_dir("text-lora"), c = temp_dir("text-lora-same");
    TrainMotionRequest first = small_request(a);
    first.steps = 4;
    first.lr = 2e-3;
    train_motion_module(first);

    // init_from with a vanishing learning rate exports the module it started from.
    TrainMotionRequest same = small_request(c);
    same.steps = 1;
    same.lr = 1e-12;
    same.init_from = a;
    train_motion_module(same);
    const TensorMap start = load_tensors(a + "/diffusion_pytorch_model.safetensors");
    const TensorMap copy = load_tensors(c + "/diffusion_pytorch_model.safetensors");
    REQUIRE(copy.size() == start.size());
    for (const auto& [key, value] : start) CHECK_MESSAGE(at::equal(copy.at(key), value), key);
    CHECK(!fs::exists(c + "/" + kMotionTextLoraFile));

    TrainMotionRequest r = small_request(b);
    r.init_from = a;
    r.text_lora_rank = 2;
    r.lr = 2e-3;
    const TrainMotionResult result = train_motion_module(r);
    auto model = load_fixture();
    int64_t expected = 0, cross_attention_layers = 0;
    model->impl().unet->for_each_linear([&](Linear& l) {
        if (l.name.find(".attn2.") == std::string::npos) return;
        ++cross_attention_layers;
        expected += 2 * (l.weight.size(0) + l.weight.size(1));
    });
    CHECK(cross_attention_layers > 0);
    CHECK(result.text_lora_parameters == expected);
    const std::string lora_path = b + "/" + kMotionTextLoraFile;
    REQUIRE(fs::exists(lora_path));
    const LoraFile lora = read_lora(lora_path, lora_targets(model->impl()));
    CHECK(lora.format == "kohya");
    CHECK(int64_t(lora.layers.size()) == cross_attention_layers);
    float largest_up = 0;
    for (const LoraLayer& l : lora.layers) {
        CHECK(l.component == "unet");
        CHECK(l.module.find(".attn2.") != std::string::npos);
        largest_up = std::max(largest_up, l.up.abs().max().item<float>());
    }
    CHECK(largest_up > 0);  // it learnt (up starts at zero)

    GenerateRequest g = small_generate(0);
    const GenerateResult still_before = generate(*model, g);
    model->set_motion_module(b);
    CHECK(model->info().motion_text_lora == lora_path);
    const GenerateResult still_with_module = generate(*model, g);
    REQUIRE(still_with_module.images.size() == 1);
    CHECK(still_with_module.images[0].pixels == still_before.images[0].pixels);  // never on still images
    g.frames = 8;
    const GenerateResult clip_with_lora = generate(*model, g);
    // The same module without its LoRA file draws a different clip.
    const std::string without = temp_dir("text-lora-without");
    fs::create_directories(without);
    for (const char* f : {"config.json", "diffusion_pytorch_model.safetensors"}) fs::copy_file(b + "/" + f, without + "/" + f);
    model->set_motion_module(without);
    CHECK(model->info().motion_text_lora.empty());
    const GenerateResult clip_without = generate(*model, g);
    REQUIRE(clip_with_lora.images.size() == 8);
    REQUIRE(clip_without.images.size() == 8);
    int differing = 0;
    for (int f = 0; f < 8; ++f) differing += clip_with_lora.images[f].pixels != clip_without.images[f].pixels;
    CHECK(differing > 0);

    // A model folder that carries the module: `inspect` names the module and its LoRA.
    const std::string folder = temp_dir("text-lora-model");
    fs::copy(kBase, folder, fs::copy_options::recursive);
    fs::copy(b, folder + "/motion_adapter", fs::copy_options::recursive);
    const CliRun inspect = run_cli("inspect '" + folder + "'");
    INFO(inspect.output);
    CHECK(inspect.code == 0);
    CHECK(inspect.output.find("motion module " + folder + "/motion_adapter") != std::string::npos);
    CHECK(inspect.output.find("text LoRA   " + folder + "/motion_adapter/" + kMotionTextLoraFile + " (clips only)") !=
          std::string::npos);

    // A LoRA that does not fit this model: a clear error, and the model keeps the module it had.
    TensorMap broken = load_tensors(lora_path);
    for (auto& [key, value] : broken)
        if (key.find("lora_down") != std::string::npos) {
            value = at::zeros({2, value.size(1) + 1});
            break;
        }
    save_tensors(lora_path, broken);
    const std::string e = error_of([&] { model->set_motion_module(b); });
    MESSAGE(e);
    CHECK(e.find(kMotionTextLoraFile) != std::string::npos);
    CHECK(model->info().motion_module == without);

    r.init_from = b + "/nowhere";
    const std::string missing = error_of([&] { train_motion_module(r); });
    CHECK(missing.find(b + "/nowhere") != std::string::npos);
    for (const std::string& d : {a, b, c, without, folder}) fs::remove_all(d);
}

TEST_CASE("train_motion_module: a motion LoRA learns on the frozen module and is a LoRA file for clips") {
    const std::string a = temp_dir("motion-lora-module"), b = temp_dir("motion-lora");
    TrainMotionRequest first = small_request(a);
    first.steps = 4;
    first.lr = 2e-3;
    train_motion_module(first);

    TrainMotionRequest r = small_request(b);
    r.init_from = a;
    r.motion_lora_rank = 2;
    r.steps = 12;
    r.lr = 5e-3;
    const TrainMotionResult result = train_motion_module(r);
    CHECK(result.steps_done == 12);
    // Parameters: rank x (in + out) for q, k, v, out of both temporal attentions of every module.
    std::shared_ptr<MotionAdapter> module = MotionAdapter::load(a);
    int64_t expected = 0, attention_layers = 0;
    module->for_each_linear([&](Linear& l) {
        if (l.name.find(".attn1.") == std::string::npos && l.name.find(".attn2.") == std::string::npos) return;
        ++attention_layers;
        expected += 2 * (l.weight.size(0) + l.weight.size(1));
    });
    CHECK(attention_layers == 8 * (2 * 2 + 1 + 2 * 3));  // 8 projections in each of the fixture's 11 modules
    CHECK(result.parameters == expected);
    const std::string file = b + "/" + kMotionLoraFile;
    REQUIRE(fs::exists(file));
    CHECK(!fs::exists(b + "/diffusion_pytorch_model.safetensors"));  // the module is not rewritten
    const TensorMap lora = load_tensors(file);
    CHECK(int64_t(lora.size()) == 2 * attention_layers);  // lora_A and lora_B; alpha = rank is not stored
    CHECK(lora.count("unet.down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q.lora_A.weight") == 1);

    // The module is frozen: its weights with the LoRA merged fit the training clips better than alone.
    TensorMap merged = load_tensors(a + "/diffusion_pytorch_model.safetensors");
    float largest_up = 0;
    for (const auto& [key, up] : lora) {
        const std::string suffix = ".lora_B.weight";
        if (key.size() < suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        const std::string name = key.substr(5, key.size() - 5 - suffix.size());
        const at::Tensor down = lora.at("unet." + name + ".lora_A.weight");
        at::Tensor& w = merged.at(name + ".weight");
        w = w.to(at::kFloat) + at::matmul(up, down);
        largest_up = std::max(largest_up, up.abs().max().item<float>());
    }
    CHECK(largest_up > 0);  // it learnt (up starts at zero)
    auto model = load_fixture();
    const double alone = eval_loss(*model, MotionAdapter::load(a), r.seed);
    const double with_lora =
        eval_loss(*model, std::make_shared<MotionAdapter>(MotionAdapter::infer(merged, "merged"), merged, "merged"), r.seed);
    MESSAGE("fixed-batch loss: module " << alone << ", with its motion LoRA " << with_lora);
    CHECK(with_lora < alone);

    // Applied as any LoRA: a clip changes, and needs the module it was made for.
    model->set_motion_module(a);
    GenerateRequest g = small_generate(8);
    const GenerateResult plain = generate(*model, g);
    g.loras = {{file, 1.0f}};
    const GenerateResult adapted = generate(*model, g);
    int differing = 0;
    for (int f = 0; f < 8; ++f) differing += plain.images[size_t(f)].pixels != adapted.images[size_t(f)].pixels;
    CHECK(differing > 0);

    // Errors: no module to adapt; both LoRAs at once.
    TrainMotionRequest none = small_request(temp_dir("motion-lora-none"));
    none.motion_lora_rank = 2;
    std::string e = error_of([&] { train_motion_module(none); });
    MESSAGE(e);
    CHECK(e.find("a motion LoRA adapts a motion module: give init_from, or a base model with a motion_adapter/ folder") !=
          std::string::npos);
    none.init_from = a;
    none.text_lora_rank = 2;
    CHECK(error_of([&] { train_motion_module(none); }).find("one at a time") != std::string::npos);
}

TEST_CASE("clips of chosen motions: only those motions, the same scenes; training on them differs by motion") {
    const std::vector<world::Motion> chosen{world::Motion::grow, world::Motion::left};
    const ClipBatch all = render_clip_batch(motion_train_base(1), 0, 24, 2, 16);
    const ClipBatch some = render_clip_batch(motion_train_base(1), 0, 24, 2, 16, world::HeldOut::exclude, chosen);
    int grow = 0, left = 0;
    for (size_t i = 0; i < some.motions.size(); ++i) {
        grow += some.motions[i] == world::Motion::grow;
        left += some.motions[i] == world::Motion::left;
        CHECK(world::caption(some.scenes[i]) == world::caption(all.scenes[i]));  // the motion draw is separate
        CHECK(some.captions[i] == clip_caption(some.scenes[i], some.motions[i]));
    }
    CHECK(grow + left == 24);
    CHECK(grow > 0);
    CHECK(left > 0);

    auto module_for = [&](const std::string& motion) {
        TrainMotionRequest r = small_request(temp_dir("only-" + motion));
        r.motions = {motion};
        train_motion_module(r);
        return load_tensors(r.out_dir + "/diffusion_pytorch_model.safetensors");
    };
    const TensorMap to_left = module_for("left"), growing = module_for("grow"), again = module_for("left");
    const std::string key = "down_blocks.0.motion_modules.0.proj_out.weight";
    CHECK(at::equal(to_left.at(key), again.at(key)));
    CHECK_FALSE(at::equal(to_left.at(key), growing.at(key)));
}

TEST_CASE("train_motion_module: bad requests give clear errors") {
    const std::string out = temp_dir("bad");
    TrainMotionRequest r = small_request(out);
    r.base_dir = out + "/no-such-model";
    std::string e = error_of([&] { train_motion_module(r); });
    MESSAGE(e);
    CHECK(e.find(r.base_dir) != std::string::npos);
    CHECK(e.find("not a folder") != std::string::npos);

    fs::create_directories(out + "/empty-model");
    r.base_dir = out + "/empty-model";
    e = error_of([&] { train_motion_module(r); });
    MESSAGE(e);
    CHECK(e.find("cannot load the base model") != std::string::npos);

    r = small_request(out);
    r.heads = 5;
    e = error_of([&] { train_motion_module(r); });
    MESSAGE(e);
    CHECK(e.find("32 channels, not divisible into 5 heads") != std::string::npos);

    r = small_request(out);
    r.frames = 40;
    CHECK(error_of([&] { train_motion_module(r); }).find("frames must be 2..32") != std::string::npos);

    r = small_request(out);
    r.min_timestep = 1000;
    CHECK(error_of([&] { train_motion_module(r); }).find("min_timestep must be 0..999, found 1000") != std::string::npos);

    r = small_request(out);
    r.motions = {"left", "sideways"};
    e = error_of([&] { train_motion_module(r); });
    MESSAGE(e);
    CHECK(e.find("unknown motion 'sideways' (known: left, right, up, down, grow, shrink") != std::string::npos);

    const CliRun cli = run_cli("train-motion --base '" + out + "/nowhere' --out '" + out + "/x' --steps 1");
    MESSAGE(cli.output);
    CHECK(cli.code != 0);
    CHECK(cli.output.find("nowhere' is not a folder") != std::string::npos);
    fs::remove_all(out);
}

TEST_CASE("atelier-cli train-motion: progress lines and a loadable folder") {
    const std::string out = temp_dir("cli");
    const CliRun cli = run_cli("train-motion --base '" + kBase + "' --out '" + out +
                               "' --steps 2 --frames 8 --batch 1 --clips 2 --frame-size 32 --checkpoint-every 1");
    INFO(cli.output);
    REQUIRE(cli.code == 0);
    CHECK(cli.output.find("train       2/2") != std::string::npos);
    CHECK(cli.output.find("done: " + out) != std::string::npos);
    auto adapter = MotionAdapter::load(out);
    CHECK(adapter->config().block_out_channels == std::vector<int>{32, 64});
    CHECK(adapter->config().heads == 4);

    // packaging/motion-loras.sh on a model whose motion_adapter/ is that module: per motion a fine-tuning and
    // an extracted LoRA, named by phrase in a folder the loader reads as motion words.
    const std::string model_dir = temp_dir("model-with-motion"), words = temp_dir("motion-words");
    fs::create_directories(model_dir);
    for (const char* part : {"model_index.json", "scheduler", "text_encoder", "tokenizer", "unet", "vae"})
        fs::create_symlink(fs::path(kBase) / part, fs::path(model_dir) / part);
    fs::create_directory_symlink(out, fs::path(model_dir) / "motion_adapter");
    const std::string script = std::string(ATELIER_SOURCE_DIR) + "/packaging/motion-loras.sh";
    const std::string command = "ATELIER_CLI='" + std::string(ATELIER_CLI_PATH) + "' MOTIONS='left,colour change' RANK=2 WORK='" +
                                temp_dir("motion-work") + "' bash '" + script + "' '" + model_dir + "' '" + words +
                                "' --steps 1 --frames 8 --batch 1 --clips 1 --frame-size 32 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    REQUIRE(pipe);
    std::string log;
    std::array<char, 4096> buffer{};
    for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0;) log.append(buffer.data(), n);
    INFO(log);
    REQUIRE(pclose(pipe.release()) == 0);
    CHECK(fs::is_regular_file(words + "/left.safetensors"));
    CHECK(fs::is_regular_file(words + "/colour_change.safetensors"));
    const auto model = load_fixture();
    model->set_motion_module(words);
    CHECK(model->info().motion_phrases == std::vector<std::string>{"moving to the left", "changing colour"});
    fs::remove_all(out);
}
