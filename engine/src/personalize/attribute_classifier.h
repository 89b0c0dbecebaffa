// A small CNN that reads a scene's attributes back from a 64x64 picture (internal). Trained from scratch on
// the procedural world's renders and ground truth; it judges generated images (bench_base_model,
// test_base_model): does the picture show the shape, colour, background, position and count its caption asks?
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "atelier/image.h"
#include "atelier/world.h"
#include "runtime/tensors.h"

namespace atelier {

struct AttributePrediction {
    world::Shape shape = world::Shape::circle;
    world::Colour colour = world::Colour::red;
    world::Background background = world::Background::plain;
    world::Colour background_colour = world::Colour::white;
    world::Position position = world::Position::centre;
    int count = 1;
    world::Size size = world::Size::medium;
    world::Style style = world::Style::flat;
};

struct ClassifierTrainOptions {
    int64_t steps = 1500;
    int batch = 64;
    double lr = 2e-3;
    uint64_t seed = 7;
    world::HeldOut held_out = world::HeldOut::include;
    std::function<void(int64_t step, int64_t total, double loss)> on_progress;
};

// Which attributes agree, per attribute; accumulated over many images.
struct AttributeScores {
    int64_t images = 0;
    int64_t shape = 0, colour = 0, background = 0, background_colour = 0, position = 0, count = 0;
    void add(const AttributePrediction& p, const world::Scene& truth);
    double rate(int64_t hits) const { return images ? double(hits) / double(images) : 0.0; }
};

class AttributeClassifier {
public:
    // Random initialisation (torch.nn defaults) from `seed`.
    explicit AttributeClassifier(uint64_t seed = 7);
    explicit AttributeClassifier(TensorMap weights);

    static AttributeClassifier train(const ClassifierTrainOptions& options);
    static AttributeClassifier load(const std::string& path);
    void save(const std::string& path) const;

    // images [B, 3, 64, 64] float32 in [-1, 1] -> logits [B, kLogits] (differentiable in the weights).
    at::Tensor logits(const at::Tensor& images) const;
    std::vector<AttributePrediction> predict(const at::Tensor& images) const;
    std::vector<AttributePrediction> predict(const std::vector<Image>& images) const;
    // Every head's softmax, concatenated in logit order (shape, colour, background, background colour,
    // position, count, size, style): [B, kLogits] rows that sum to 1 per head. Names: probability_names().
    at::Tensor probabilities(const at::Tensor& images) const;
    static std::vector<std::string> probability_names();  // "shape=star", "count=2", "bg_colour=red", ...
    // Cross-entropy summed over the heads, averaged over the batch.
    at::Tensor loss(const at::Tensor& logits, const std::vector<world::Scene>& truth) const;

    TensorMap& weights() { return weights_; }

private:
    TensorMap weights_;
};

}  // namespace atelier
