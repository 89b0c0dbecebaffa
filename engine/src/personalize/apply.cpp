// Applying LoRAs, textual inversions and rank-1 edits to one request, and the file utilities of
// atelier/concepts.h (inspect, convert, merge, <lora:...> tags).
#include "personalize/apply.h"

#include <ATen/ATen.h>

#include <cctype>
#include <filesystem>
#include <regex>

#include "atelier/error.h"
#include "io/safetensors.h"
#include "runtime/model_impl.h"

namespace atelier {
namespace fs = std::filesystem;

LoraTargets lora_targets(Model::Impl& model) { return LoraTargets::of(*model.unet, *model.text_encoder); }

std::map<std::string, Linear*> adaptable_linears(UNet2DCondition& unet) {
    std::map<std::string, Linear*> linears;
    unet.for_each_lora_linear([&](Linear& l) { linears[l.name] = &l; });
    return linears;
}

std::string resolve_lora_path(const std::string& name, const std::string& lora_dir) {
    std::error_code ec;
    if (fs::is_regular_file(name, ec)) return name;
    if (!lora_dir.empty()) {
        for (const std::string& candidate : {name, name + ".safetensors"}) {
            const fs::path p = fs::path(lora_dir) / candidate;
            if (fs::is_regular_file(p, ec)) return p.string();
        }
    }
    throw Error("LoRA '" + name + "' not found (neither a file nor " +
                (lora_dir.empty() ? std::string("in a LoRA directory: none set") : "in " + lora_dir) + ")");
}

std::string strip_lora_tags(const std::string& prompt, std::vector<LoraSpec>* found) {
    static const std::regex tag(R"(<lora:([^>:]+)(?::([^>]*))?>)");
    std::string out;
    auto begin = std::sregex_iterator(prompt.begin(), prompt.end(), tag);
    size_t pos = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
        const std::smatch& m = *it;
        out += prompt.substr(pos, size_t(m.position(0)) - pos);
        pos = size_t(m.position(0) + m.length(0));
        LoraSpec spec;
        spec.path = m[1].str();
        if (m[2].matched && !m[2].str().empty()) {
            try {
                size_t used = 0;
                spec.strength = std::stof(m[2].str(), &used);
                if (used != m[2].str().size()) throw std::invalid_argument("trailing");
            } catch (const std::exception&) {
                throw Error("prompt: '" + m[0].str() + "': strength '" + m[2].str() + "' is not a number");
            }
        }
        if (found) found->push_back(spec);
    }
    return out + prompt.substr(pos);
}

namespace {

std::string lowercase(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// `phrase` in `text` as whole words (both lowercase).
bool holds_phrase(const std::string& text, const std::string& phrase) {
    auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    for (size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1)) {
        const size_t end = at + phrase.size();
        if ((at == 0 || !word_char(text[at - 1]) || !word_char(phrase.front())) &&
            (end == text.size() || !word_char(text[end]) || !word_char(phrase.back())))
            return true;
    }
    return false;
}

}  // namespace

std::vector<std::string> motion_phrases_in(const std::string& prompt, const std::vector<std::string>& phrases) {
    const std::string text = lowercase(strip_lora_tags(prompt));
    std::vector<std::string> found;
    for (const std::string& p : phrases)
        if (holds_phrase(text, lowercase(p))) found.push_back(p);
    // "moving up" inside "moving up and down": the longer phrase is the one meant.
    std::vector<std::string> longest;
    for (const std::string& p : found) {
        bool inside_another = false;
        for (const std::string& other : found)
            inside_another = inside_another || (other.size() > p.size() && holds_phrase(lowercase(other), lowercase(p)));
        if (!inside_another) longest.push_back(p);
    }
    return longest;
}

// ---------------------------------------------------------------- AppliedPersonalization

AppliedPersonalization::AppliedPersonalization(Model::Impl& model, const GenerateRequest& request) : m_(model) {
    try {
        std::vector<LoraSpec> loras = request.loras;
        strip_lora_tags(request.prompt, &loras);
        strip_lora_tags(request.negative_prompt, &loras);
        if (!loras.empty()) {
            const LoraTargets targets = lora_targets(m_);
            for (const LoraSpec& spec : loras) {
                if (spec.strength == 0.0f) continue;  // exactly the base model
                add_lora(read_lora(resolve_lora_path(spec.path, request.lora_dir), targets), spec.strength);
            }
        }
        for (const EmbeddingSpec& spec : request.embeddings)
            for (const TextualInversion& ti : read_embeddings(spec.path, spec.token, m_.text_encoder->config().hidden_size))
                add_embedding(ti);
        for (const ConceptSpec& spec : request.concepts) add_concept(spec);
        // The motion module's own LoRA carries the caption's motion words to it: clips only.
        if (request.frames > 1 && m_.motion_text_lora) add_lora(*m_.motion_text_lora, 1.0);
        if (request.frames > 1 && request.motion_words)
            for (const std::string& phrase : motion_phrases_in(request.prompt, m_.info.motion_phrases))
                for (const Model::Impl::MotionWord& w : m_.motion_words)
                    if (w.phrase == phrase) add_lora(*w.lora, w.strength);
    } catch (...) {
        undo();  // what was applied before the failure
        throw;
    }
}

AppliedPersonalization::~AppliedPersonalization() { undo(); }

void AppliedPersonalization::undo() {
    for (auto it = attached_.rbegin(); it != attached_.rend(); ++it) it->first->adapters.resize(it->second);
    attached_.clear();
    for (auto it = merged_.rbegin(); it != merged_.rend(); ++it) *it->first = it->second;
    merged_.clear();
    if (extra_changed_) m_.text_encoder->set_extra_embeddings(old_extra_);
    extra_changed_ = false;
}

const ClipTokenizer& AppliedPersonalization::tokenizer() const { return tokenizer_ ? *tokenizer_ : *m_.tokenizer; }

std::string AppliedPersonalization::prompt(const std::string& text) const {
    std::string out = strip_lora_tags(text);
    for (const auto& [token, vectors] : expansions_) out = expand_token_in_prompt(out, token, vectors);
    return out;
}

bool AppliedPersonalization::is_unet_linear(const std::string& name) {
    if (linears_.empty()) linears_ = adaptable_linears(*m_.unet);
    return linears_.count(name) != 0;
}

Linear& AppliedPersonalization::unet_linear(const std::string& name) {
    is_unet_linear(name);
    const auto it = linears_.find(name);
    if (it == linears_.end()) throw Error("UNet has no linear layer '" + name + "'");
    return *it->second;
}

void AppliedPersonalization::attach(Linear& linear, std::shared_ptr<const LinearAdapter> adapter) {
    attached_.push_back({&linear, linear.adapters.size()});
    linear.adapters.push_back(std::move(adapter));
}

void AppliedPersonalization::merge(at::Tensor& weight, const LoraLayer& layer, double strength) {
    merged_.push_back({&weight, weight});
    weight = weight + lora_delta(layer, strength, weight);
}

void AppliedPersonalization::add_lora(const LoraFile& lora, double strength) {
    if (strength == 0.0) return;
    for (const LoraLayer& layer : lora.layers) {
        if (layer.component == "unet" && is_unet_linear(layer.module)) {
            Linear& l = unet_linear(layer.module);
            if (layer.module.find(".motion_modules.") != std::string::npos) {
                // A motion module's Linears are narrow (320 wide on SD, 64 on atelier-tiny): a rank-32 adapter
                // beside one would cost as much as the layer, on every frame of every step. Merged while applied.
                merge(l.weight, layer, strength);
                continue;
            }
            const at::TensorOptions o = l.weight.options();
            attach(l, std::make_shared<LoraAdapter>(layer.down.to(o), layer.up.to(o), strength * layer.scale()));
        } else if (layer.component == "unet") {  // a convolution (proj_in/out 1x1, LoCon): merged while applied
            if (convs_.empty()) m_.unet->for_each_conv([&](Conv2d& c) { convs_[c.name] = &c; });
            const auto it = convs_.find(layer.module);
            if (it == convs_.end()) throw Error("LoRA file " + lora.path + ": UNet has no convolution '" + layer.module + "'");
            merge(it->second->weight, layer, strength);
        } else {
            at::Tensor* w = m_.text_encoder->find_parameter(layer.module + ".weight");
            if (!w) throw Error("LoRA file " + lora.path + ": text encoder has no '" + layer.module + "'");
            merge(*w, layer, strength);
        }
    }
}

void AppliedPersonalization::add_embedding(const TextualInversion& ti) {
    if (!tokenizer_) tokenizer_ = std::make_unique<ClipTokenizer>(*m_.tokenizer);
    if (!extra_changed_) {
        old_extra_ = m_.text_encoder->extra_embeddings();
        extra_changed_ = true;
    }
    const int64_t vocab = m_.text_encoder->config().vocab_size;
    const int64_t old_rows = old_extra_.defined() ? old_extra_.size(0) : 0;
    const std::vector<std::string> words = expanded_tokens(ti.token, ti.vectors.size(0));
    for (size_t i = 0; i < words.size(); ++i) {
        const size_t before = tokenizer_->vocab_size();
        const int64_t id = tokenizer_->add_token(words[i]);
        if (id < int64_t(before))
            throw Error("embedding token '" + words[i] + "' is already in the vocabulary (id " + std::to_string(id) +
                        "): pick another token");
        const int64_t expected = vocab + old_rows + int64_t(new_rows_.size());
        if (id != expected)
            throw Error("embedding token '" + words[i] + "': tokenizer id " + std::to_string(id) +
                        " does not follow the text encoder's rows (expected " + std::to_string(expected) + ")");
        new_rows_.push_back(ti.vectors[int64_t(i)]);
    }
    expansions_.push_back({ti.token, ti.vectors.size(0)});
    std::vector<at::Tensor> rows;
    if (old_extra_.defined()) rows.push_back(old_extra_.to(at::kFloat).cpu());
    for (const at::Tensor& r : new_rows_) rows.push_back(r.to(at::kFloat).cpu().unsqueeze(0));
    m_.text_encoder->set_extra_embeddings(at::cat(rows, 0));
}

void AppliedPersonalization::add_rank1(const Rank1Edit& edit, double strength, double bias, double temperature) {
    add_embedding({edit.token, edit.embedding});
    if (strength == 0.0) return;
    for (const auto& [attn, value] : edit.values) {
        Linear& to_k = unet_linear(attn + ".to_k");
        Linear& to_v = unet_linear(attn + ".to_v");
        const at::TensorOptions o = to_k.weight.options();
        const at::Tensor input = edit.input.to(o), direction = edit.direction.to(o);
        if (input.size(0) != to_k.weight.size(1) || value.size(0) != to_v.weight.size(0))
            throw Error("rank-1 edit of '" + edit.token + "': '" + attn + "' sizes do not match this model");
        auto make = [&](const Linear& l, const at::Tensor& target) {
            auto a = std::make_shared<GatedRank1Adapter>();
            a->direction = direction;
            a->target = target;
            a->base = at::matmul(l.weight, input);
            a->bias = bias;
            a->temperature = temperature;
            a->strength = strength;
            return a;
        };
        // key locking: o*_K = W_K i_class; values: o*_V = v*
        attach(to_k, make(to_k, at::matmul(to_k.weight, edit.class_input.to(o))));
        attach(to_v, make(to_v, value.to(o)));
    }
}

void AppliedPersonalization::add_concept(const ConceptSpec& spec) {
    const ConceptFileInfo info = inspect_concept_file(spec.path);
    if (info.method == "textual_inversion") {
        for (const TextualInversion& ti : read_embeddings(spec.path, spec.token.empty() ? info.token : spec.token,
                                                          m_.text_encoder->config().hidden_size))
            add_embedding(ti);
    } else if (info.method == "lora") {
        add_lora(read_lora(spec.path, lora_targets(m_)), spec.strength);
    } else {
        Rank1Edit edit = read_rank1(spec.path);
        if (!spec.token.empty()) edit.token = spec.token;
        add_rank1(edit, spec.strength, spec.gate_bias.value_or(float(edit.gate_bias)),
                  spec.gate_temperature.value_or(float(edit.gate_temperature)));
    }
}

// ---------------------------------------------------------------- file utilities

ConceptFileInfo inspect_concept_file(const std::string& path) {
    const auto file = SafetensorsFile::open(path);
    ConceptFileInfo info;
    info.path = path;
    info.metadata = file->metadata();
    std::error_code ec;
    info.size_bytes = int64_t(fs::file_size(path, ec));
    auto meta = [&](const char* key) {
        const auto it = info.metadata.find(key);
        return it == info.metadata.end() ? std::string() : it->second;
    };
    bool kohya = false, peft = false, a1111 = false, rank1 = false, all_motion = true;
    for (const TensorView& t : file->tensors()) {
        info.parameters += t.numel();
        const std::string& k = t.name;
        if (k.rfind("lora_unet_", 0) == 0 || k.rfind("lora_te", 0) == 0) kohya = true;
        else if (k.find(".lora_A.") != std::string::npos || k.find(".lora_B.") != std::string::npos ||
                 k.find(".lora.down.") != std::string::npos || k.find("_lora.down.") != std::string::npos ||
                 k.find("lora_linear_layer") != std::string::npos) peft = true;
        else if (k == "emb_params" || k.rfind("string_to_param.", 0) == 0) a1111 = true;
        else if (k.rfind("values.", 0) == 0 || k == "direction") rank1 = true;
        all_motion = all_motion && k.find("motion_modules") != std::string::npos;
        if (k.size() > 17 && (k.find("lora_down.weight") != std::string::npos || k.find("lora_A") != std::string::npos ||
                              k.find("_lora.down.weight") != std::string::npos) &&
            !t.shape.empty())
            info.rank = std::max<int64_t>(info.rank, t.shape[0]);
    }
    info.token = meta("atelier.token");
    info.class_word = meta("atelier.class_word");
    if (rank1 || meta("atelier.method") == "rank1") {
        info.method = "rank1";
        info.format = "atelier";
        for (const TensorView& t : file->tensors()) info.layers += t.name.rfind("values.", 0) == 0;
    } else if (kohya || peft) {
        info.method = "lora";
        info.format = kohya ? "kohya" : "peft";
        info.motion = all_motion;
        for (const TensorView& t : file->tensors())
            info.layers += t.name.find("lora_down.weight") != std::string::npos ||
                           t.name.find("lora_A.") != std::string::npos || t.name.find(".down.weight") != std::string::npos;
    } else if (!file->tensors().empty()) {
        info.method = "textual_inversion";
        info.format = a1111 ? "a1111" : "diffusers";
        const TensorView& t = file->tensors().front();
        info.vectors = t.shape.size() == 2 ? t.shape[0] : 1;
        if (info.token.empty()) info.token = a1111 ? fs::path(path).stem().string() : t.name;
    } else {
        throw Error(path + ": no tensors: not a concept file");
    }
    return info;
}

void convert_concept_file(Model& model, const std::string& in_path, const std::string& out_path,
                          const std::string& format) {
    const ConceptFileInfo info = inspect_concept_file(in_path);
    if (info.method == "textual_inversion") {
        const auto tis = read_embeddings(in_path, "", 0);
        if (tis.size() != 1) throw Error(in_path + ": holds " + std::to_string(tis.size()) + " tokens; convert needs one");
        TextualInversion ti = tis.front();
        if (!info.token.empty()) ti.token = info.token;
        if (format == "a1111") write_embedding_a1111(out_path, ti, info.metadata);
        else if (format == "diffusers") write_embedding_diffusers(out_path, ti, info.metadata);
        else throw Error("convert: a textual inversion converts to 'a1111' or 'diffusers', not '" + format + "'");
    } else if (info.method == "lora") {
        const LoraFile lora = read_lora(in_path, lora_targets(model.impl()));
        if (format == "kohya") write_lora_kohya(out_path, lora.layers, info.metadata);
        else if (format == "peft") write_lora_peft(out_path, lora.layers, info.metadata);
        else throw Error("convert: a LoRA converts to 'kohya' or 'peft', not '" + format + "'");
    } else {
        throw Error("convert: " + in_path + " is a rank-1 edit; it has one format");
    }
}

void merge_lora(Model& model, const LoraSpec& spec) {
    Model::Impl& m = model.impl();
    const LoraFile lora = read_lora(spec.path, lora_targets(m));
    const std::map<std::string, Linear*> linears = adaptable_linears(*m.unet);
    std::map<std::string, Conv2d*> convs;
    m.unet->for_each_conv([&](Conv2d& c) { convs[c.name] = &c; });
    for (const LoraLayer& layer : lora.layers) {
        at::Tensor* w = layer.component != "unet" ? m.text_encoder->find_parameter(layer.module + ".weight")
                        : linears.count(layer.module) ? &linears.at(layer.module)->weight
                                                      : &convs.at(layer.module)->weight;
        if (!w) throw Error("LoRA file " + spec.path + ": text encoder has no '" + layer.module + "'");
        *w = *w + lora_delta(layer, spec.strength, *w);
    }
}

}  // namespace atelier
