// SD-1.5-size UNet, VAE decoder and CLIP text encoder with random weights (no download): seconds per
// UNet step at 64x64 latents with batch 2 (CFG), VAE decode of one 64x64 latent, text encoding of 2 x 77
// tokens, peak RSS, and the UNet's achieved GFLOP/s against this machine's float32 peak measured in the
// same run (the better of a large matmul and a large 3x3 convolution). FLOPs are counted analytically
// (convolutions, linears, attention; norms and element-wise ops are not counted), and each counted op
// class is also timed on its own with the same shapes to show where a step's time goes.
// On a GPU (--device cuda) the same figures in the chosen dtype, every timing synchronised with the device.
//   bench_sd15 [--steps N] [--threads N] [--device cpu|cuda] [--dtype float32|float16|bfloat16] [--skip-vae] [--skip-text]
//   bench_sd15 --training-memory [--threads N]: one training step of the UNet (its attention projections
//   train, as LoRA's do) at 64x64 latents, batch 1, with and without gradient checkpointing, each in its own
//   process (CPU): seconds and peak resident memory above the weights.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <torch/cuda.h>

#include "models/attention.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif
#ifndef TORCH_VERSION
#define TORCH_VERSION "unknown"
#endif

using namespace atelier;
using Clock = std::chrono::steady_clock;

namespace {

// Where and in what dtype every tensor of the bench lives (--device, --dtype).
at::TensorOptions g_options = at::TensorOptions().dtype(at::kFloat);

at::Tensor randn(at::IntArrayRef sizes) { return at::randn(sizes, g_options); }

// A GPU runs asynchronously: a timing ends when the device has finished.
void sync_device() {
    if (g_options.device().is_cuda()) torch::cuda::synchronize();
}

double seconds_since(Clock::time_point start) {
    sync_device();
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Best of `reps` runs after one warm-up.
double best_time(const std::function<void()>& f, int reps) {
    f();
    double best = 1e30;
    for (int i = 0; i < reps; ++i) {
        sync_device();
        const auto t0 = Clock::now();
        f();
        best = std::min(best, seconds_since(t0));
    }
    return best;
}

// "10.40 s" or, under a second (a GPU), "21.3 ms".
std::string secs(double s) {
    char text[32];
    if (s >= 1.0) std::snprintf(text, sizeof text, "%.2f s", s);
    else std::snprintf(text, sizeof text, "%.1f ms", s * 1e3);
    return text;
}

double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;
}

// ---------------------------------------------------------------- training memory

// Resident memory now and its peak since the last reset (/proc/self/status, MiB); writing 5 to
// /proc/self/clear_refs resets the peak.
double status_mib(const char* field) {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kib = 0;
    const size_t n = std::strlen(field);
    while (std::fgets(line, sizeof line, f))
        if (!std::strncmp(line, field, n)) kib = std::atof(line + n + 1);
    std::fclose(f);
    return kib / 1024.0;
}

struct TrainStep {
    double seconds = 0, weights_mib = 0, peak_above_mib = 0;
};

// In a child process: build the UNet, let its attention projections train, one forward + backward.
TrainStep train_step_in_child(bool checkpointing) {
    int fds[2];
    if (pipe(fds) != 0) return {};
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        const UNetConfig uc;
        UNet2DCondition unet(uc, UNet2DCondition::random_weights(uc, 1));
        unet.for_each_linear([](Linear& l) {
            if (l.name.find(".attn") != std::string::npos) l.weight.requires_grad_(true);
        });
        unet.set_gradient_checkpointing(checkpointing);
        const at::Tensor latents = at::randn({1, 4, 64, 64}), context = at::randn({1, 77, uc.cross_attention_dim});
        const at::Tensor timestep = at::scalar_tensor(500, at::kLong);
        TrainStep r;
        r.weights_mib = status_mib("VmRSS:");
        if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
            std::fputs("5", f);
            std::fclose(f);
        }
        const auto t0 = Clock::now();
        unet.forward(latents, timestep, context).pow(2).mean().backward();
        r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        r.peak_above_mib = status_mib("VmHWM:") - r.weights_mib;
        if (write(fds[1], &r, sizeof r) != ssize_t(sizeof r)) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    TrainStep r;
    if (read(fds[0], &r, sizeof r) != ssize_t(sizeof r)) r = {};
    close(fds[0]);
    waitpid(pid, nullptr, 0);
    return r;
}

int training_memory() {
    std::printf("bench_sd15 --training-memory: SD 1.5 UNet (random weights), 64x64 latents, batch 1, attention "
                "projections train; %d threads, each mode in its own process\n\n", at::get_num_threads());
    std::printf("| mode | forward + backward | peak memory above the weights | weights |\n|---|---|---|---|\n");
    TrainStep kept;
    for (const bool checkpointing : {false, true}) {
        const TrainStep r = train_step_in_child(checkpointing);
        if (r.seconds == 0) {
            std::printf("the child process failed\n");
            return 1;
        }
        if (!checkpointing) kept = r;
        std::printf("| %s | %.1f s | %.0f MiB | %.0f MiB |\n", checkpointing ? "gradient checkpointing" : "activations kept",
                    r.seconds, r.peak_above_mib, r.weights_mib);
        if (checkpointing)
            std::printf("\ncheckpointing: %.2fx the memory above the weights, %.2fx the time\n",
                        r.peak_above_mib / kept.peak_above_mib, r.seconds / kept.seconds);
    }
    return 0;
}

// ---------------------------------------------------------------- analytic op list

struct Conv { int64_t batch, cin, cout, k, stride, h_out, w_out; };       // h_out x w_out output pixels
struct Lin { int64_t rows, in, out; };
struct Attn { int64_t batch, heads, tq, tk, d; };

struct Ops {
    std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>, int> convs;
    std::map<std::tuple<int64_t, int64_t, int64_t>, int> linears;
    std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>, int> attentions;

    void conv(Conv c) { ++convs[{c.batch, c.cin, c.cout, c.k, c.stride, c.h_out, c.w_out}]; }
    void linear(Lin l) { ++linears[{l.rows, l.in, l.out}]; }
    void attention(Attn a) { ++attentions[{a.batch, a.heads, a.tq, a.tk, a.d}]; }

    double conv_flops() const {
        double f = 0;
        for (const auto& [k, n] : convs) {
            const auto [b, ci, co, ks, s, h, w] = k;
            f += n * 2.0 * b * ci * co * ks * ks * h * w;
        }
        return f;
    }
    double linear_flops() const {
        double f = 0;
        for (const auto& [k, n] : linears) f += n * 2.0 * std::get<0>(k) * std::get<1>(k) * std::get<2>(k);
        return f;
    }
    double attention_flops() const {  // q k^T and p v
        double f = 0;
        for (const auto& [k, n] : attentions) {
            const auto [b, h, tq, tk, d] = k;
            f += n * 4.0 * b * h * tq * tk * d;
        }
        return f;
    }
    double total() const { return conv_flops() + linear_flops() + attention_flops(); }
};

void resnet_ops(Ops& ops, int64_t B, int64_t in, int64_t out, int64_t H, int64_t W, int64_t temb) {
    ops.conv({B, in, out, 3, 1, H, W});
    ops.conv({B, out, out, 3, 1, H, W});
    if (in != out) ops.conv({B, in, out, 1, 1, H, W});
    if (temb > 0) ops.linear({B, temb, out});
}

void transformer_ops(Ops& ops, const UNetConfig& c, int64_t B, int64_t C, int64_t H, int64_t W, int64_t T,
                     int heads, int depth) {
    const int64_t N = B * H * W, D = c.cross_attention_dim;
    if (c.use_linear_projection) {
        ops.linear({N, C, C});
        ops.linear({N, C, C});
    } else {
        ops.conv({B, C, C, 1, 1, H, W});
        ops.conv({B, C, C, 1, 1, H, W});
    }
    for (int i = 0; i < depth; ++i) {
        for (int j = 0; j < 4; ++j) ops.linear({N, C, C});  // attn1 q, k, v, out
        ops.attention({B, heads, H * W, H * W, C / heads});
        ops.linear({N, C, C});                              // attn2 q
        ops.linear({B * T, D, C});                          // attn2 k, v
        ops.linear({B * T, D, C});
        ops.attention({B, heads, H * W, T, C / heads});
        ops.linear({N, C, C});                              // attn2 out
        ops.linear({N, C, 8 * C});                          // GEGLU
        ops.linear({N, 4 * C, C});
    }
}

Ops unet_ops(const UNetConfig& c, int64_t B, int64_t H, int64_t W, int64_t T) {
    Ops ops;
    const int64_t temb = c.time_embed_dim(), L = int64_t(c.levels());
    ops.linear({B, c.block_out_channels[0], temb});
    ops.linear({B, temb, temb});
    ops.conv({B, c.in_channels, c.block_out_channels[0], 3, 1, H, W});
    std::vector<std::pair<int64_t, int64_t>> sizes{{H, W}};  // skip sizes
    int64_t out = c.block_out_channels[0], h = H, w = W;
    std::vector<int64_t> skip_channels{out};
    for (int64_t i = 0; i < L; ++i) {
        const int64_t in = out;
        out = c.block_out_channels[size_t(i)];
        for (int j = 0; j < c.layers_per_block; ++j) {
            resnet_ops(ops, B, j == 0 ? in : out, out, h, w, temb);
            if (c.down_has_attention(size_t(i)))
                transformer_ops(ops, c, B, out, h, w, T, c.heads(size_t(i)), c.transformer_layers(size_t(i)));
            skip_channels.push_back(out);
        }
        if (i < L - 1) {
            h = (h + 1) / 2;
            w = (w + 1) / 2;
            ops.conv({B, out, out, 3, 2, h, w});
            skip_channels.push_back(out);
        }
    }
    resnet_ops(ops, B, out, out, h, w, temb);
    transformer_ops(ops, c, B, out, h, w, T, c.heads(size_t(L - 1)), c.transformer_layers(size_t(L - 1)));
    resnet_ops(ops, B, out, out, h, w, temb);
    int64_t prev = out;
    for (int64_t i = 0; i < L; ++i) {
        const size_t level = size_t(L - 1 - i);
        const int64_t up_out = c.block_out_channels[level];
        for (int j = 0; j <= c.layers_per_block; ++j) {
            const int64_t skip = skip_channels.back();
            skip_channels.pop_back();
            resnet_ops(ops, B, (j == 0 ? prev : up_out) + skip, up_out, h, w, temb);
            if (c.up_has_attention(size_t(i)))
                transformer_ops(ops, c, B, up_out, h, w, T, c.heads(level), c.transformer_layers(level));
        }
        if (i < L - 1) {
            h *= 2;
            w *= 2;
            ops.conv({B, up_out, up_out, 3, 1, h, w});
        }
        prev = up_out;
    }
    ops.conv({B, c.block_out_channels[0], c.out_channels, 3, 1, H, W});
    return ops;
}

Ops vae_decoder_ops(const VaeConfig& c, int64_t B, int64_t h, int64_t w) {
    Ops ops;
    const int64_t top = c.block_out_channels.back(), L = int64_t(c.levels());
    ops.conv({B, c.latent_channels, c.latent_channels, 1, 1, h, w});
    ops.conv({B, c.latent_channels, top, 3, 1, h, w});
    auto mid = [&] {
        resnet_ops(ops, B, top, top, h, w, 0);
        for (int j = 0; j < 4; ++j) ops.linear({B * h * w, top, top});
        ops.attention({B, 1, h * w, h * w, top});
        resnet_ops(ops, B, top, top, h, w, 0);
    };
    mid();
    int64_t prev = top;
    for (int64_t i = 0; i < L; ++i) {
        const int64_t out = c.block_out_channels[size_t(L - 1 - i)];
        for (int j = 0; j <= c.layers_per_block; ++j) resnet_ops(ops, B, j ? out : prev, out, h, w, 0);
        if (i < L - 1) {
            h *= 2;
            w *= 2;
            ops.conv({B, out, out, 3, 1, h, w});
        }
        prev = out;
    }
    ops.conv({B, c.block_out_channels[0], c.out_channels, 3, 1, h, w});
    return ops;
}

// Seconds each counted op class takes when run on its own with the model's shapes (channels-last
// convolutions, as the models run them).
struct ClassTimes { double conv = 0, linear = 0, attention = 0; };

ClassTimes time_op_classes(const Ops& ops) {
    ClassTimes t;
    for (const auto& [k, n] : ops.convs) {
        const auto [b, ci, co, ks, s, h, w] = k;
        const int64_t pad = ks / 2, hin = h * s, win = w * s;
        const at::Tensor x = randn({b, ci, hin, win}).contiguous(at::MemoryFormat::ChannelsLast);
        const at::Tensor wt = (randn({co, ci, ks, ks}) * 0.05).contiguous(at::MemoryFormat::ChannelsLast);
        const at::Tensor bias = at::zeros({co}, g_options);
        t.conv += n * best_time([&] { at::conv2d(x, wt, bias, s, pad); }, 1);
    }
    for (const auto& [k, n] : ops.linears) {
        const auto [rows, in, out] = k;
        const at::Tensor x = randn({rows, in}), wt = randn({out, in}) * 0.05, bias = at::zeros({out}, g_options);
        t.linear += n * best_time([&] { at::linear(x, wt, bias); }, 1);
    }
    for (const auto& [k, n] : ops.attentions) {
        const auto [b, h, tq, tk, d] = k;
        const at::Tensor q = randn({b, h, tq, d}), kk = randn({b, h, tk, d}), v = randn({b, h, tk, d});
        t.attention += n * best_time([&] { atelier::attention(q, kk, v, 1.0 / std::sqrt(double(d))); }, 1);
    }
    return t;
}

TensorMap random_clip_weights(const ClipTextConfig& c, uint64_t seed) {
    at::manual_seed(int64_t(seed));
    TensorMap w;
    const int64_t h = c.hidden_size, inter = c.intermediate_size;
    auto weight = [&](const std::string& name, int64_t out, int64_t in) {
        w[name + ".weight"] = at::randn({out, in}) / std::sqrt(double(in));
        w[name + ".bias"] = at::zeros({out});
    };
    auto norm = [&](const std::string& name) {
        w[name + ".weight"] = at::ones({h});
        w[name + ".bias"] = at::zeros({h});
    };
    w["text_model.embeddings.token_embedding.weight"] = at::randn({c.vocab_size, h}) * 0.02;
    w["text_model.embeddings.position_embedding.weight"] = at::randn({c.max_position_embeddings, h}) * 0.01;
    for (int l = 0; l < c.num_hidden_layers; ++l) {
        const std::string p = "text_model.encoder.layers." + std::to_string(l) + ".";
        norm(p + "layer_norm1");
        norm(p + "layer_norm2");
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) weight(p + "self_attn." + proj, h, h);
        weight(p + "mlp.fc1", inter, h);
        weight(p + "mlp.fc2", h, inter);
    }
    norm("text_model.final_layer_norm");
    return w;
}

}  // namespace

int main(int argc, char** argv) {
    int steps = 3, threads = int(std::thread::hardware_concurrency());
    bool skip_vae = false, skip_text = false, training = false;
    std::string device = "cpu", dtype = "float32";
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!std::strcmp(argv[i], "--dtype") && i + 1 < argc) dtype = argv[++i];
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--skip-vae")) skip_vae = true;
        else if (!std::strcmp(argv[i], "--skip-text")) skip_text = true;
        else if (!std::strcmp(argv[i], "--training-memory")) training = true;
    }
    at::set_num_threads(std::max(threads, 1));
    at::globalContext().setFlushDenormal(true);
    if (training) return training_memory();
    const at::ScalarType scalar = dtype == "float16" ? at::kHalf : dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
    g_options = at::TensorOptions().device(c10::Device(device)).dtype(scalar);
    c10::InferenceMode inference;
    std::printf("bench_sd15: %s %s, %d threads, libtorch %s, fused attention kernel: %s\n", device.c_str(),
                dtype.c_str(), at::get_num_threads(), TORCH_VERSION,
                attention_has_fused_kernel() ? "yes" : "no (chunked)");

    // Machine peak: the better of a large matmul (BLAS / cuBLAS) and a large 3x3 convolution (oneDNN / cuDNN).
    const int64_t n = g_options.device().is_cuda() ? 8192 : 4096;
    const at::Tensor a = randn({n, n}), b = randn({n, n});
    const double mm_gflops = 2.0 * double(n) * double(n) * double(n) / best_time([&] { at::mm(a, b); }, 3) / 1e9;
    const at::Tensor cx = randn({2, 320, 64, 64}).contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor cw = (randn({320, 320, 3, 3}) * 0.02).contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor cb = at::zeros({320}, g_options);
    const double conv_gflops =
        2.0 * 2 * 320 * 320 * 9 * 64 * 64 / best_time([&] { at::conv2d(cx, cw, cb, 1, 1); }, 3) / 1e9;
    const double peak = std::max(mm_gflops, conv_gflops);

    // UNet.
    const UNetConfig uc;  // defaults are SD 1.5's config.json
    auto t0 = Clock::now();
    UNet2DCondition unet(uc, UNet2DCondition::random_weights(uc, 1));
    unet.to(g_options.device(), scalar);
    const double unet_build_s = seconds_since(t0);
    const int64_t B = 2, T = 77;
    const at::Tensor latents = randn({B, 4, 64, 64});
    const at::Tensor context = randn({B, T, uc.cross_attention_dim});
    const at::Tensor timestep = at::scalar_tensor(500, at::TensorOptions().dtype(at::kLong).device(g_options.device()));
    unet.forward(latents, timestep, context);  // warm-up (oneDNN primitive creation)
    std::vector<double> step_times;
    for (int i = 0; i < steps; ++i) {
        sync_device();
        t0 = Clock::now();
        const at::Tensor out = unet.forward(latents, timestep, context);
        step_times.push_back(seconds_since(t0));
        if (!out.isfinite().all().item<bool>()) std::printf("warning: non-finite UNet output\n");
    }
    std::sort(step_times.begin(), step_times.end());
    const double unet_s = step_times[step_times.size() / 2];
    const Ops ops = unet_ops(uc, B, 64, 64, T);
    const double unet_gflops = ops.total() / unet_s / 1e9;

    // VAE decoder.
    double vae_s = 0, vae_gflops = 0;
    if (!skip_vae) {
        const VaeConfig vc;
        TensorMap vw = AutoencoderKL::random_weights(vc, 2);
        for (auto it = vw.begin(); it != vw.end();)  // decoder only, as the bench's row says
            it = (it->first.rfind("encoder.", 0) == 0 || it->first.rfind("quant_conv.", 0) == 0) ? vw.erase(it) : ++it;
        AutoencoderKL vae(vc, vw);
        vae.to(g_options.device(), scalar);
        const at::Tensor z = randn({1, 4, 64, 64});
        vae_s = best_time([&] { vae.decode(z); }, 1);
        vae_gflops = vae_decoder_ops(vc, 1, 64, 64).total() / vae_s / 1e9;
    }

    // Text encoder (CLIP ViT-L/14 text tower).
    double text_s = 0;
    if (!skip_text) {
        const ClipTextConfig tc;
        ClipTextModel text(tc, random_clip_weights(tc, 3));
        text.to(g_options.device(), scalar);
        const at::Tensor ids =
            at::randint(0, tc.vocab_size, {2, 77}, at::TensorOptions().dtype(at::kLong).device(g_options.device()));
        text_s = best_time([&] { text.forward(ids); }, 2);
    }
    const double rss = peak_rss_mib();

    // Where the UNet step goes: each counted op class timed alone with the same shapes.
    const ClassTimes ct = time_op_classes(ops);
    const double counted_s = ct.conv + ct.linear + ct.attention;

    std::printf("\n| figure | value |\n|---|---|\n");
    std::printf("| machine peak %s: matmul %lld^2 | %.0f GFLOP/s |\n", dtype.c_str(), (long long)n, mm_gflops);
    std::printf("| machine peak %s: conv 3x3 320->320, 64x64, batch 2 (channels-last) | %.0f GFLOP/s |\n",
                dtype.c_str(), conv_gflops);
    std::printf("| UNet parameters | %.1f M (built in %.1f s) |\n", unet.parameter_count() / 1e6, unet_build_s);
    std::printf("| UNet step, 64x64 latents, batch 2 (CFG), 77 tokens | %s (median of %d; min %s, max %s) |\n",
                secs(unet_s).c_str(), steps, secs(step_times.front()).c_str(), secs(step_times.back()).c_str());
    std::printf("| UNet FLOPs per step (conv %.0f + linear %.0f + attention %.0f) | %.0f GFLOP |\n",
                ops.conv_flops() / 1e9, ops.linear_flops() / 1e9, ops.attention_flops() / 1e9, ops.total() / 1e9);
    std::printf("| UNet achieved | %.0f GFLOP/s = %.0f%% of peak |\n", unet_gflops, 100.0 * unet_gflops / peak);
    if (!skip_vae)
        std::printf("| VAE decode, one 64x64 latent -> 512x512 | %s (%.0f GFLOP/s = %.0f%% of peak) |\n",
                    secs(vae_s).c_str(), vae_gflops, 100.0 * vae_gflops / peak);
    if (!skip_text) std::printf("| text encoding, 2 x 77 tokens (CLIP ViT-L/14 text) | %s |\n", secs(text_s).c_str());
    std::printf("| peak RSS | %.0f MiB |\n", rss);

    std::printf("\nUNet step profile (op classes timed alone with the step's shapes):\n");
    std::printf("| op class | FLOPs | time alone | GFLOP/s | share of step |\n|---|---|---|---|---|\n");
    auto row = [&](const char* name, double flops, double s) {
        std::printf("| %s | %.0f G | %s | %.0f | %.0f%% |\n", name, flops / 1e9, secs(s).c_str(), flops / s / 1e9,
                    100.0 * s / unet_s);
    };
    row("convolutions", ops.conv_flops(), ct.conv);
    row("linears", ops.linear_flops(), ct.linear);
    row("attention (q k^T, softmax, p v)", ops.attention_flops(), ct.attention);
    std::printf("| norms, activations, copies (step - the above) | - | %s | - | %.0f%% |\n",
                secs(std::max(0.0, unet_s - counted_s)).c_str(), 100.0 * std::max(0.0, unet_s - counted_s) / unet_s);
    return 0;
}
