// CLIP byte-level BPE tokenizer, matching Hugging Face transformers' (v4.35) CLIPTokenizer without ftfy,
// as diffusers' pipelines use it (internal, torch-free).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace atelier {

class ClipTokenizer {
public:
    // vocab.json (token -> id) and merges.txt (one "a b" merge per line, ranked by order; the first
    // line, a "#version" comment, is skipped as transformers does). Throws atelier::Error naming the file.
    static ClipTokenizer from_files(const std::string& vocab_json_path, const std::string& merges_txt_path);
    // `dir`/vocab.json + `dir`/merges.txt (a diffusers `tokenizer/` folder or resources/clip).
    static ClipTokenizer from_dir(const std::string& dir);

    // BOS + tokens + EOS, neither padded nor truncated.
    std::vector<int64_t> encode(const std::string& text) const;
    // Truncated to `max_length` (BOS + first max_length-2 tokens + EOS) and padded with pad_id().
    std::vector<int64_t> encode_padded(const std::string& text, int max_length = 77) const;
    // Tokens of `text` without BOS/EOS.
    std::vector<int64_t> tokenize(const std::string& text) const;

    // Adds a vocabulary entry (textual inversion) like transformers' add_tokens: it is cut out of the
    // raw text before clean-up and BPE (case-sensitive, leftmost-longest, even inside a word) and
    // becomes one id. Returns its id: vocab_size() before the call, or the existing id if the
    // string is already in the vocabulary.
    int64_t add_token(const std::string& token);
    std::optional<int64_t> token_id(const std::string& token) const;
    // The vocabulary string of `id` (with "</w>" markers), or empty if unknown.
    std::string id_to_token(int64_t id) const;
    size_t vocab_size() const;  // including added tokens
    int64_t bos_id() const { return bos_id_; }
    int64_t eos_id() const { return eos_id_; }
    int64_t pad_id() const { return eos_id_; }
    int model_max_length() const { return 77; }

    ClipTokenizer(const ClipTokenizer& other);
    ClipTokenizer& operator=(const ClipTokenizer& other);
    ClipTokenizer(ClipTokenizer&&) noexcept;
    ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
    ~ClipTokenizer();

private:
    ClipTokenizer();
    void bpe(const std::string& word, std::vector<int64_t>& out) const;
    void tokenize_plain(const std::string& text, std::vector<int64_t>& out) const;

    std::unordered_map<std::string, int64_t> encoder_;
    std::vector<std::string> decoder_;
    std::unordered_map<std::string, int> merge_ranks_;  // "left right" -> rank
    std::vector<std::string> added_tokens_;             // added by add_token, longest first
    int64_t bos_id_ = 49406;
    int64_t eos_id_ = 49407;
    // Word -> BPE ids; guarded because encode() is const and may run on several threads.
    mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
    mutable std::unique_ptr<std::mutex> cache_mutex_;
};

}  // namespace atelier
