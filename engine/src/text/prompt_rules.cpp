#include "atelier/prompt_rules.h"

#include "atelier/prompt_travel.h"

#include <algorithm>
#include <cctype>

namespace atelier {

namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return text;
}

std::string trim(const std::string& text) {
    const size_t begin = text.find_first_not_of(" \t\r\n,.;");
    if (begin == std::string::npos) return {};
    const size_t end = text.find_last_not_of(" \t\r\n,.;");
    return text.substr(begin, end - begin + 1);
}

// "avoid stripes" -> "stripes" (returns true); "warm colours" -> unchanged (false).
bool strip_negation(std::string& phrase) {
    const std::string low = lower(phrase);
    for (const char* prefix : {"avoid ", "no ", "never ", "without ", "don't use ", "do not use "}) {
        const std::string p = prefix;
        if (low.rfind(p, 0) == 0) {
            phrase = trim(phrase.substr(p.size()));
            return true;
        }
    }
    return false;
}

}  // namespace

EffectivePrompt apply_memory_rules(const std::string& prompt, const std::string& negative_prompt,
                                   const std::vector<MemoryEntry>& entries) {
    EffectivePrompt result{prompt, negative_prompt, {}, {}};
    std::vector<const MemoryEntry*> ordered;
    for (const MemoryEntry& entry : entries) {
        if (entry.active && !entry.deleted && entry.weight > 0 && entry.kind != "concept" && !trim(entry.text).empty())
            ordered.push_back(&entry);
    }
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const MemoryEntry* a, const MemoryEntry* b) { return a->weight > b->weight; });
    for (const MemoryEntry* entry : ordered) {
        std::string phrase = trim(entry->text);
        bool negative = entry->kind == "dislike";
        if (entry->kind == "rule") negative = strip_negation(phrase);
        else if (negative) strip_negation(phrase);  // "dislike: avoid stripes" reads the same
        if (phrase.empty()) continue;
        std::string& target = negative ? result.negative_prompt : result.prompt;
        if (lower(target).find(lower(phrase)) != std::string::npos) continue;
        target = append_to_prompt(target, phrase);
        result.applied_entry_ids.push_back(entry->id);
        result.applied_texts.push_back((negative ? "-" : "+") + phrase);
    }
    return result;
}

}  // namespace atelier
