// SQL of the store's hot queries, shared with tests/bench/bench_store.cpp (which prints their plans).
#pragma once
#include <string>

#include "atelier/store.h"

namespace atelier {

// ?1 queue, ?2 annotator, ?3 start after this position. Walks the partial index queue_items_open in
// position order from ?3, so an annotator far ahead of the others does not re-walk their own open items.
inline const char* next_pair_sql() {
    return "SELECT i.id, i.position, i.left_asset_id, i.right_asset_id, i.prompt, i.gold_choice FROM queue_items i"
           " WHERE i.queue_id = ?1 AND i.open = 1 AND i.position > ?3 AND NOT EXISTS (SELECT 1 FROM comparisons c"
           " WHERE c.queue_item_id = i.id AND c.annotator_id = ?2 AND c.undone_ms IS NULL)"
           " ORDER BY i.position LIMIT 1";
}

// ?1 annotator, ?2 queue: the position of the annotator's latest live judgement in the queue.
inline const char* last_position_sql() {
    return "SELECT i.position FROM comparisons c JOIN queue_items i ON i.id = c.queue_item_id"
           " WHERE c.annotator_id = ?1 AND c.queue_id = ?2 AND c.undone_ms IS NULL ORDER BY c.id DESC LIMIT 1";
}

// ?1 profile, ?2 kind, ?3 search, ?4 limit, ?5 offset (only the parameters the filter uses are bound).
inline std::string list_memory_sql(const MemoryFilter& f) {
    std::string sql = "SELECT id, profile_id, kind, text, weight, active, source, source_count, concept_id, deleted,"
                      " created_ms, updated_ms FROM memory_entries WHERE profile_id = ?1";
    if (!f.include_deleted) sql += " AND deleted = 0";
    if (!f.kind.empty()) sql += " AND kind = ?2";
    if (!f.search.empty()) sql += " AND instr(lower(text), lower(?3)) > 0";
    if (f.active_only) sql += " AND active = 1";
    return sql + " ORDER BY updated_ms DESC, id DESC LIMIT ?4 OFFSET ?5";
}

}  // namespace atelier
