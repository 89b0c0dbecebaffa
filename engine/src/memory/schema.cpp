// Schema history. Never edit a released step: add a new one at the end.
#include "memory/schema.h"

#include "atelier/error.h"
#include "memory/sqlite_db.h"

namespace atelier {
namespace {

// v1: the first released schema.
const char* k_v1 = R"SQL(
CREATE TABLE profiles (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL DEFAULT 'designer',
    settings TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL
);
CREATE TABLE assets (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    size_bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    origin TEXT NOT NULL,
    source_name TEXT NOT NULL DEFAULT '',
    thumb_width INTEGER NOT NULL DEFAULT 0,
    thumb_height INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE concepts (
    id INTEGER PRIMARY KEY,
    profile_id INTEGER REFERENCES profiles(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    trigger_token TEXT NOT NULL DEFAULT '',
    class_word TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    training_settings TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    artifact_path TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX concepts_by_profile ON concepts(profile_id);
CREATE TABLE concept_assets (
    concept_id INTEGER NOT NULL REFERENCES concepts(id) ON DELETE CASCADE,
    asset_id INTEGER NOT NULL REFERENCES assets(id),
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (concept_id, asset_id)
) WITHOUT ROWID;
CREATE INDEX concept_assets_by_asset ON concept_assets(asset_id);
CREATE TABLE generations (
    id INTEGER PRIMARY KEY,
    profile_id INTEGER REFERENCES profiles(id) ON DELETE CASCADE,
    asset_id INTEGER REFERENCES assets(id),
    model_id TEXT NOT NULL DEFAULT '',
    model_hash TEXT NOT NULL DEFAULT '',
    model_name TEXT NOT NULL DEFAULT '',
    prompt TEXT NOT NULL DEFAULT '',
    negative_prompt TEXT NOT NULL DEFAULT '',
    effective_prompt TEXT NOT NULL DEFAULT '',
    seed INTEGER NOT NULL DEFAULT 0,
    sampler TEXT NOT NULL DEFAULT '',
    timestep_spacing TEXT NOT NULL DEFAULT '',
    steps INTEGER NOT NULL DEFAULT 0,
    guidance REAL NOT NULL DEFAULT 0,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    clip_skip INTEGER NOT NULL DEFAULT 1,
    strength REAL NOT NULL DEFAULT 1,
    concepts TEXT NOT NULL DEFAULT '[]',
    loras TEXT NOT NULL DEFAULT '[]',
    duration_ms REAL NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL
);
CREATE INDEX generations_by_profile ON generations(profile_id, id);
CREATE INDEX generations_by_asset ON generations(asset_id);
CREATE TABLE queues (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_by INTEGER REFERENCES profiles(id) ON DELETE SET NULL,
    overlap INTEGER NOT NULL DEFAULT 1 CHECK (overlap >= 1),
    created_ms INTEGER NOT NULL
);
CREATE TABLE queue_items (
    id INTEGER PRIMARY KEY,
    queue_id INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    left_asset_id INTEGER NOT NULL REFERENCES assets(id),
    right_asset_id INTEGER NOT NULL REFERENCES assets(id),
    prompt TEXT NOT NULL DEFAULT '',
    gold_choice INTEGER NOT NULL DEFAULT 0,
    decided_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (queue_id, position)
);
CREATE INDEX queue_items_by_left ON queue_items(left_asset_id);
CREATE INDEX queue_items_by_right ON queue_items(right_asset_id);
CREATE TABLE assignments (
    queue_id INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    assigned_ms INTEGER NOT NULL,
    PRIMARY KEY (queue_id, profile_id)
) WITHOUT ROWID;
CREATE TABLE comparisons (
    id INTEGER PRIMARY KEY,
    annotator_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    queue_id INTEGER REFERENCES queues(id) ON DELETE CASCADE,
    queue_item_id INTEGER REFERENCES queue_items(id) ON DELETE CASCADE,
    left_asset_id INTEGER NOT NULL REFERENCES assets(id),
    right_asset_id INTEGER NOT NULL REFERENCES assets(id),
    prompt TEXT NOT NULL DEFAULT '',
    choice INTEGER NOT NULL CHECK (choice BETWEEN 1 AND 4),
    strength INTEGER NOT NULL DEFAULT 0 CHECK (strength BETWEEN 0 AND 3),
    rationale TEXT NOT NULL DEFAULT '',
    decision_ms INTEGER NOT NULL DEFAULT 0,
    session TEXT NOT NULL DEFAULT '',
    is_gold INTEGER NOT NULL DEFAULT 0,
    gold_choice INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    undone_ms INTEGER
);
CREATE INDEX comparisons_by_annotator ON comparisons(annotator_id, queue_id, id);
CREATE INDEX comparisons_by_item ON comparisons(queue_item_id, annotator_id);
CREATE INDEX comparisons_by_left ON comparisons(left_asset_id);
CREATE INDEX comparisons_by_right ON comparisons(right_asset_id);
CREATE TABLE memory_entries (
    id INTEGER PRIMARY KEY,
    profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    weight REAL NOT NULL DEFAULT 1,
    active INTEGER NOT NULL DEFAULT 1,
    source TEXT NOT NULL DEFAULT 'user',
    source_count INTEGER NOT NULL DEFAULT 0,
    concept_id INTEGER REFERENCES concepts(id) ON DELETE SET NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX memory_by_profile ON memory_entries(profile_id, deleted, updated_ms);
CREATE TABLE memory_history (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES memory_entries(id) ON DELETE CASCADE,
    event TEXT NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE', 'RESTORE')),
    actor TEXT NOT NULL CHECK (actor IN ('user', 'learner')),
    old_text TEXT,
    new_text TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX memory_history_by_entry ON memory_history(entry_id, id);
CREATE TABLE memory_entry_sources (
    entry_id INTEGER NOT NULL REFERENCES memory_entries(id) ON DELETE CASCADE,
    comparison_id INTEGER REFERENCES comparisons(id) ON DELETE CASCADE,
    generation_id INTEGER REFERENCES generations(id) ON DELETE CASCADE,
    CHECK ((comparison_id IS NULL) <> (generation_id IS NULL))
);
CREATE INDEX memory_sources_by_entry ON memory_entry_sources(entry_id);
CREATE INDEX memory_sources_by_comparison ON memory_entry_sources(comparison_id);
CREATE INDEX memory_sources_by_generation ON memory_entry_sources(generation_id);
)SQL";

// v2: fitted taste models; memory history learns weights, the active flag and undo, and is
// indexed by profile (filled in from the entries for rows written by v1).
const char* k_v2 = R"SQL(
CREATE TABLE reward_models (
    id INTEGER PRIMARY KEY,
    profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    feature_set TEXT NOT NULL,
    parameters BLOB NOT NULL,
    label_count INTEGER NOT NULL DEFAULT 0,
    heldout_accuracy REAL NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL
);
CREATE INDEX reward_models_by_profile ON reward_models(profile_id, feature_set, id);
ALTER TABLE memory_history ADD COLUMN profile_id INTEGER REFERENCES profiles(id) ON DELETE CASCADE;
ALTER TABLE memory_history ADD COLUMN old_weight REAL;
ALTER TABLE memory_history ADD COLUMN new_weight REAL;
ALTER TABLE memory_history ADD COLUMN old_active INTEGER;
ALTER TABLE memory_history ADD COLUMN new_active INTEGER;
ALTER TABLE memory_history ADD COLUMN undone INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memory_history ADD COLUMN undo_of INTEGER REFERENCES memory_history(id) ON DELETE SET NULL;
UPDATE memory_history SET profile_id = (SELECT profile_id FROM memory_entries e WHERE e.id = memory_history.entry_id);
-- v1 kept no weights in history: the entry's current weight is the best there is.
UPDATE memory_history SET
    old_weight = (SELECT weight FROM memory_entries e WHERE e.id = memory_history.entry_id),
    new_weight = (SELECT weight FROM memory_entries e WHERE e.id = memory_history.entry_id),
    old_active = CASE WHEN event = 'ADD' THEN 0 ELSE 1 END,
    new_active = CASE WHEN event = 'DELETE' THEN 0 ELSE 1 END;
CREATE INDEX memory_history_by_profile ON memory_history(profile_id, id);
)SQL";

// v3: indexes the annotation queries need at a million judgements: open items of a queue in
// order (next_pair), and a queue's live judgements in time order (progress, agreement).
const char* k_v3 = R"SQL(
ALTER TABLE queue_items ADD COLUMN open INTEGER NOT NULL DEFAULT 1;
UPDATE queue_items SET open = CASE
    WHEN gold_choice <> 0 THEN 1
    WHEN decided_count >= (SELECT overlap FROM queues q WHERE q.id = queue_items.queue_id) THEN 0
    ELSE 1 END;
CREATE INDEX queue_items_open ON queue_items(queue_id, position) WHERE open = 1;
CREATE INDEX queue_items_by_decided ON queue_items(queue_id, decided_count);
CREATE INDEX comparisons_by_queue ON comparisons(queue_id, created_ms) WHERE undone_ms IS NULL;
)SQL";

}  // namespace

const std::vector<Migration>& migrations() {
    static const std::vector<Migration> list = {
        {1, "profiles, assets, concepts, generations, queues, comparisons, memory", k_v1},
        {2, "reward models; memory history with weights, active flag and undo", k_v2},
        {3, "open-item and per-queue indexes for next_pair and statistics", k_v3},
    };
    return list;
}

int latest_version() { return int(migrations().size()); }

void migrate(Db& db, int target) {
    if (target < 0) target = latest_version();
    const int found = int(db.query_int("PRAGMA user_version"));
    if (found > target)
        throw Error(db.path() + ": schema version " + std::to_string(found) + " is newer than this Atelier supports (" +
                    std::to_string(target) + "); the database was left untouched - use a newer Atelier");
    if (found == target) return;
    for (;;) {
        // Re-read inside the write lock: another process may be migrating the same file.
        Transaction transaction(db);
        const int version = int(db.query_int("PRAGMA user_version"));
        if (version >= target) {
            transaction.commit();
            return;
        }
        const Migration& step = migrations()[size_t(version)];
        db.exec(step.sql);
        db.exec("PRAGMA user_version = " + std::to_string(step.to_version));
        transaction.commit();
    }
}

}  // namespace atelier
