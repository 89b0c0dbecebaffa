// Split an original (CompVis/A1111) single-file Stable Diffusion checkpoint into diffusers-named
// UNet and VAE weights, and the text encoder's (internal). Key maps: io/checkpoint_keys.h.
#pragma once
#include <string>
#include <vector>

#include "io/checkpoint_keys.h"
#include "runtime/tensors.h"

namespace atelier {

struct SingleFileComponents {
    TensorMap unet;          // diffusers names
    TensorMap vae;           // diffusers names (mid attention 1x1 convs reshaped to Linear [C, C])
    TensorMap text_encoder;  // ORIGINAL names with the `cond_stage_model.` prefix kept, for
                             // clip_text_weights_from_checkpoint()
    std::vector<std::string> unused;  // keys that belong to none of them (EMA copies, etc.)
};

// Renames and reshapes; tensors are shared (no copies) except the reshaped ones, which are views.
// Throws atelier::Error when the UNet or VAE part is missing, when a UNet/VAE key has no place in the
// inferred layout (naming it), or when a VAE attention weight is not [C, C, 1, 1] or [C, C].
SingleFileComponents split_single_file(const TensorMap& checkpoint);

// name -> shape of every tensor (for the torch-free inference helpers).
ShapeMap shapes_of(const TensorMap& tensors);

}  // namespace atelier
