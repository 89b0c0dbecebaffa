// The editable preference memory: entries, their provenance, and a history row for every change
// (so any change can be undone and any entry's story shown).
#include "atelier/store.h"
#include "memory/queries.h"
#include "memory/store_impl.h"

namespace atelier {
namespace {

const char* actor_name(Actor a) {
    if (a == Actor::user) return "user";
    if (a == Actor::learner) return "learner";
    throw Error("memory change: actor must be user or learner");
}

const char* k_entry_columns = "SELECT id, profile_id, kind, text, weight, active, source, source_count, concept_id, deleted,"
                              " created_ms, updated_ms FROM memory_entries";

MemoryEntry entry_from(const Stmt& s) {
    MemoryEntry e;
    e.id = s.int64(0);
    e.profile_id = s.int64(1);
    e.kind = s.text(2);
    e.text = s.text(3);
    e.weight = s.real(4);
    e.active = s.int64(5) != 0;
    e.source = s.text(6);
    e.source_count = s.int64(7);
    e.concept_id = s.int64(8);
    e.deleted = s.int64(9) != 0;
    e.created_ms = s.int64(10);
    e.updated_ms = s.int64(11);
    return e;
}

const char* k_history_columns = "SELECT id, entry_id, profile_id, event, actor, old_text, new_text, old_weight, new_weight,"
                                " old_active, new_active, created_ms, undone, undo_of FROM memory_history";

MemoryHistoryEvent history_from(const Stmt& s) {
    MemoryHistoryEvent h;
    h.id = s.int64(0);
    h.entry_id = s.int64(1);
    h.profile_id = s.int64(2);
    h.event = s.text(3);
    h.actor = s.text(4) == "learner" ? Actor::learner : Actor::user;
    h.old_text = s.text(5);
    h.new_text = s.text(6);
    h.old_weight = s.real(7);
    h.new_weight = s.real(8);
    h.old_active = s.int64(9) != 0;
    h.new_active = s.int64(10) != 0;
    h.created_ms = s.int64(11);
    h.undone = s.int64(12) != 0;
    h.undo_of = s.int64(13);
    return h;
}

void check_entry(const MemoryEntry& e) {
    require_text_in(e.kind, {"like", "dislike", "rule", "style", "concept"}, "memory entry kind");
    require_text_in(e.source, {"user", "learned", "imported"}, "memory entry source");
    if (e.text.empty()) throw Error("memory entry text: must not be empty");
}

MemoryEntry load_entry(Db& db, int64_t id) {
    Stmt s(db, (std::string(k_entry_columns) + " WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) throw Error(db.path() + ": no memory entry with id " + std::to_string(id));
    return entry_from(s);
}

// One history row: the state before and after a change.
int64_t write_history(Db& db, const MemoryEntry& before, const MemoryEntry& after, const char* event, Actor actor,
                      int64_t undo_of) {
    Stmt s(db, "INSERT INTO memory_history (entry_id, profile_id, event, actor, old_text, new_text, old_weight, new_weight,"
               " old_active, new_active, created_ms, undo_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    const bool existed = std::string(event) != "ADD";
    s.bind(1, after.id).bind(2, after.profile_id).bind(3, event).bind(4, actor_name(actor));
    if (existed) s.bind(5, before.text).bind(7, before.weight).bind(9, before.active && !before.deleted);
    else s.bind_null(5).bind_null(7).bind(9, false);
    s.bind(6, after.text).bind(8, after.weight).bind(10, after.active && !after.deleted);
    s.bind(11, now_ms()).bind_id(12, undo_of).run();
    return db.last_insert_id();
}

void write_entry(Db& db, const MemoryEntry& e) {
    Stmt s(db, "UPDATE memory_entries SET kind = ?, text = ?, weight = ?, active = ?, deleted = ?, updated_ms = ?"
               " WHERE id = ?");
    s.bind(1, e.kind).bind(2, e.text).bind(3, e.weight).bind(4, e.active).bind(5, e.deleted).bind(6, now_ms());
    s.bind(7, e.id).run();
}

}  // namespace

std::vector<MemoryEntry> Store::list_memory(const MemoryFilter& f) {
    const std::string sql = list_memory_sql(f);
    Stmt s(impl_->db, sql.c_str());
    s.bind(1, f.profile_id);
    if (!f.kind.empty()) s.bind(2, f.kind);
    if (!f.search.empty()) s.bind(3, f.search);
    s.bind(4, f.limit).bind(5, f.offset);
    std::vector<MemoryEntry> out;
    while (s.step()) out.push_back(entry_from(s));
    return out;
}

MemoryEntry Store::memory_entry(int64_t id) {
    MemoryEntry e = load_entry(impl_->db, id);
    Stmt s(impl_->db, "SELECT comparison_id, generation_id FROM memory_entry_sources WHERE entry_id = ? ORDER BY rowid");
    s.bind(1, id);
    while (s.step()) {
        if (!s.is_null(0)) e.source_comparison_ids.push_back(s.int64(0));
        if (!s.is_null(1)) e.source_generation_ids.push_back(s.int64(1));
    }
    return e;
}

int64_t Store::add_memory(const MemoryEntry& entry, Actor actor) {
    check_entry(entry);
    actor_name(actor);
    Db& db = impl_->db;
    Transaction t(db);
    const int64_t now = now_ms();
    Stmt s(db, "INSERT INTO memory_entries (profile_id, kind, text, weight, active, source, source_count, concept_id,"
               " deleted, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)");
    s.bind(1, entry.profile_id).bind(2, entry.kind).bind(3, entry.text).bind(4, entry.weight).bind(5, entry.active);
    s.bind(6, entry.source).bind(7, entry.source_count).bind_id(8, entry.concept_id);
    s.bind(9, entry.created_ms ? entry.created_ms : now).bind(10, now).run();
    MemoryEntry stored = entry;
    stored.id = db.last_insert_id();
    stored.deleted = false;
    Stmt src(db, "INSERT INTO memory_entry_sources (entry_id, comparison_id, generation_id) VALUES (?, ?, ?)");
    for (int64_t c : entry.source_comparison_ids) {
        src.reset();
        src.bind(1, stored.id).bind(2, c).bind_null(3).run();
    }
    for (int64_t g : entry.source_generation_ids) {
        src.reset();
        src.bind(1, stored.id).bind_null(2).bind(3, g).run();
    }
    write_history(db, MemoryEntry{}, stored, "ADD", actor, 0);
    t.commit();
    return stored.id;
}

void Store::update_memory(const MemoryEntry& entry, Actor actor) {
    check_entry(entry);
    Db& db = impl_->db;
    Transaction t(db);
    const MemoryEntry before = load_entry(db, entry.id);
    if (before.deleted) throw Error("memory entry " + std::to_string(entry.id) + ": deleted; undo the deletion first");
    MemoryEntry after = before;
    after.kind = entry.kind;
    after.text = entry.text;
    after.weight = entry.weight;
    after.active = entry.active;
    write_entry(db, after);
    write_history(db, before, after, "UPDATE", actor, 0);
    t.commit();
}

void Store::update_memory_sources(int64_t id, int64_t source_count, const std::vector<int64_t>& comparison_ids,
                                  const std::vector<int64_t>& generation_ids) {
    Db& db = impl_->db;
    Transaction t(db);
    load_entry(db, id);  // throws for an unknown id
    Stmt count(db, "UPDATE memory_entries SET source_count = ? WHERE id = ?");
    count.bind(1, source_count).bind(2, id).run();
    Stmt clear(db, "DELETE FROM memory_entry_sources WHERE entry_id = ?");
    clear.bind(1, id).run();
    Stmt src(db, "INSERT INTO memory_entry_sources (entry_id, comparison_id, generation_id) VALUES (?, ?, ?)");
    for (int64_t c : comparison_ids) {
        src.reset();
        src.bind(1, id).bind(2, c).bind_null(3).run();
    }
    for (int64_t g : generation_ids) {
        src.reset();
        src.bind(1, id).bind_null(2).bind(3, g).run();
    }
    t.commit();
}

void Store::set_memory_active(int64_t id, bool active, Actor actor) {
    MemoryEntry e = load_entry(impl_->db, id);
    e.active = active;
    update_memory(e, actor);
}

void Store::delete_memory(int64_t id, Actor actor) {
    Db& db = impl_->db;
    Transaction t(db);
    const MemoryEntry before = load_entry(db, id);
    if (before.deleted) throw Error("memory entry " + std::to_string(id) + ": already deleted");
    MemoryEntry after = before;
    after.deleted = true;
    write_entry(db, after);
    write_history(db, before, after, "DELETE", actor, 0);
    t.commit();
}

std::vector<MemoryHistoryEvent> Store::memory_history(int64_t entry_id) {
    Stmt s(impl_->db, (std::string(k_history_columns) + " WHERE entry_id = ? ORDER BY id").c_str());
    s.bind(1, entry_id);
    std::vector<MemoryHistoryEvent> out;
    while (s.step()) out.push_back(history_from(s));
    return out;
}

std::vector<MemoryHistoryEvent> Store::profile_memory_history(int64_t profile_id, int limit) {
    Stmt s(impl_->db, (std::string(k_history_columns) + " WHERE profile_id = ? ORDER BY id DESC LIMIT ?").c_str());
    s.bind(1, profile_id).bind(2, limit);
    std::vector<MemoryHistoryEvent> out;
    while (s.step()) out.push_back(history_from(s));
    return out;
}

std::optional<MemoryHistoryEvent> Store::undo_memory(int64_t profile_id, int64_t entry_id, Actor actor) {
    Db& db = impl_->db;
    Transaction t(db);
    // The latest change that is neither undone nor itself an undo.
    Stmt s(db, (std::string(k_history_columns) + " WHERE profile_id = ?1 AND (?2 = 0 OR entry_id = ?2) AND undone = 0"
                " AND undo_of IS NULL ORDER BY id DESC LIMIT 1").c_str());
    s.bind(1, profile_id).bind(2, entry_id);
    if (!s.step()) return std::nullopt;
    const MemoryHistoryEvent target = history_from(s);
    const MemoryEntry before = load_entry(db, target.entry_id);
    MemoryEntry after = before;
    const char* event = "UPDATE";
    if (target.event == "ADD") {
        after.deleted = true;
        event = "DELETE";
    } else if (target.event == "DELETE") {
        after.deleted = false;
        event = "RESTORE";
    } else if (target.event == "RESTORE") {
        after.deleted = true;
        event = "DELETE";
    } else {   // UPDATE: back to the old text, weight and active flag
        after.text = target.old_text;
        after.weight = target.old_weight;
        after.active = target.old_active;
    }
    write_entry(db, after);
    const int64_t id = write_history(db, before, after, event, actor, target.id);
    Stmt mark(db, "UPDATE memory_history SET undone = 1 WHERE id = ?");
    mark.bind(1, target.id).run();
    Stmt back(db, (std::string(k_history_columns) + " WHERE id = ?").c_str());
    back.bind(1, id);
    back.step();
    MemoryHistoryEvent written = history_from(back);
    t.commit();
    return written;
}

MemoryProvenance Store::memory_provenance(int64_t entry_id) {
    Db& db = impl_->db;
    MemoryProvenance p;
    Stmt c(db, "SELECT c.id, c.left_asset_id, c.right_asset_id, c.annotator_id, c.prompt, c.choice, c.strength"
               " FROM memory_entry_sources s JOIN comparisons c ON c.id = s.comparison_id WHERE s.entry_id = ? ORDER BY c.id");
    c.bind(1, entry_id);
    while (c.step())
        p.comparisons.push_back({c.int64(0), c.int64(1), c.int64(2), c.int64(3), c.text(4), Choice(c.int64(5)),
                                 int(c.int64(6))});
    Stmt g(db, "SELECT g.id, g.asset_id, g.prompt FROM memory_entry_sources s JOIN generations g ON g.id = s.generation_id"
               " WHERE s.entry_id = ? ORDER BY g.id");
    g.bind(1, entry_id);
    while (g.step()) p.generations.push_back({g.int64(0), g.int64(1), g.text(2)});
    return p;
}

}  // namespace atelier
