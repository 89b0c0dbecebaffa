// Attribute classifier: four conv-ReLU-maxpool stages and a two-layer head over the 4x4 map (a plain
// VGG-style CNN, Simonyan & Zisserman 2015), one softmax head per attribute.
#include "personalize/attribute_classifier.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "atelier/error.h"
#include "personalize/base_model.h"
#include "personalize/small_cnn.h"
#include "personalize/trainer.h"

namespace atelier {

namespace {

using namespace atelier::world;

// Heads in logit order: shape, colour, background, background colour, position, count, size, style.
constexpr int kHeads[] = {kShapeCount, kColourCount, kBackgroundCount, kColourCount,
                          kPositionCount, kMaxCount, kSizeCount, kStyleCount};
constexpr int kHeadCount = 8;
constexpr int64_t kLogits = kShapeCount + 2 * kColourCount + kBackgroundCount + kPositionCount + kMaxCount +
                            kSizeCount + kStyleCount;
const SmallCnnShape kShape{{3, 32, 64, 96, 128}, 256, kLogits};

int64_t head_offset(int head) {
    int64_t offset = 0;
    for (int i = 0; i < head; ++i) offset += kHeads[i];
    return offset;
}

std::vector<int64_t> targets_of(const Scene& s) {
    return {int64_t(s.shape), int64_t(s.colour), int64_t(s.background), int64_t(s.background_colour),
            int64_t(s.position), int64_t(s.count - 1), int64_t(s.size), int64_t(s.style)};
}

}  // namespace

void AttributeScores::add(const AttributePrediction& p, const world::Scene& t) {
    ++images;
    shape += p.shape == t.shape;
    colour += p.colour == t.colour;
    background += p.background == t.background;
    background_colour += p.background_colour == t.background_colour;
    position += p.position == t.position;
    count += p.count == t.count;
}

AttributeClassifier::AttributeClassifier(uint64_t seed) : weights_(small_cnn_init(kShape, seed)) {}

AttributeClassifier::AttributeClassifier(TensorMap weights)
    : weights_(small_cnn_checked(std::move(weights), kShape, "attribute classifier")) {}

AttributeClassifier AttributeClassifier::load(const std::string& path) { return AttributeClassifier(load_tensors(path)); }

void AttributeClassifier::save(const std::string& path) const { small_cnn_save(weights_, path); }

at::Tensor AttributeClassifier::logits(const at::Tensor& images) const {
    if (images.dim() != 4 || images.size(1) != 3 || images.size(2) != 64 || images.size(3) != 64)
        throw Error("attribute classifier: expected images [B, 3, 64, 64], found " + shape_string(images.sizes()));
    return small_cnn_forward(weights_, images);
}

at::Tensor AttributeClassifier::loss(const at::Tensor& logits, const std::vector<world::Scene>& truth) const {
    const int64_t B = logits.size(0);
    std::vector<int64_t> flat;
    for (const auto& s : truth) {
        const auto t = targets_of(s);
        flat.insert(flat.end(), t.begin(), t.end());
    }
    const at::Tensor targets = at::tensor(flat, at::kLong).view({B, kHeadCount});
    at::Tensor total;
    for (int h = 0; h < kHeadCount; ++h) {
        const at::Tensor l = at::cross_entropy_loss(logits.narrow(1, head_offset(h), kHeads[h]), targets.select(1, h));
        total = total.defined() ? total + l : l;
    }
    return total;
}

at::Tensor AttributeClassifier::probabilities(const at::Tensor& images) const {
    at::NoGradGuard no_grad;
    const at::Tensor logit = logits(images.to(at::kFloat));
    std::vector<at::Tensor> heads;
    for (int h = 0; h < kHeadCount; ++h) heads.push_back(at::softmax(logit.narrow(1, head_offset(h), kHeads[h]), 1));
    return at::cat(heads, 1);
}

std::vector<std::string> AttributeClassifier::probability_names() {
    std::vector<std::string> out;
    auto add = [&](const std::string& head, const std::vector<std::string>& values) {
        for (const auto& v : values) out.push_back(head + "=" + v);
    };
    add("shape", all_shape_names());
    add("colour", all_colour_names());
    add("background", all_background_names());
    add("bg_colour", all_colour_names());
    add("position", all_position_names());
    add("count", {"1", "2", "3"});
    add("size", all_size_names());
    add("style", all_style_names());
    return out;
}

std::vector<AttributePrediction> AttributeClassifier::predict(const at::Tensor& images) const {
    at::NoGradGuard no_grad;
    const at::Tensor logit = logits(images.to(at::kFloat));
    std::vector<at::Tensor> picks;
    for (int h = 0; h < kHeadCount; ++h) picks.push_back(logit.narrow(1, head_offset(h), kHeads[h]).argmax(1));
    const at::Tensor all = at::stack(picks, 1).contiguous();
    const int64_t* a = all.data_ptr<int64_t>();
    std::vector<AttributePrediction> out(size_t(all.size(0)));
    for (size_t i = 0; i < out.size(); ++i, a += kHeadCount) {
        AttributePrediction& p = out[i];
        p.shape = Shape(a[0]);
        p.colour = Colour(a[1]);
        p.background = Background(a[2]);
        p.background_colour = Colour(a[3]);
        p.position = Position(a[4]);
        p.count = int(a[5]) + 1;
        p.size = Size(a[6]);
        p.style = Style(a[7]);
    }
    return out;
}

std::vector<AttributePrediction> AttributeClassifier::predict(const std::vector<Image>& images) const {
    return predict(images_to_tensor(images));
}

AttributeClassifier AttributeClassifier::train(const ClassifierTrainOptions& o) {
    const OptimizerOptions opt = small_cnn_optimizer(o.lr, o.steps);
    Trainer trainer(AttributeClassifier(o.seed).weights_, opt);
    TrainLoopOptions loop;
    loop.total_steps = o.steps;
    loop.checkpoint_every = 0;
    loop.on_progress = [&](const TrainProgress& p) {
        if (o.on_progress) o.on_progress(p.step, p.total, p.loss_avg);
    };
    run_training(trainer, loop, [&](int64_t step) {
        SceneBatch batch = render_scene_batch(world::derive_seed(o.seed, 0xC1A5ull), step * o.batch, o.batch, 64,
                                              o.held_out);
        // Robust to generated pictures: a quarter blurred, all with a little noise.
        auto gen = at::make_generator<at::CPUGeneratorImpl>(world::derive_seed(o.seed, uint64_t(step)));
        at::Tensor x = batch.images;
        const int64_t q = o.batch / 4;
        if (q > 0) {
            const at::Tensor blurred = at::avg_pool2d(x.narrow(0, 0, q), 3, 1, 1, false, false);
            x = at::cat({blurred, x.narrow(0, q, x.size(0) - q)});
        }
        x = x + 0.04 * at::randn(x.sizes(), gen);
        const AttributeClassifier model(trainer.params());
        at::Tensor l = model.loss(model.logits(x), batch.scenes);
        l.backward();
        return l.item<double>();
    });
    TensorMap out;
    for (const auto& [k, v] : trainer.params()) out[k] = v.detach().clone();
    return AttributeClassifier(std::move(out));
}

}  // namespace atelier
