// labels: fast
// The shared trainer: AdamW against hand-computed torch.optim.AdamW steps, clipping, warmup + cosine, EMA,
// exact resume from a checkpoint; default initialisation; gradients through the engine's UNet and VAE.
// ATen before doctest: libtorch's glog defines its own CHECK macro, which must not replace doctest's.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <vector>
#include <unistd.h>

#include "personalize/base_model.h"
#include "personalize/trainer.h"
#include "runtime/recompute.h"
#include "temp_dir.h"

using namespace atelier;

namespace {

TensorMap one_param(float value) { return {{"w", at::full({1, 1}, value)}}; }

void set_grad(Trainer& t, float g) { t.params().at("w").mutable_grad() = at::full({1, 1}, g); }

}  // namespace

TEST_CASE("AdamW matches torch.optim.AdamW on two hand-computed steps") {
    OptimizerOptions o;
    o.lr = 0.1;
    o.weight_decay = 0.01;
    o.clip_grad_norm = 0;
    o.total_steps = 1000;
    o.min_lr_ratio = 1.0;  // constant lr
    Trainer t(one_param(1.0f), o);
    set_grad(t, 0.5f);
    t.apply();
    // p = 1 * (1 - 0.1 * 0.01) = 0.999; m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25 -> p -= 0.1 * 0.5 / 0.5
    CHECK(t.params().at("w").item<float>() == doctest::Approx(0.899).epsilon(1e-6));
    set_grad(t, -1.0f);
    t.apply();
    // m = 0.9 * 0.05 - 0.1 = -0.055, v = 0.999 * 0.00025 + 0.001 = 0.00124975
    // m^ = -0.055 / 0.19 = -0.289474, v^ = 0.00124975 / 0.001999 = 0.625188
    const double p1 = 0.899 * (1 - 0.001);
    const double expected = p1 - 0.1 * (-0.055 / 0.19) / (std::sqrt(0.00124975 / 0.001999) + 1e-8);
    CHECK(t.params().at("w").item<float>() == doctest::Approx(expected).epsilon(1e-6));
    CHECK(t.step() == 2);
}

TEST_CASE("gradient clipping scales the global norm and the schedule warms up then decays") {
    OptimizerOptions o;
    o.lr = 1.0;
    o.warmup_steps = 10;
    o.total_steps = 110;
    o.min_lr_ratio = 0.1;
    o.clip_grad_norm = 1.0;
    o.weight_decay = 0;
    Trainer t(one_param(0.0f), o);
    CHECK(t.learning_rate(0) == doctest::Approx(0.1));
    CHECK(t.learning_rate(9) == doctest::Approx(1.0));
    CHECK(t.learning_rate(60) == doctest::Approx(0.1 + 0.9 * 0.5));
    CHECK(t.learning_rate(110) == doctest::Approx(0.1));
    set_grad(t, 10.0f);
    CHECK(t.apply() == doctest::Approx(10.0));
    // Adam's first step moves by lr regardless of the gradient's scale: clipping shows in the moments.
    const TensorMap saved_path_check = t.params();
    CHECK(saved_path_check.at("w").item<float>() == doctest::Approx(-0.1).epsilon(1e-5));
}

TEST_CASE("the running loss is the weighted mean of the losses seen, not pulled toward the first one") {
    OptimizerOptions o;
    o.lr = 0.01;
    o.total_steps = 200;
    Trainer trainer(one_param(1.0f), o);
    TrainLoopOptions loop;
    loop.total_steps = 200;
    loop.checkpoint_every = 0;
    std::vector<double> averages;
    loop.on_progress = [&](const TrainProgress& p) { averages.push_back(p.loss_avg); };
    // A first step that happens to be easy (0.1), then the usual loss 1.0.
    run_training(trainer, loop, [&](int64_t step) {
        set_grad(trainer, 0.0f);
        return step == 0 ? 0.1 : 1.0;
    });
    REQUIRE(averages.size() == 200);
    CHECK(averages[0] == doctest::Approx(0.1));
    // Step 2: weights 0.98 and 1 on 0.1 and 1.0, normalised: (0.098 + 1) / 1.98.
    CHECK(averages[1] == doctest::Approx((0.98 * 0.1 + 1.0) / 1.98));
    CHECK(averages[10] == doctest::Approx(0.926).epsilon(0.002));  // started at the first loss it would read 0.27
    CHECK(averages[199] == doctest::Approx(1.0).epsilon(0.001));
}

TEST_CASE("a checkpoint resumes exactly: 3 + 2 steps equal 5 steps") {
    const TempDir dir("trainer");
    const std::string path = dir / "checkpoint.st";
    OptimizerOptions o;
    o.lr = 0.05;
    o.total_steps = 5;
    o.warmup_steps = 2;
    o.ema_decay = 0.9;
    const TensorMap init = {{"a", at::linspace(-1, 1, 6).view({2, 3})}, {"b", at::ones({3})}};
    const at::Tensor target = at::arange(6, at::kFloat).view({2, 3});
    auto step = [&](Trainer& t) {
        const at::Tensor loss = (t.params().at("a") * t.params().at("b") - target).pow(2).sum();
        loss.backward();
        t.apply();
    };
    Trainer straight(init, o);
    for (int i = 0; i < 5; ++i) step(straight);
    Trainer first(init, o);
    for (int i = 0; i < 3; ++i) step(first);
    first.save(path, {{"note", at::full({1}, 42.0f)}});
    Trainer resumed(init, o);
    const TensorMap extra = resumed.load(path);
    CHECK(resumed.step() == 3);
    CHECK(extra.at("note").item<float>() == 42.0f);
    for (int i = 0; i < 2; ++i) step(resumed);
    for (const char* name : {"a", "b"}) {
        CHECK(at::equal(resumed.params().at(name), straight.params().at(name)));
        CHECK(at::equal(resumed.ema().at(name), straight.ema().at(name)));
    }
    CHECK_FALSE(at::equal(straight.ema().at("a"), straight.params().at("a")));
}

TEST_CASE("default initialisation follows torch.nn: kaiming-uniform bounds, unit norms, zero conv_out") {
    const BaseModelConfigs c = base_model_configs();
    const TensorMap unet = init_unet_weights(c.unet, 1);
    CHECK(unet.at("conv_out.weight").abs().max().item<float>() == 0.0f);
    CHECK(at::equal(unet.at("conv_norm_out.weight"), at::ones({64})));
    const at::Tensor w = unet.at("conv_in.weight");  // fan_in 4 * 3 * 3
    CHECK(w.abs().max().item<float>() <= 1.0f / 6.0f);
    CHECK(w.abs().max().item<float>() > 0.9f / 6.0f);
    CHECK(at::equal(init_unet_weights(c.unet, 1).at("conv_in.weight"), w));       // same seed, same weights
    CHECK_FALSE(at::equal(init_unet_weights(c.unet, 2).at("conv_in.weight"), w));
    const TensorMap text = init_clip_text_weights(c.text, 1);
    const double sd = text.at("text_model.embeddings.token_embedding.weight").std().item<double>();
    CHECK(sd == doctest::Approx(0.02).epsilon(0.02));
}

TEST_CASE("gradients reach every UNet, VAE and text-encoder weight") {
    BaseModelConfigs c = base_model_configs();
    c.text.num_hidden_layers = 1;
    c.text.vocab_size = 64;
    OptimizerOptions o;
    TensorMap all;
    for (auto& [k, v] : init_unet_weights(c.unet, 3)) all["unet/" + k] = v;
    for (auto& [k, v] : init_vae_weights(c.vae, 3)) all["vae/" + k] = v;
    for (auto& [k, v] : init_clip_text_weights(c.text, 3)) all["text/" + k] = v;
    all["unet/conv_out.weight"].normal_(0, 0.01);  // a zero conv_out stops the gradient of everything before it
    Trainer t(all, o);
    auto part = [&](const std::string& prefix) {
        TensorMap m;
        for (const auto& [k, v] : t.params())
            if (k.rfind(prefix, 0) == 0) m[k.substr(prefix.size())] = v;
        return m;
    };
    const AutoencoderKL vae(c.vae, part("vae/"));
    const UNet2DCondition unet(c.unet, part("unet/"));
    const ClipTextModel text(c.text, part("text/"));
    const at::Tensor images = at::rand({2, 3, 64, 64}) * 2 - 1;
    const at::Tensor latents = vae.encode(images).first;
    const at::Tensor ctx = text.forward(at::randint(0, 64, {2, 77}, at::kLong));
    const at::Tensor eps = unet.forward(latents, at::full({2}, 500, at::kLong), ctx);
    const at::Tensor loss = eps.pow(2).mean() + vae.decode(latents).pow(2).mean();
    loss.backward();
    int missing = 0;
    for (const auto& [k, v] : t.params())
        if (!v.grad().defined()) {
            MESSAGE("no gradient: " << k);
            ++missing;
        }
    CHECK(missing == 0);
    CHECK(std::isfinite(t.apply()));
}

TEST_CASE("recompute_in_backward: the gradients of plain autograd, for both inputs and the weights the block reads") {
    at::manual_seed(3);
    const at::Tensor w = at::randn({6, 5}).requires_grad_();
    const at::Tensor x0 = at::randn({4, 6}), e0 = at::randn({4, 5});
    auto block = [&w](const at::Tensor& x, const at::Tensor& e) { return at::tanh(at::matmul(x, w)) * e + x.sum(); };
    auto grads = [&](bool recompute) {
        const at::Tensor x = x0.clone().requires_grad_(), e = e0.clone().requires_grad_();
        at::Tensor h = recompute ? recompute_in_backward(block, x, e) : block(x, e);
        h = recompute ? recompute_in_backward(block, h.narrow(1, 0, 5).repeat({1, 2}).narrow(1, 0, 6), e)
                      : block(h.narrow(1, 0, 5).repeat({1, 2}).narrow(1, 0, 6), e);   // two blocks in a row
        w.mutable_grad() = at::Tensor();
        h.pow(2).sum().backward();
        return std::vector<at::Tensor>{x.grad(), e.grad(), w.grad()};
    };
    const auto plain = grads(false), recomputed = grads(true);
    for (size_t i = 0; i < plain.size(); ++i) {
        CAPTURE(i);
        REQUIRE(recomputed[i].defined());
        CHECK(at::allclose(recomputed[i], plain[i], 1e-5, 1e-6));
    }
    // Only the weights inside need gradients (LoRA on a frozen model): they still get them.
    w.mutable_grad() = at::Tensor();
    recompute_in_backward(block, x0, e0).sum().backward();
    REQUIRE(w.grad().defined());
    w.mutable_grad() = at::Tensor();
    const at::Tensor expected = (block(x0, e0).sum().backward(), w.grad().clone());
    w.mutable_grad() = at::Tensor();
    recompute_in_backward(block, x0, e0).sum().backward();
    CHECK(at::allclose(w.grad(), expected, 1e-5, 1e-6));
    // Outside grad mode it is the block itself, and an extra input may be absent.
    at::NoGradGuard no_grad;
    CHECK(at::equal(recompute_in_backward(block, x0, e0), block(x0, e0)));
    CHECK(recompute_in_backward([](const at::Tensor& x, const at::Tensor&) { return x * 2; }, x0, at::Tensor()).equal(x0 * 2));
}
