// atelier-cli concept train|list|show|export|import|convert, and the --concept / --lora / --embedding
// options of generate: enroll a concept from a folder of pictures, keep it in the store, use it.
#include <algorithm>
#include <fstream>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <unistd.h>

#include "atelier/concepts.h"
#include "atelier/engine.h"
#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/store.h"
#include "atelier/system.h"
#include "commands.h"

namespace fs = std::filesystem;

namespace atelier::cli {
namespace {

CancelToken g_train_cancel;
extern "C" void on_train_sigint(int) {
    g_train_cancel.cancel();
    std::signal(SIGINT, SIG_DFL);
}

std::optional<Concept> find_concept(Store& store, const std::string& name_or_id) {
    for (const Concept& c : store.list_concepts(0))
        if (c.name == name_or_id || std::to_string(c.id) == name_or_id) return c;
    return std::nullopt;
}

std::string method_name(const std::string& method) {
    if (method == "ti" || method == "textual_inversion") return "textual_inversion";
    if (method == "lora" || method == "rank1") return method;
    throw Error("--method: '" + method + "' (expected ti, lora or rank1)");
}

// "NAME:0.8" -> (NAME, 0.8); the part after the last ':' is a strength only when it is a number.
std::pair<std::string, std::string> split_suffix(const std::string& text) {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return {text, ""};
    return {text.substr(0, colon), text.substr(colon + 1)};
}

float parse_strength(const std::string& text, const std::string& what) {
    try {
        size_t used = 0;
        const float v = std::stof(text, &used);
        if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    throw Error(what + ": strength '" + text + "' is not a number");
}

// The pictures of a folder, sorted by name.
std::vector<fs::path> picture_paths(const std::string& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw Error("--images: " + dir + " is not a folder");
    std::vector<fs::path> paths;
    for (const auto& entry : fs::directory_iterator(dir)) {
        std::string ext = entry.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp") paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) throw Error("--images: no .png/.jpg pictures in " + dir);
    return paths;
}

std::vector<Image> read_image_folder(const std::string& dir) {
    std::vector<Image> images;
    for (const fs::path& p : picture_paths(dir)) images.push_back(read_image(p.string(), 3));
    return images;
}

// Kohya-style captions: PICTURE.txt beside each picture of `dir` (in read_image_folder's order), the concept
// written as {} or as its token. None: the templates. Some but not all, or one without the concept: an error.
std::vector<std::string> read_caption_files(const std::string& dir, const std::string& token) {
    std::vector<std::string> captions;
    std::vector<std::string> missing;
    for (const fs::path& p : picture_paths(dir)) {
        fs::path txt = p;
        txt.replace_extension(".txt");
        std::ifstream in(txt);
        if (!in) {
            missing.push_back(txt.filename().string());
            continue;
        }
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        try {
            captions.push_back(concept_caption(text, token));
        } catch (const Error& e) {
            throw Error(txt.string() + ": " + e.what());
        }
    }
    if (captions.empty()) return {};
    if (!missing.empty())
        throw Error("--images: captions for some pictures only (no " + missing.front() + "); give one per picture or none");
    return captions;
}

std::string concepts_dir(const GlobalOptions& global) {
    const fs::path dir = fs::path(open_store(global)->data_dir()) / "concepts";
    fs::create_directories(dir);
    return dir.string();
}

std::string safe_file_name(const std::string& name) {
    std::string out;
    for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
    return out.empty() ? "concept" : out;
}

void print_file_info(const ConceptFileInfo& info) {
    std::cout << "path     " << info.path << "\n"
              << "method   " << info.method << " (" << info.format << ")\n"
              << "token    " << info.token << (info.class_word.empty() ? "" : "  (class: " + info.class_word + ")") << "\n"
              << "size     " << info.size_bytes << " bytes, " << info.parameters << " values\n";
    if (info.vectors) std::cout << "vectors  " << info.vectors << "\n";
    if (info.rank) std::cout << "rank     " << info.rank << "\n";
    if (info.layers) std::cout << "layers   " << info.layers << "\n";
    if (info.motion) std::cout << "motion   a motion LoRA: on the motion modules, for clips (needs the module it was made for)\n";
}

struct TrainOptions {
    std::string name, token, class_word, method = "lora", images, class_images, out, model;
    float prior_weight = 1.0f;
    int64_t steps = 0;
    double lr = 0;
    int rank = 4, vectors = 1, batch = 4, size = 0;
    float alpha = 0;
    bool lora_text_encoder = false;
    bool gradient_checkpointing = false;
    bool attention_only = false;
    uint64_t seed = 1;
    bool no_flip = false, resume = false, quiet = false;
};

}  // namespace

std::function<void(GenerateRequest&)> add_concept_use_options(CLI::App& cmd, GlobalOptions& global) {
    struct Uses {
        std::vector<std::string> concepts, loras, embeddings;
        std::string lora_dir, gate;
    };
    auto u = std::make_shared<Uses>();
    cmd.add_option("--concept", u->concepts, "a stored concept (name or id) or concept file, NAME[:strength] (repeatable)");
    cmd.add_option("--lora", u->loras, "a LoRA file (kohya or diffusers/PEFT keys; an AnimateDiff motion LoRA applies to clips), FILE[:strength] (repeatable)");
    cmd.add_option("--embedding", u->embeddings, "a textual-inversion file, FILE[:TOKEN] (repeatable)");
    cmd.add_option("--gate", u->gate, "rank-1 concepts: gate BIAS[:TEMPERATURE] (higher bias: follows the prompt more)");
    cmd.add_option("--lora-dir", u->lora_dir, "where <lora:name:w> in the prompt is looked up (default: DATA/loras)");
    return [u, &global](GenerateRequest& request) {
        for (const std::string& text : u->concepts) {
            auto [name, suffix] = split_suffix(text);
            ConceptSpec spec;
            if (!suffix.empty()) spec.strength = parse_strength(suffix, "--concept " + text);
            std::error_code ec;
            if (fs::is_regular_file(name, ec)) {
                spec.path = name;
            } else {
                auto store = open_store(global);
                const auto c = find_concept(*store, name);
                if (!c) throw Error("--concept: no stored concept named '" + name + "' and no such file (see: atelier-cli concept list)");
                if (c->artifact_path.empty()) throw Error("--concept: concept '" + name + "' has no trained file yet (status " + c->status + ")");
                spec.path = c->artifact_path;
                spec.token = c->trigger_token;
            }
            if (!u->gate.empty()) {
                auto [bias, temperature] = split_suffix(u->gate);
                spec.gate_bias = parse_strength(bias, "--gate");
                if (!temperature.empty()) spec.gate_temperature = parse_strength(temperature, "--gate");
            }
            request.concepts.push_back(spec);
        }
        for (const std::string& text : u->loras) {
            auto [path, suffix] = split_suffix(text);
            LoraSpec spec{path, 1.0f};
            if (!suffix.empty()) spec.strength = parse_strength(suffix, "--lora " + text);
            request.loras.push_back(spec);
        }
        for (const std::string& text : u->embeddings) {
            std::error_code ec;
            auto [path, token] = split_suffix(text);
            if (fs::is_regular_file(text, ec)) path = text, token.clear();
            request.embeddings.push_back({path, token});
        }
        request.lora_dir = u->lora_dir;
        const char* env = std::getenv("ATELIER_DATA_DIR");
        const std::string base = !global.data_dir.empty() ? global.data_dir : env ? std::string(env) : std::string();
        if (request.lora_dir.empty() && !base.empty()) request.lora_dir = (fs::path(base) / "loras").string();
    };
}

void add_concept_commands(CLI::App& app, GlobalOptions& global) {
    CLI::App* concept_cmd = app.add_subcommand("concept", "enroll concepts (train), list, show, export, import, convert");
    concept_cmd->require_subcommand(1);

    // ---- train
    {
        auto o = std::make_shared<TrainOptions>();
        auto* train = concept_cmd->add_subcommand("train", "learn a concept from a folder of pictures");
        train->add_option("--name", o->name, "the concept's name in the store (created or updated)");
        train->add_option("--token", o->token, "the new word, e.g. <my-mug>")->required();
        train->add_option("--class", o->class_word, "its class word, e.g. mug (TI/rank-1 start from it; rank-1 locks keys to it)");
        train->add_option("--method", o->method, "lora, ti or rank1 (default lora: LoCon, the method that learns a new shape on the embedded model)");
        train->add_option("--images", o->images,
                          "folder of .png/.jpg pictures (3-20); PICTURE.txt beside each captions it, the concept as "
                          "{} or the token (then no mirroring: a caption's left/right would be wrong)")
            ->required();
        train->add_option("--class-images", o->class_images, "prior preservation: a folder of pictures of the class");
        train->add_option("--prior-weight", o->prior_weight, "weight of the class pictures' loss (default 1)");
        train->add_option("--out", o->out, "the artifact (default: DATA/concepts/NAME-METHOD.safetensors)");
        train->add_option("--model", o->model, "diffusers folder or .safetensors (default: the embedded model)");
        train->add_option("--steps", o->steps, "training steps (default: TI 400, LoRA 300, rank-1 300)");
        train->add_option("--lr", o->lr, "learning rate (default: TI/rank-1 5e-3, LoRA 1e-3)");
        train->add_option("--rank", o->rank, "LoRA rank (default 4)");
        train->add_option("--alpha", o->alpha, "LoRA alpha (default: the rank)");
        train->add_flag("--lora-text-encoder", o->lora_text_encoder,
                        "LoRA: also train adapters on the text encoder's attention (lora_te_* keys)");
        train->add_flag("--attention-only", o->attention_only,
                        "LoRA: adapters on the attention projections only, not also on the resnet convolutions (LoCon)");
        train->add_flag("--gradient-checkpointing", o->gradient_checkpointing,
                        "recompute the UNet's activations in the backward pass: less memory, one more forward");
        train->add_option("--vectors", o->vectors, "TI vectors per token (default 1)");
        train->add_option("--batch", o->batch, "pictures per step (default 4)");
        train->add_option("--size", o->size, "training size in pixels (default: the model's)");
        train->add_option("--seed", o->seed, "seed (default 1)");
        train->add_flag("--no-flip", o->no_flip, "do not train on mirrored pictures (text, asymmetric subjects)");
        train->add_flag("--resume", o->resume, "continue from OUT.ckpt (written every 100 steps and on Ctrl+C)");
        train->add_flag("-q,--quiet", o->quiet, "no progress line");
        train->callback([o, &global] {
            const std::string method = method_name(o->method);
            if (method != "lora" && o->class_word.empty()) throw Error("--class is required for --method " + o->method);
            TrainConceptRequest q;
            q.method = method;
            q.images = read_image_folder(o->images);
            q.captions = read_caption_files(o->images, o->token);
            if (!o->class_images.empty()) q.class_images = read_image_folder(o->class_images);
            q.prior_weight = o->prior_weight;
            q.token = o->token;
            q.class_word = o->class_word;
            q.steps = o->steps;
            q.lr = o->lr;
            q.rank = o->rank;
            q.alpha = o->alpha;
            q.lora_text_encoder = o->lora_text_encoder;
            q.gradient_checkpointing = o->gradient_checkpointing;
            q.lora_convolutions = !o->attention_only;
            q.vectors = o->vectors;
            q.batch = o->batch;
            q.width = q.height = o->size;
            q.seed = o->seed;
            q.flip = !o->no_flip && q.captions.empty();
            q.resume = o->resume;
            const std::string stem = safe_file_name(o->name.empty() ? o->token : o->name) + "-" + o->method;
            q.out_path = o->out.empty() ? (fs::path(concepts_dir(global)) / (stem + ".safetensors")).string() : o->out;
            const bool tty = isatty(2) != 0;
            q.on_progress = [o, tty](const TrainConceptProgress& p) {
                if (o->quiet) return;
                if (!tty && p.step % 10 != 0 && p.step != p.total) return;
                std::cerr << (tty ? "\r" : "") << "step " << p.step << "/" << p.total << "  loss " << std::fixed
                          << std::setprecision(4) << p.loss_avg << "  " << std::setprecision(2) << p.step_seconds
                          << " s/step  ETA " << std::setprecision(0) << p.eta_seconds << " s   " << (tty ? "" : "\n")
                          << std::flush;
            };
            g_train_cancel.reset();
            q.cancel = &g_train_cancel;

            LoadOptions load;
            load.path = o->model.empty() ? default_model_dir() : o->model;
            if (load.path.empty()) throw Error("no --model given and no embedded default model found");
            load.device = "cpu";
            const std::shared_ptr<Model> model = Model::load(load);

            std::unique_ptr<Store> store;
            std::optional<Concept> row;
            if (!o->name.empty()) {
                store = open_store(global);
                row = find_concept(*store, o->name);
                if (!row) {
                    Concept c;
                    c.name = o->name;
                    c.trigger_token = o->token;
                    c.class_word = o->class_word;
                    c.method = method;
                    c.id = store->create_concept(c);
                    row = store->concept_by_id(c.id);
                }
                row->status = "training";
                row->method = method;
                row->trigger_token = o->token;
                row->class_word = o->class_word;
                store->update_concept(*row);
            }
            std::signal(SIGINT, on_train_sigint);
            TrainConceptResult r;
            try {
                r = train_concept(*model, q);
            } catch (...) {
                std::signal(SIGINT, SIG_DFL);
                if (row) {
                    row->status = "failed";
                    store->update_concept(*row);
                }
                throw;
            }
            std::signal(SIGINT, SIG_DFL);
            if (!o->quiet) std::cerr << "\n";
            std::ostringstream metrics;
            metrics << "{\"steps\": " << r.steps << ", \"seconds\": " << r.seconds << ", \"loss\": " << r.loss_avg
                    << ", \"eval_loss_before\": " << r.eval_loss_before << ", \"eval_loss_after\": " << r.eval_loss_after
                    << ", \"artifact_bytes\": " << r.artifact_bytes << ", \"trained_parameters\": " << r.trained_parameters << "}";
            std::ostringstream settings;
            settings << "{\"method\": \"" << method << "\", \"steps\": " << q.steps << ", \"lr\": " << q.lr << ", \"rank\": "
                     << q.rank << ", \"vectors\": " << q.vectors << ", \"batch\": " << q.batch << ", \"seed\": " << q.seed
                     << ", \"flip\": " << (q.flip ? "true" : "false") << "}";
            if (row) {
                row->status = r.cancelled ? "draft" : "ready";
                row->metrics_json = metrics.str();
                row->training_settings_json = settings.str();
                if (!r.cancelled) row->artifact_path = fs::absolute(q.out_path).string();
                store->update_concept(*row);
            }
            if (r.cancelled) {
                std::cout << "cancelled after " << r.steps << " steps; continue with --resume (checkpoint "
                          << q.out_path << ".ckpt)\n";
                return;
            }
            std::cout << "wrote " << q.out_path << " (" << r.artifact_bytes << " bytes, " << r.trained_parameters
                      << " trained values)\n"
                      << "steps " << r.steps << " in " << std::fixed << std::setprecision(1) << r.seconds << " s; loss on a "
                      << "fixed batch " << std::setprecision(4) << r.eval_loss_before << " -> " << r.eval_loss_after << "\n";
            if (row) std::cout << "concept '" << row->name << "' (id " << row->id << ") is ready: generate --concept "
                               << row->name << " --prompt \"a " << o->token << " ...\"\n";
        });
    }

    // ---- list
    {
        auto* list = concept_cmd->add_subcommand("list", "concepts in the store");
        list->callback([&global] {
            auto store = open_store(global);
            const auto all = store->list_concepts(0);
            if (all.empty()) std::cout << "no concepts (train one: atelier-cli concept train ...)\n";
            for (const Concept& c : all) {
                std::error_code ec;
                const auto bytes = c.artifact_path.empty() ? 0 : fs::file_size(c.artifact_path, ec);
                std::cout << std::setw(4) << c.id << "  " << std::left << std::setw(16) << c.name << " " << std::setw(14)
                          << c.trigger_token << " " << std::setw(18) << c.method << " " << std::setw(9) << c.status
                          << std::right << " " << (ec ? 0 : bytes) << " B  " << c.artifact_path << "\n";
            }
        });
    }

    // ---- delete
    {
        auto which = std::make_shared<std::string>();
        auto* del = concept_cmd->add_subcommand("delete", "remove a stored concept and the file trained for it (an imported file stays where it is)");
        del->add_option("concept", *which, "name or id")->required();
        del->callback([which, &global] {
            auto store = open_store(global);
            const auto c = find_concept(*store, *which);
            if (!c) throw Error("no concept named '" + *which + "' (atelier-cli concept list shows them)");
            store->delete_concept(c->id);
            std::cout << "deleted concept '" << c->name << "' (id " << c->id << ")\n";
        });
    }

    // ---- show
    {
        auto file = std::make_shared<std::string>();
        auto* show = concept_cmd->add_subcommand("show", "what a concept file (or stored concept) holds");
        show->add_option("concept", *file, "a file, or a stored concept's name or id")->required();
        show->callback([file, &global] {
            std::error_code ec;
            std::string path = *file;
            if (!fs::is_regular_file(path, ec)) {
                auto store = open_store(global);
                const auto c = find_concept(*store, *file);
                if (!c || c->artifact_path.empty()) throw Error("no concept file or trained concept named '" + *file + "'");
                path = c->artifact_path;
                std::cout << "concept  " << c->name << " (id " << c->id << ", " << c->status << ")\n"
                          << "metrics  " << c->metrics_json << "\n";
            }
            print_file_info(inspect_concept_file(path));
        });
    }

    // ---- export
    {
        auto name = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        auto* exp = concept_cmd->add_subcommand("export", "copy a stored concept's file out (other tools read it as is)");
        exp->add_option("concept", *name, "name or id")->required();
        exp->add_option("-o,--out", *out, "destination .safetensors")->required();
        exp->callback([name, out, &global] {
            auto store = open_store(global);
            const auto c = find_concept(*store, *name);
            if (!c) throw Error("no concept named '" + *name + "' (see: atelier-cli concept list)");
            if (c->artifact_path.empty()) throw Error("concept '" + *name + "' has no trained file (status " + c->status + ")");
            fs::copy_file(c->artifact_path, *out, fs::copy_options::overwrite_existing);
            std::cout << "exported " << c->name << " -> " << *out << " (" << fs::file_size(*out) << " bytes)\n";
        });
    }

    // ---- import
    {
        auto file = std::make_shared<std::string>();
        auto name = std::make_shared<std::string>();
        auto token = std::make_shared<std::string>();
        auto* imp = concept_cmd->add_subcommand("import", "add a TI / LoRA / rank-1 file (made here or elsewhere) to the store");
        imp->add_option("file", *file, ".safetensors")->required();
        imp->add_option("--name", *name, "concept name (default: the file name)");
        imp->add_option("--token", *token, "its word (default: from the file)");
        imp->callback([file, name, token, &global] {
            const ConceptFileInfo info = inspect_concept_file(*file);
            auto store = open_store(global);
            Concept c;
            c.name = name->empty() ? fs::path(*file).stem().string() : *name;
            if (find_concept(*store, c.name)) throw Error("a concept named '" + c.name + "' exists already (use --name)");
            c.trigger_token = token->empty() ? info.token : *token;
            c.class_word = info.class_word;
            c.method = info.method;
            c.status = "ready";
            const std::string dest = (fs::path(concepts_dir(global)) / (safe_file_name(c.name) + ".safetensors")).string();
            fs::copy_file(*file, dest, fs::copy_options::overwrite_existing);
            c.artifact_path = fs::absolute(dest).string();
            c.metrics_json = "{\"imported_from\": \"" + fs::path(*file).filename().string() + "\", \"format\": \"" + info.format + "\"}";
            const int64_t id = store->create_concept(c);
            std::cout << "imported " << info.method << " (" << info.format << ") as concept '" << c.name << "' (id " << id
                      << "), token " << c.trigger_token << "\n";
        });
    }

    // ---- convert
    {
        auto in = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        auto format = std::make_shared<std::string>();
        auto model_path = std::make_shared<std::string>();
        auto* conv = concept_cmd->add_subcommand("convert", "rewrite a TI file as a1111/diffusers, a LoRA as kohya/peft");
        conv->add_option("in", *in, "input .safetensors")->required();
        conv->add_option("out", *out, "output .safetensors")->required();
        conv->add_option("--format", *format, "a1111, diffusers, kohya or peft")->required();
        conv->add_option("--model", *model_path, "the model the LoRA is for (default: the embedded model)");
        conv->callback([=] {
            LoadOptions load;
            load.path = model_path->empty() ? default_model_dir() : *model_path;
            load.device = "cpu";
            const std::shared_ptr<Model> model = Model::load(load);
            convert_concept_file(*model, *in, *out, *format);
            std::cout << "wrote " << *out << "\n";
        });
    }
}

}  // namespace atelier::cli
