#include "runtime/recompute.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace atelier {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The block travels to the backward pass inside the autograd context (a capsule keeps it alive).
struct BlockHolder : torch::CustomClassHolder {
    explicit BlockHolder(RecomputedBlock f) : fn(std::move(f)) {}
    RecomputedBlock fn;
};

struct Recompute : torch::autograd::Function<Recompute> {
    // `anchor` requires grad, so that the output does even when neither x nor extra do: the weights the block
    // reads (LoRA's) are not inputs autograd can see, and it would otherwise never call backward.
    static at::Tensor forward(AutogradContext* ctx, c10::intrusive_ptr<BlockHolder> block, const at::Tensor& anchor,
                              const at::Tensor& x, const c10::optional<at::Tensor>& extra) {
        const at::Tensor e = extra.value_or(at::Tensor());
        ctx->saved_data["block"] = c10::IValue::make_capsule(block);
        ctx->saved_data["has_extra"] = e.defined();
        ctx->save_for_backward({x, e.defined() ? e : at::Tensor()});
        at::NoGradGuard no_grad;
        return block->fn(x, e);
    }

    static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
        const auto block = c10::static_intrusive_pointer_cast<BlockHolder>(ctx->saved_data["block"].toCapsule());
        const variable_list saved = ctx->get_saved_variables();
        auto fresh = [](const at::Tensor& t) {
            return t.defined() ? t.detach().requires_grad_(t.requires_grad()) : at::Tensor();
        };
        const at::Tensor x = fresh(saved[0]);
        const at::Tensor extra = ctx->saved_data["has_extra"].toBool() ? fresh(saved[1]) : at::Tensor();
        at::Tensor out;
        {
            at::AutoGradMode grad_on(true);
            out = block->fn(x, extra);
        }
        if (out.requires_grad()) torch::autograd::backward({out}, {grad_outputs[0]});
        auto grad_of = [](const at::Tensor& t) { return t.defined() && t.requires_grad() ? t.grad() : at::Tensor(); };
        return {at::Tensor(), at::Tensor(), grad_of(x), grad_of(extra)};
    }
};

}  // namespace

at::Tensor recompute_in_backward(RecomputedBlock fn, const at::Tensor& x, const at::Tensor& extra) {
    if (!at::GradMode::is_enabled()) return fn(x, extra);
    const at::Tensor anchor = at::empty({0}, x.options().dtype(at::kFloat)).requires_grad_();
    return Recompute::apply(c10::make_intrusive<BlockHolder>(std::move(fn)), anchor, x,
                            extra.defined() ? c10::optional<at::Tensor>(extra) : c10::nullopt);
}

}  // namespace atelier
