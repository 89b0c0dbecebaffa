// atelier/prompt_rules.h - how the preference memory changes the next generation's prompt.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "atelier/store.h"

namespace atelier {

struct EffectivePrompt {
    std::string prompt;
    std::string negative_prompt;
    std::vector<int64_t> applied_entry_ids;   // the memory entries that changed the prompt, in order
    std::vector<std::string> applied_texts;   // what each added ("+warm colours", "-stripes")
};

// Active entries of kind "like" and "style" add their text to the prompt; "dislike" adds it to the
// negative prompt; "rule" does either: "avoid X" / "no X" / "never X" go to the negative prompt,
// anything else to the prompt. Entries are applied by descending weight; an entry whose text the
// prompt already contains (case-insensitive) changes nothing; weight <= 0, inactive or deleted
// entries and kind "concept" (facts about a concept) are ignored.
EffectivePrompt apply_memory_rules(const std::string& prompt, const std::string& negative_prompt,
                                   const std::vector<MemoryEntry>& entries);

}  // namespace atelier
