// labels: fast
// Concepts on the TINY-A fixture: LoRA files in kohya and PEFT keys give the same images, strength 0 is the
// base model, merging equals the run-time delta, textual-inversion files round-trip in both formats, a few
// TI / LoRA / rank-1 training steps lower the diffusion loss (deterministic by seed, resumable), bad files
// give errors naming the key.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <doctest/doctest.h>

#include "engine/cli_test_util.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sys/wait.h>
#include <unistd.h>

#include "atelier/concepts.h"
#include "atelier/engine.h"
#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/world.h"
#include "personalize/apply.h"
#include "personalize/embeddings.h"
#include "personalize/lora.h"
#include "runtime/model_impl.h"
#include "runtime/tensors.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace atelier;

namespace {

const std::string kModel = std::string(ATELIER_FIXTURES_DIR) + "/tiny-sd-a";

std::shared_ptr<Model> load_model() {
    LoadOptions options;
    options.path = kModel;
    options.device = "cpu";
    return Model::load(options);
}

fs::path temp_dir() {
    static const TempDir dir("concepts");
    return dir.path;
}

GenerateRequest base_request(const std::string& prompt = "a photo of a cat") {
    GenerateRequest r;
    r.prompt = prompt;
    r.seed = 7;
    r.steps = 4;
    r.sampler = "ddim";
    r.keep_final_latents = true;
    r.preview_interval = 0;
    return r;
}

at::Tensor latents_of(const GenerateResult& result) {
    const FloatTensor& t = *result.final_latents;
    return at::from_blob(const_cast<float*>(t.data.data()), t.shape, at::kFloat).clone();
}

// Random LoRA layers on a few UNet attention/feed-forward Linears and one text-encoder projection.
std::vector<LoraLayer> random_lora(Model& model) {
    const LoraTargets targets = LoraTargets::of(*model.impl().unet, *model.impl().text_encoder);
    std::vector<LoraLayer> layers;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
    int k = 0;
    auto add = [&](const std::string& component, const std::string& module, std::pair<int64_t, int64_t> f) {
        LoraLayer l;
        l.component = component;
        l.module = module;
        l.down = at::randn({2, f.first}, gen) * 0.3;
        l.up = at::randn({f.second, 2}, gen) * 0.3;
        l.alpha = (k++ % 2) ? 1.0f : 0.0f;  // with and without alpha
        layers.push_back(l);
    };
    for (const auto& [name, f] : targets.unet)
        if (name.find("attn2.to_k") != std::string::npos || name.find("attn1.to_q") != std::string::npos ||
            name.find("ff.net.2") != std::string::npos)
            add("unet", name, f);
    for (const auto& [name, f] : targets.unet_conv)
        if (name.find("proj_in") != std::string::npos) {  // a 1x1 convolution: 4-D factors
            add("unet", name, f);
            layers.back().down = layers.back().down.view({2, f.first, 1, 1});
            layers.back().up = layers.back().up.view({f.second, 2, 1, 1});
        }
    add("text_encoder", "text_model.encoder.layers.1.self_attn.v_proj", targets.text_encoder.at("text_model.encoder.layers.1.self_attn.v_proj"));
    REQUIRE(layers.size() >= 8);
    return layers;
}

std::vector<Image> heart_images(int n) {
    std::vector<Image> images;
    world::SceneAttributes c;
    c.shape = world::Shape::heart;
    c.count = 1;
    for (int i = 0; i < n; ++i) images.push_back(world::render_scene(world::sample_scene(100 + i, world::HeldOut::include, c), 64));
    return images;
}

// A few steps of `method` on `pictures` rendered hearts as "<hrt>" (class word "heart") at 32 px (16x16
// latents: fast), with the method's test learning rate.
TrainConceptRequest small_heart_request(const std::string& method, int64_t steps, uint64_t seed, int pictures = 3) {
    TrainConceptRequest q;
    q.method = method;
    q.images = heart_images(pictures);
    q.token = "<hrt>";
    q.class_word = "heart";
    q.steps = steps;
    q.batch = 2;
    q.width = q.height = 32;
    q.lr = method == "lora" ? 1e-2 : 5e-2;
    q.seed = seed;
    return q;
}

CliRun run_cli_in(const std::string& data_dir, const std::string& args) {
    return run_cli(args, "--threads 1 --data-dir '" + data_dir + "'");
}

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("LoRA: kohya and PEFT files with the same numbers give the same image; strength 0 is the base") {
    auto model = load_model();
    const std::vector<LoraLayer> layers = random_lora(*model);
    const std::string kohya = (temp_dir() / "style_kohya.safetensors").string();
    const std::string peft = (temp_dir() / "style_peft.safetensors").string();
    write_lora_kohya(kohya, layers);
    write_lora_peft(peft, layers);
    CHECK(inspect_concept_file(kohya).format == "kohya");
    CHECK(inspect_concept_file(peft).format == "peft");
    CHECK(inspect_concept_file(peft).method == "lora");
    CHECK(!inspect_concept_file(peft).motion);  // a still model's LoRA

    const GenerateResult base = generate(*model, base_request());
    GenerateRequest r = base_request();
    r.loras = {{kohya, 0.8f}};
    const GenerateResult with_kohya = generate(*model, r);
    r.loras = {{peft, 0.8f}};
    const GenerateResult with_peft = generate(*model, r);
    CHECK(with_kohya.images[0].pixels == with_peft.images[0].pixels);
    CHECK(at::equal(latents_of(with_kohya), latents_of(with_peft)));
    CHECK(relative_l2(latents_of(with_kohya), latents_of(base)) > 1e-3);  // the LoRA does something

    // <lora:name:w> in the prompt, resolved in lora_dir, equals the request field.
    GenerateRequest tagged = base_request("a photo of a cat <lora:style_kohya:0.8>");
    tagged.lora_dir = temp_dir().string();
    const GenerateResult with_tag = generate(*model, tagged);
    CHECK(at::equal(latents_of(with_tag), latents_of(with_kohya)));

    // Strength 0 (field or tag) gives the base model exactly; and nothing stayed applied.
    r.loras = {{kohya, 0.0f}};
    CHECK(at::equal(latents_of(generate(*model, r)), latents_of(base)));
    CHECK(generate(*model, r).images[0].pixels == base.images[0].pixels);
    CHECK(at::equal(latents_of(generate(*model, base_request())), latents_of(base)));
}

TEST_CASE("LoRA: merged into the weights equals the run-time delta") {
    auto model = load_model();
    const std::vector<LoraLayer> layers = random_lora(*model);
    const std::string path = (temp_dir() / "merge.safetensors").string();
    write_lora_kohya(path, layers);
    GenerateRequest r = base_request();
    r.loras = {{path, 0.7f}};
    const at::Tensor runtime = latents_of(generate(*model, r));
    auto merged_model = load_model();
    merge_lora(*merged_model, {path, 0.7f});
    const at::Tensor merged = latents_of(generate(*merged_model, base_request()));
    MESSAGE("merge vs run-time relative L2: " << relative_l2(merged, runtime));
    CHECK(relative_l2(merged, runtime) < 1e-5);
}

TEST_CASE("LoRA: bad files give errors naming the key") {
    auto model = load_model();
    const std::string path = (temp_dir() / "bad.safetensors").string();
    auto message = [&](const TensorMap& tensors) {
        save_tensors(path, tensors);
        GenerateRequest r = base_request();
        r.loras = {{path, 1.0f}};
        try {
            generate(*model, r);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string unknown = message({{"lora_unet_down_blocks_9_attn_to_q.lora_down.weight", at::zeros({2, 32})},
                                         {"lora_unet_down_blocks_9_attn_to_q.lora_up.weight", at::zeros({32, 2})}});
    CHECK(unknown.find("lora_unet_down_blocks_9_attn_to_q.lora_down.weight") != std::string::npos);
    const std::string name = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
    const std::string shape = message({{name + ".lora_A.weight", at::zeros({2, 7})}, {name + ".lora_B.weight", at::zeros({32, 2})}});
    CHECK(shape.find("attn1.to_q") != std::string::npos);
    CHECK(shape.find("[2, 7]") != std::string::npos);
    const std::string missing = message({{name + ".lora_A.weight", at::zeros({2, 32})}});
    CHECK(missing.find("no up") != std::string::npos);
    const std::string strange = message({{"model.something.weight", at::zeros({2, 32})}});
    CHECK(strange.find("model.something.weight") != std::string::npos);
    // the failed request left nothing behind
    CHECK(model->impl().text_encoder->extra_embedding_count() == 0);
}

TEST_CASE("Textual inversion: A1111 and diffusers files round-trip to identical images") {
    auto model = load_model();
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    const TextualInversion ti{"mytok", at::randn({3, 32}, gen)};
    const std::string a1111 = (temp_dir() / "mytok.safetensors").string();
    const std::string diffusers = (temp_dir() / "learned_embeds.safetensors").string();
    write_embedding_a1111(a1111, ti);
    write_embedding_diffusers(diffusers, ti);
    CHECK(inspect_concept_file(a1111).format == "a1111");
    CHECK(inspect_concept_file(a1111).token == "mytok");
    CHECK(inspect_concept_file(diffusers).format == "diffusers");
    CHECK(inspect_concept_file(diffusers).vectors == 3);
    CHECK(expand_token_in_prompt("a mytok cat", "mytok", 3) == "a mytok mytok_1 mytok_2 cat");

    const GenerateResult plain = generate(*model, base_request("a photo of mytok"));
    GenerateRequest r = base_request("a photo of mytok");
    r.embeddings = {{a1111, ""}};
    const GenerateResult from_a1111 = generate(*model, r);
    r.embeddings = {{diffusers, ""}};
    const GenerateResult from_diffusers = generate(*model, r);
    CHECK(at::equal(latents_of(from_a1111), latents_of(from_diffusers)));
    CHECK(from_a1111.images[0].pixels == from_diffusers.images[0].pixels);
    CHECK(relative_l2(latents_of(from_a1111), latents_of(plain)) > 1e-3);

    // converted back and forth: same numbers; a token override renames
    const std::string back = (temp_dir() / "back.safetensors").string();
    convert_concept_file(*model, diffusers, back, "a1111");
    r.embeddings = {{back, "mytok"}};
    CHECK(at::equal(latents_of(generate(*model, r)), latents_of(from_a1111)));
    CHECK(model->impl().text_encoder->extra_embedding_count() == 0);  // removed after each request

    // wrong width: the error names the file and tensor
    save_tensors(back, {{"emb_params", at::zeros({1, 48})}});
    r.embeddings = {{back, ""}};
    try {
        generate(*model, r);
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("emb_params") != std::string::npos);
        CHECK(std::string(e.what()).find("[N, 32]") != std::string::npos);
    }
}

TEST_CASE("Training: a few TI / LoRA / rank-1 steps lower the loss, deterministically; artifacts apply") {
    auto model = load_model();
    for (const std::string method : {"textual_inversion", "lora", "rank1"}) {
        CAPTURE(method);
        TrainConceptRequest q = small_heart_request(method, 8, 3);
        if (method == "lora") {  // with prior preservation: circles for the class word
            world::SceneAttributes c;
            c.shape = world::Shape::circle;
            for (uint64_t i = 0; i < 2; ++i) q.class_images.push_back(world::render_scene(world::sample_scene(300 + i, world::HeldOut::include, c), 64));
        }
        q.out_path = (temp_dir() / (method + ".safetensors")).string();
        const TrainConceptResult a = train_concept(*model, q);
        MESSAGE(method << ": eval loss " << a.eval_loss_before << " -> " << a.eval_loss_after << ", "
                       << a.artifact_bytes << " bytes, " << a.trained_parameters << " parameters, " << a.seconds << " s");
        CHECK(a.steps == 8);
        CHECK(a.eval_loss_after < a.eval_loss_before);
        CHECK(inspect_concept_file(q.out_path).method == method);
        const std::string first = file_bytes(q.out_path);
        train_concept(*model, q);
        CHECK(file_bytes(q.out_path) == first);  // same seed: same artifact

        // the model is untouched, and the artifact changes the image of a prompt with the token
        const GenerateResult base = generate(*model, base_request("a <hrt>"));
        GenerateRequest r = base_request("a <hrt>");
        r.concepts = {{q.out_path, 1.0f, "", {}, {}}};
        const GenerateResult with = generate(*model, r);
        CHECK(relative_l2(latents_of(with), latents_of(base)) > 1e-4);
        if (method == "rank1") {
            // The gate at inference: a bias far above any similarity closes it, which is the edit at strength 0
            // (the learned word embedding only); the stored gate gives another image.
            r.concepts = {{q.out_path, 0.0f, "", {}, {}}};
            const at::Tensor embedding_only = latents_of(generate(*model, r));
            r.concepts = {{q.out_path, 1.0f, "", 1e4f, {}}};
            CHECK(at::equal(latents_of(generate(*model, r)), embedding_only));
            CHECK(relative_l2(latents_of(with), embedding_only) > 1e-6);
        }
    }
}

TEST_CASE("Training: LoRA on the resnet convolutions too (LoCon, the default) writes kohya conv layers that apply") {
    auto model = load_model();
    const GenerateResult base = generate(*model, base_request("a <hrt>"));
    TrainConceptRequest q = small_heart_request("lora", 6, 6);   // LoCon is LoRA's default
    q.out_path = (temp_dir() / "locon.safetensors").string();
    const TrainConceptResult r = train_concept(*model, q);
    CHECK(r.eval_loss_after < r.eval_loss_before);
    const TensorMap file = load_tensors(q.out_path);
    const std::string conv = "lora_unet_down_blocks_0_resnets_0_conv1";
    REQUIRE(file.count(conv + ".lora_down.weight"));
    CHECK(file.at(conv + ".lora_down.weight").sizes() == at::IntArrayRef({4, 32, 3, 3}));
    CHECK(file.at(conv + ".lora_up.weight").sizes() == at::IntArrayRef({32, 4, 1, 1}));
    CHECK(file.at(conv + ".lora_up.weight").abs().max().item<float>() > 0);   // it trained
    CHECK(file.count("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"));
    CHECK(at::equal(latents_of(generate(*model, base_request("a <hrt>"))), latents_of(base)));  // model restored
    GenerateRequest with = base_request("a <hrt>");
    with.loras = {{q.out_path, 1.0f}};
    CHECK(relative_l2(latents_of(generate(*model, with)), latents_of(base)) > 1e-4);
    with.loras = {{q.out_path, 0.0f}};
    CHECK(at::equal(latents_of(generate(*model, with)), latents_of(base)));

    q.lora_convolutions = false;   // the classic LoRA: attention projections only
    q.out_path = (temp_dir() / "attention-only.safetensors").string();
    train_concept(*model, q);
    const TensorMap attention_only = load_tensors(q.out_path);
    CHECK_FALSE(attention_only.count(conv + ".lora_down.weight"));
    CHECK(attention_only.size() < file.size());
}

TEST_CASE("Training: gradient checkpointing trains the same artifact, and is off again afterwards") {
    auto model = load_model();
    for (const std::string method : {"textual_inversion", "lora", "rank1"}) {
        CAPTURE(method);
        TrainConceptRequest q = small_heart_request(method, 4, 5);
        q.out_path = (temp_dir() / (method + "-kept.safetensors")).string();
        const TrainConceptResult kept = train_concept(*model, q);
        q.gradient_checkpointing = true;
        q.out_path = (temp_dir() / (method + "-recomputed.safetensors")).string();
        const TrainConceptResult recomputed = train_concept(*model, q);
        CHECK_FALSE(model->impl().unet->gradient_checkpointing());
        CHECK(recomputed.loss_avg == doctest::Approx(kept.loss_avg).epsilon(1e-5));
        // LoRA trains weights inside the blocks only (no block input needs a gradient); TI and rank-1 send
        // gradients through every block's text input. Summation order differs, and Adam divides by each gradient's running size, so the tiny gradients of
        // LoRA's zero-initialised up matrices turn float rounding into ~1e-3 of the largest value after 4 steps
        // (measured 1.3e-3); a gradient that is wrong or missing is off by order one.
        const double tolerance = method == "lora" ? 5e-3 : 1e-4;
        const TensorMap a = load_tensors((temp_dir() / (method + "-kept.safetensors")).string());
        const TensorMap b = load_tensors(q.out_path);
        REQUIRE(a.size() == b.size());
        for (const auto& [name, tensor] : a) {
            CAPTURE(name);
            REQUIRE(b.count(name));
            if (!at::isFloatingType(tensor.scalar_type()) || tensor.numel() == 0) continue;
            const double scale = std::max(1e-6, tensor.to(at::kDouble).abs().max().item<double>());
            CHECK((b.at(name).to(at::kDouble) - tensor.to(at::kDouble)).abs().max().item<double>() / scale < tolerance);
        }
    }
}

TEST_CASE("Training: LoRA on the text encoder too writes lora_te_ layers and leaves the model as it was") {
    auto model = load_model();
    const GenerateResult before = generate(*model, base_request("a <hrt>"));
    TrainConceptRequest q = small_heart_request("lora", 8, 4);
    q.class_word.clear();   // LoRA needs none
    q.lora_text_encoder = true;
    q.out_path = (temp_dir() / "lora-te.safetensors").string();
    const TrainConceptResult a = train_concept(*model, q);
    CHECK(a.eval_loss_after < a.eval_loss_before);
    const LoraFile file = read_lora(q.out_path, lora_targets(model->impl()));
    int te_layers = 0, te_trained = 0;
    for (const LoraLayer& l : file.layers)
        if (l.component == "text_encoder") {
            ++te_layers;
            te_trained += l.up.abs().max().item<double>() > 0;
        }
    CHECK(te_layers == 4 * model->impl().text_encoder->config().num_hidden_layers);
    CHECK(te_trained == te_layers);  // every adapter learnt something (up starts at zero)
    bool has_te_key = false;
    for (const auto& [key, t] : load_tensors(q.out_path)) has_te_key |= key.rfind("lora_te_", 0) == 0;
    CHECK(has_te_key);
    // Training put the text encoder's own weights back: the base image is bit-identical.
    CHECK(at::equal(latents_of(generate(*model, base_request("a <hrt>"))), latents_of(before)));
    GenerateRequest r = base_request("a <hrt>");
    r.loras = {{q.out_path, 1.0f}};
    CHECK(relative_l2(latents_of(generate(*model, r)), latents_of(before)) > 1e-4);
}

TEST_CASE("Training with a caption per picture: other prompts, another artifact; bad captions are refused") {
    auto model = load_model();
    TrainConceptRequest q = small_heart_request("textual_inversion", 6, 3);
    q.out_path = (temp_dir() / "templates.safetensors").string();
    const TrainConceptResult plain = train_concept(*model, q);
    q.captions = {"a red {} on a plain white background", "a small {} at the top", "{} in the centre"};
    q.out_path = (temp_dir() / "captioned.safetensors").string();
    const TrainConceptResult captioned = train_concept(*model, q);
    CHECK(captioned.steps == 6);
    CHECK(captioned.eval_loss_after < captioned.eval_loss_before);
    CHECK(captioned.eval_loss_before != doctest::Approx(plain.eval_loss_before));  // its prompts are the captions
    CHECK(file_bytes(q.out_path) != file_bytes((temp_dir() / "templates.safetensors").string()));

    q.captions = {"a {}", "a {}"};
    CHECK_THROWS_WITH_AS(train_concept(*model, q), doctest::Contains("2 captions for 3 pictures"), Error);
    q.captions = {"a {}", "a heart", "a {}"};
    CHECK_THROWS_WITH_AS(train_concept(*model, q), doctest::Contains("caption 2 (\"a heart\") has no {}"), Error);
}

TEST_CASE("Training: cancel then resume gives the same artifact as an uninterrupted run") {
    auto model = load_model();
    TrainConceptRequest q = small_heart_request("rank1", 6, 11, 2);
    q.out_path = (temp_dir() / "straight.safetensors").string();
    train_concept(*model, q);
    const std::string straight = file_bytes(q.out_path);

    q.out_path = (temp_dir() / "resumed.safetensors").string();
    CancelToken cancel;
    q.cancel = &cancel;
    q.on_progress = [&](const TrainConceptProgress& p) {
        CHECK(p.total == 6);
        if (p.step == 3) cancel.cancel();
    };
    const TrainConceptResult stopped = train_concept(*model, q);
    CHECK(stopped.cancelled);
    CHECK(stopped.steps == 3);
    CHECK(fs::exists(q.out_path + ".ckpt"));
    cancel.reset();
    q.on_progress = nullptr;
    q.resume = true;
    const TrainConceptResult resumed = train_concept(*model, q);
    CHECK_FALSE(resumed.cancelled);
    CHECK(file_bytes(q.out_path) == straight);
}

TEST_CASE("LoRA: older diffusers spellings (lora.down/up, attention processors) read as the same layers") {
    auto model = load_model();
    const LoraTargets targets = LoraTargets::of(*model->impl().unet, *model->impl().text_encoder);
    const std::string attn = "down_blocks.0.attentions.0.transformer_blocks.0.attn1";
    const at::Tensor down = at::ones({2, 32}), up = at::full({32, 2}, 0.5);
    const LoraFile processor = read_lora("proc", {{"unet." + attn + ".processor.to_out_lora.down.weight", down},
                                                  {"unet." + attn + ".processor.to_out_lora.up.weight", up}}, targets);
    REQUIRE(processor.layers.size() == 1);
    CHECK(processor.layers[0].module == attn + ".to_out.0");
    CHECK(processor.format == "peft");
    const LoraFile old = read_lora("old", {{attn + ".to_q.lora.down.weight", down}, {attn + ".to_q.lora.up.weight", up},
                                           {attn + ".to_q.alpha", at::scalar_tensor(1.0)}}, targets);
    REQUIRE(old.layers.size() == 1);
    CHECK(old.layers[0].module == attn + ".to_q");
    CHECK(old.layers[0].scale() == doctest::Approx(0.5));
    CHECK_THROWS_WITH_AS(read_lora("mixed", {{"lora_unet_" + std::string("x.lora_down.weight"), down}}, targets),
                         doctest::Contains("lora_unet_x.lora_down.weight"), Error);
}

TEST_CASE("CLI: captions beside the pictures (PICTURE.txt) are used; some but not all is an error") {
    const std::string data = (temp_dir() / "cap-data").string();
    const fs::path images = temp_dir() / "cap-images";
    fs::create_directories(images);
    int i = 0;
    for (const Image& image : heart_images(3)) {
        const std::string stem = "h" + std::to_string(i++);
        write_png((images / (stem + ".png")).string(), image);
        if (i < 3) std::ofstream(images / (stem + ".txt")) << "a red <hrt> on a plain white background\n";
    }
    const std::string train = "concept train --token '<hrt>' --class heart --method ti --images '" + images.string() +
                              "' --steps 2 --size 32 --batch 2 -q --model '" + kModel + "' --out '" +
                              (temp_dir() / "cap.safetensors").string() + "'";
    CliRun r = run_cli_in(data, train);
    CHECK(r.code != 0);
    CHECK(r.output.find("captions for some pictures only (no h2.txt)") != std::string::npos);
    std::ofstream(images / "h2.txt") << "a heart";  // neither {} nor the token
    r = run_cli_in(data, train);
    CHECK(r.code != 0);
    CHECK(r.output.find("h2.txt: the caption \"a heart\" names neither {} nor the token <hrt>") != std::string::npos);
    std::ofstream(images / "h2.txt") << "{} in the centre";
    r = run_cli_in(data, train + " --gradient-checkpointing");
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(fs::exists(temp_dir() / "cap.safetensors"));
}

TEST_CASE("CLI: concept train / list / show / export / import, generate --concept and --lora") {
    const std::string data = (temp_dir() / "cli-data").string();
    const fs::path images = temp_dir() / "cli-images";
    fs::create_directories(images);
    int i = 0;
    for (const Image& image : heart_images(3)) write_png((images / ("h" + std::to_string(i++) + ".png")).string(), image);
    const std::string model = "--model '" + kModel + "'";
    CliRun r = run_cli_in(data, "concept train --name hearts --token '<hrt>' --class heart --method ti --images '" +
                                 images.string() + "' --steps 3 --size 32 --batch 2 -q " + model);
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(r.output.find("is ready") != std::string::npos);
    r = run_cli_in(data, "concept list");
    CHECK(r.output.find("hearts") != std::string::npos);
    CHECK(r.output.find("textual_inversion") != std::string::npos);
    CHECK(r.output.find("ready") != std::string::npos);
    r = run_cli_in(data, "concept show hearts");
    CHECK(r.output.find("<hrt>") != std::string::npos);
    const std::string exported = (temp_dir() / "exported.safetensors").string();
    CHECK(run_cli_in(data, "concept export hearts -o '" + exported + "'").code == 0);
    r = run_cli_in(data, "concept import '" + exported + "' --name hearts2");
    CHECK(r.code == 0);
    CHECK(r.output.find("token <hrt>") != std::string::npos);
    const std::string out = (temp_dir() / "cli.png").string();
    r = run_cli_in(data, "generate " + model + " --prompt 'a <hrt>' --steps 2 --concept hearts:1 -q -o '" + out + "'");
    CHECK(r.code == 0);
    CHECK(fs::exists(out));
    r = run_cli_in(data, "generate " + model + " --prompt 'a cat' --steps 2 --lora '" + (temp_dir() / "nothere.safetensors").string() +
                          ":0.5' -q -o '" + out + "'");
    CHECK(r.code != 0);
    CHECK(r.output.find("nothere") != std::string::npos);
    r = run_cli_in(data, "generate " + model + " --prompt 'a cat' --steps 2 --concept nosuch -q -o '" + out + "'");
    CHECK(r.code != 0);
    CHECK(r.output.find("nosuch") != std::string::npos);

    // delete: the trained concept's file goes with it (it lives in DATA/concepts); the export stays.
    r = run_cli_in(data, "concept show hearts");
    const size_t at = r.output.find(data + "/concepts/");
    REQUIRE(at != std::string::npos);
    const std::string trained = r.output.substr(at, r.output.find(".safetensors", at) + 12 - at);
    REQUIRE(fs::exists(trained));
    r = run_cli_in(data, "concept delete hearts");
    CHECK(r.code == 0);
    CHECK(r.output.find("deleted concept 'hearts'") != std::string::npos);
    CHECK_FALSE(fs::exists(trained));
    CHECK(fs::exists(exported));
    r = run_cli_in(data, "concept list");
    CHECK(r.output.find("hearts2") != std::string::npos);
    CHECK(r.output.find("hearts ") == std::string::npos);
    r = run_cli_in(data, "concept delete hearts");
    CHECK(r.code != 0);
    CHECK(r.output.find("no concept named 'hearts'") != std::string::npos);
}
