// Gradient checkpointing (activation recomputation) for the training loops.
#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace atelier {

// fn(x, extra) without keeping fn's intermediate activations for the backward pass: the backward pass runs
// fn again with gradients on and back-propagates through that (the reentrant scheme of PyTorch's
// torch.utils.checkpoint). Same gradients, a block's activations instead of all of them in memory, about
// one more forward in time. Gradients reach x, extra (either may be undefined or not require them) and
// every leaf tensor fn reads (its weights, LoRA and rank-1 parameters). fn must be deterministic (no
// dropout) and must not change x or extra in place. Outside grad mode it is a plain call.
using RecomputedBlock = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& extra)>;
at::Tensor recompute_in_backward(RecomputedBlock fn, const at::Tensor& x, const at::Tensor& extra);

}  // namespace atelier
