// The judges' network (internal): four conv3x3-ReLU-maxpool stages and a two-layer head over the 4x4 map
// (a plain VGG-style CNN, Simonyan & Zisserman 2015) for 64x64 inputs of any channel count. The attribute
// and motion classifiers are this network with different inputs and heads.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>

#include "personalize/trainer.h"
#include "runtime/tensors.h"

namespace atelier {

struct SmallCnnShape {
    std::array<int64_t, 5> channels;  // input, then the four stages'
    int64_t hidden = 256;
    int64_t logits = 0;
};

// torch.nn's default initialisation, each tensor from its own generator (seed and name).
TensorMap small_cnn_init(const SmallCnnShape& shape, uint64_t seed);
// `weights` checked against the architecture (every tensor present with its shape), as float32; errors
// start with `what` ("motion classifier").
TensorMap small_cnn_checked(TensorMap weights, const SmallCnnShape& shape, const std::string& what);
// Writes the weights (safetensors, float32).
void small_cnn_save(const TensorMap& weights, const std::string& path);
// x [B, channels[0], 64, 64] -> logits [B, logits] (differentiable in the weights).
at::Tensor small_cnn_forward(const TensorMap& weights, const at::Tensor& x);

// How both judges train: AdamW, short warmup, cosine down to 2 %, gradients clipped at 2.
OptimizerOptions small_cnn_optimizer(double lr, int64_t steps);

}  // namespace atelier
