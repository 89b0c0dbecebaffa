// atelier/store.h - the studio's memory: profiles, assets, concepts, generations, pairwise
// judgements, annotation queues, the editable preference memory and fitted taste models, in one
// SQLite database plus content-addressed image files.
//
//   auto store = atelier::Store::open({});                       // $ATELIER_DATA_DIR / XDG default
//   atelier::Profile me = store->create_profile("ada", "annotator");
//   atelier::AssetInfo a = store->import_asset("cat1.png"), b = store->import_asset("cat2.png");
//   int64_t queue = store->create_queue("cats", me.id, {{a.id, b.id, "a cat"}}, /*overlap=*/1);
//   while (auto pair = store->next_pair(queue, me.id)) {
//       atelier::Judgement j;
//       j.annotator_id = me.id; j.queue_id = queue; j.queue_item_id = pair->item_id;
//       j.choice = atelier::Choice::left; j.strength = 2; j.decision_ms = 1400;
//       store->record_judgement(j);                                // durable when it returns
//   }
//
// Plain structs in, plain structs out; no SQL leaves this API. Times are milliseconds since the
// Unix epoch (UTC); ids are SQLite row ids (0 means "none").
//
// Thread safety: one Store is one database connection; use it from one thread at a time. Open
// another Store (in another thread or process) for concurrent work: writers wait for each other
// (busy timeout) instead of failing. Every multi-row change is one transaction.
//
// Errors: every failure throws atelier::Error naming the database or file and what was wrong.
// A failed call changes nothing that was already stored.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atelier/error.h"
#include "atelier/image.h"

namespace atelier {

struct StoreOptions {
    std::string data_dir;           // empty: atelier::data_dir() ($ATELIER_DATA_DIR, $XDG_DATA_HOME/atelier, ...)
    bool create = true;             // create the directory and database if absent
    bool read_only = false;         // open without writing anything (writes then throw)
    bool durable = true;            // synchronous=FULL: a judgement survives power loss once acknowledged
    int busy_timeout_ms = 5000;     // how long a writer waits for another process's transaction
    int64_t max_page_count = 0;     // > 0: cap the database size (tests simulate a full disk with it)
};

// ---- profiles -----------------------------------------------------------------------------------

struct Profile {
    int64_t id = 0;
    std::string name;               // unique
    std::string role = "designer";  // "designer", "annotator", "presenter", "admin"
    std::string settings_json = "{}";
    int64_t created_ms = 0;
};

// What delete_profile() removed.
struct DeleteReport {
    int64_t comparisons = 0, memory_entries = 0, concepts = 0, generations = 0, queues = 0,
            reward_models = 0, assets = 0;
};

// ---- assets -------------------------------------------------------------------------------------

struct AssetInfo {
    int64_t id = 0;
    std::string sha256;             // of the stored PNG bytes; the file is assets/<2 hex>/<sha256>.png
    int width = 0, height = 0;
    int64_t size_bytes = 0;
    std::string origin;             // "imported", "generated", "reference", "frame"
    std::string source_name;        // the file name it was imported from (informative)
    std::string path;               // absolute path of the stored PNG
    std::string thumbnail_path;     // absolute path of a PNG at most 256 px on its longer side
    int64_t created_ms = 0;
    bool newly_stored = false;      // import_asset(): false when the same picture was already there
};

// ---- concepts -----------------------------------------------------------------------------------

struct Concept {
    int64_t id = 0;
    int64_t profile_id = 0;
    std::string name;
    std::string trigger_token;              // e.g. "<my-cat>"
    std::string class_word;                 // e.g. "cat"
    std::string method = "textual_inversion";  // "textual_inversion", "lora", "rank1"
    std::string status = "draft";           // "draft", "training", "ready", "failed"
    std::string training_settings_json = "{}";
    std::string metrics_json = "{}";
    std::string artifact_path;              // the learned file (embedding, LoRA, edit)
    std::vector<int64_t> reference_asset_ids;
    int64_t created_ms = 0, updated_ms = 0;
};

// ---- generations --------------------------------------------------------------------------------

struct NamedStrength {
    std::string name;
    float strength = 1.0f;
};

// Everything needed to regenerate one image exactly.
struct GenerationRecord {
    int64_t id = 0;
    int64_t profile_id = 0;                 // 0: nobody in particular
    int64_t asset_id = 0;                   // the image (import it first)
    std::string model_id, model_hash, model_name;
    std::string prompt, negative_prompt;
    std::string effective_prompt;           // after memory rules and concept tokens
    uint64_t seed = 0;
    std::string sampler, timestep_spacing;
    int steps = 0;
    float guidance = 0;
    int width = 0, height = 0;
    int clip_skip = 1;
    float strength = 1.0f;                  // img2img strength
    std::vector<NamedStrength> concepts, loras;
    double duration_ms = 0;
    std::string extra_json = "{}";          // anything else worth keeping
    int64_t created_ms = 0;
};

// ---- pairwise judgements and queues ---------------------------------------------------------------

enum class Choice { invalid = 0, left = 1, right = 2, tie = 3, skip = 4 };
const char* to_string(Choice choice);                 // "left", "right", "tie", "skip", "invalid"
Choice parse_choice(const std::string& text);         // throws Error on anything else

// One decision, as the annotator made it (input of record_judgement).
struct Judgement {
    int64_t annotator_id = 0;               // profile
    int64_t queue_id = 0;                   // 0: outside any queue (e.g. picking favourites)
    int64_t queue_item_id = 0;              // if set, the pair, prompt and gold answer come from the item
    int64_t left_asset_id = 0, right_asset_id = 0;
    std::string prompt;
    Choice choice = Choice::invalid;
    int strength = 0;                       // 0 not given, 1 slight, 2 clear, 3 strong
    std::string rationale;
    int64_t decision_ms = 0;                // time the annotator took
    std::string session;                    // free session tag
    bool is_gold = false;
    Choice gold_choice = Choice::invalid;
    int64_t created_ms = 0;                 // 0: now
};

// A stored judgement.
struct Comparison : Judgement {
    int64_t id = 0;
    bool undone = false;
    int64_t undone_ms = 0;
};

struct QueuePairInput {
    int64_t left_asset_id = 0, right_asset_id = 0;
    std::string prompt;
    Choice gold_choice = Choice::invalid;   // set: a gold item, shown to every annotator
};

struct QueueInfo {
    int64_t id = 0;
    std::string name;
    int64_t created_by = 0;                 // profile
    int overlap = 1;                        // decided judgements wanted per pair (from distinct annotators)
    int64_t total_items = 0;
    int64_t created_ms = 0;
};

// The pair to show next.
struct QueuePair {
    int64_t queue_id = 0, item_id = 0, position = 0;
    int64_t left_asset_id = 0, right_asset_id = 0;
    std::string prompt;
    bool is_gold = false;
};

struct QueueProgress {
    int64_t total_items = 0;
    int64_t done_items = 0;                 // items with `overlap` decided judgements
    int64_t judgements = 0;                 // not undone (all annotators, or the one asked for)
    int64_t remaining_for_annotator = 0;    // items next_pair() could still return to that annotator
    double judgements_per_minute = 0;       // recent pace: the last 500, gaps over 5 minutes capped (breaks)
};

// ---- agreement ----------------------------------------------------------------------------------

struct AnnotatorAgreement {
    int64_t profile_id = 0;
    std::string name;
    int64_t judgements = 0;                 // not undone, skips included
    int64_t decided = 0;                    // left, right or tie
    int64_t majority_items = 0;             // items with a strict majority among >= 2 others
    double with_majority = 0;               // share of those where this annotator chose the majority's choice
    int64_t gold_items = 0;
    double with_gold = 0;                   // share of gold items answered as the gold answer
    double judgements_per_minute = 0;
};

struct AgreementStats {
    int64_t items = 0;                      // pairs with >= 2 decided judgements
    double alpha_choice = 0;                // Krippendorff's alpha, nominal, over left/right/tie (skips excluded)
    double alpha_strength = 0;              // interval alpha over signed strength (-s left, 0 tie, +s right)
    int64_t strength_items = 0;
    std::vector<AnnotatorAgreement> annotators;
};

enum class AlphaLevel { nominal = 1, interval = 2 };
// Krippendorff's alpha over units (pairs); each unit lists the values its coders gave (missing
// values left out). Units with fewer than two values are not pairable and are ignored.
// Returns NaN when there is no variation at all (alpha undefined).
double krippendorff_alpha(const std::vector<std::vector<double>>& units, AlphaLevel level);

// ---- preference memory --------------------------------------------------------------------------

struct MemoryEntry {
    int64_t id = 0;
    int64_t profile_id = 0;
    std::string kind = "rule";              // "like", "dislike", "rule", "style", "concept"
    std::string text;
    double weight = 1.0;
    bool active = true;
    std::string source = "user";            // "user", "learned", "imported"
    int64_t source_count = 0;               // learned from N comparisons
    int64_t concept_id = 0;                 // for kind "concept"
    bool deleted = false;                   // deleted entries are kept (undo, history)
    int64_t created_ms = 0, updated_ms = 0;
    // Provenance given to add_memory(): the comparisons/generations it was learned from.
    std::vector<int64_t> source_comparison_ids, source_generation_ids;
};

struct MemoryFilter {
    int64_t profile_id = 0;                 // required
    std::string kind;                       // empty: all
    std::string search;                     // substring of the text (case-insensitive for ASCII)
    bool active_only = false;
    bool include_deleted = false;
    int limit = 1000, offset = 0;           // newest updated first
};

enum class Actor { invalid = 0, user = 1, learner = 2 };

struct MemoryHistoryEvent {
    int64_t id = 0;
    int64_t entry_id = 0, profile_id = 0;
    std::string event;                      // "ADD", "UPDATE", "DELETE", "RESTORE"
    Actor actor = Actor::user;
    std::string old_text, new_text;
    double old_weight = 0, new_weight = 0;
    bool old_active = false, new_active = false;
    int64_t created_ms = 0;
    bool undone = false;                    // a later undo reverted it
    int64_t undo_of = 0;                    // this event is the undo of that event
};

struct ProvenanceComparison {
    int64_t comparison_id = 0, left_asset_id = 0, right_asset_id = 0, annotator_id = 0;
    std::string prompt;
    Choice choice = Choice::invalid;
    int strength = 0;
};
struct ProvenanceGeneration {
    int64_t generation_id = 0, asset_id = 0;
    std::string prompt;
};
struct MemoryProvenance {
    std::vector<ProvenanceComparison> comparisons;
    std::vector<ProvenanceGeneration> generations;
};

// ---- taste models -------------------------------------------------------------------------------

struct RewardModelRecord {
    int64_t id = 0;
    int64_t profile_id = 0;
    std::string feature_set;                // feature extractor name + version; a model only fits its features
    std::vector<uint8_t> parameters;        // opaque blob (the taste module's serialization)
    int64_t label_count = 0;
    double heldout_accuracy = 0;
    std::string notes_json = "{}";
    int64_t created_ms = 0;
};

// ---- exchange -----------------------------------------------------------------------------------

struct ExportOptions {
    std::string path;                       // a folder ("bundle"), a .tar, a .csv/.jsonl/.json file
    std::string format = "auto";            // "bundle", "tar", "pickapic-csv", "pickapic-jsonl", "labelstudio";
                                            // auto: from the path (.tar, .csv, .jsonl, .json, else folder)
    int64_t profile_id = 0;                 // export this profile (its judgements, memory, concepts, ...)
    int64_t queue_id = 0;                   // or this queue (its pairs and every judgement on it)
    bool include_undone = false;            // undone judgements too (bundles keep them marked)
    bool include_assets = true;             // copy the images (bundle/tar: assets/<sha>.png; others beside)
};

struct ExportReport {
    std::string path;
    int64_t profiles = 0, assets = 0, comparisons = 0, memory_entries = 0, queue_items = 0;
};

struct ImportOptions {
    std::string path;                       // folder, .tar, .csv, .jsonl, .json
    std::string format = "auto";            // as ExportOptions; auto also reads a folder's manifest
    std::string assets_dir;                 // where image files named by uid/hash are (default: beside the file)
    int64_t annotator_id = 0;               // for rows that name no user (Label Studio without completed_by)
    std::string queue_name;                 // Pick-a-Pic / Label Studio: also create a queue of the pairs
    bool dry_run = false;                   // validate only
};

struct ImportIssue {
    std::string file;
    int64_t line = 0;                       // 1-based line (JSONL/CSV) or record index (JSON); 0: whole file
    std::string field;
    std::string message;
};

struct ImportReport {
    bool ok = false;                        // false: nothing was stored (issues say why)
    std::vector<ImportIssue> issues;
    int64_t profiles = 0, assets = 0, comparisons = 0, memory_entries = 0, queues = 0, queue_items = 0,
            concepts = 0, generations = 0, reward_models = 0;
};

// ---- maintenance --------------------------------------------------------------------------------

struct CheckReport {
    bool ok = false;
    std::string integrity;                  // PRAGMA integrity_check's answer ("ok")
    int64_t foreign_key_violations = 0;
    std::vector<std::string> missing_assets;       // rows whose file is gone
    std::vector<std::string> corrupt_assets;       // files whose SHA-256 is not their name
    std::vector<std::string> orphan_files;         // files under assets/ with no row
};

struct GcReport {
    int64_t assets_removed = 0, files_removed = 0, bytes_freed = 0;
};

struct StoreStats {
    int schema_version = 0;
    int64_t profiles = 0, assets = 0, concepts = 0, generations = 0, comparisons = 0, queues = 0,
            memory_entries = 0, reward_models = 0;
    int64_t database_bytes = 0;
};

// ---- the store ----------------------------------------------------------------------------------

class Store {
public:
    // Opens (creating and migrating if needed) the database of a data directory. Throws Error for a
    // corrupt file, a database from a newer Atelier (left untouched) or a directory it cannot use.
    static std::unique_ptr<Store> open(const StoreOptions& options = {});
    static int latest_schema_version();
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::string& data_dir() const;
    std::string database_path() const;
    int schema_version();
    StoreStats stats();

    // Profiles
    Profile create_profile(const std::string& name, const std::string& role = "designer",
                           const std::string& settings_json = "{}");
    std::vector<Profile> list_profiles();
    std::optional<Profile> find_profile(const std::string& name);
    Profile profile(int64_t id);                        // throws if absent
    Profile ensure_profile(const std::string& name, const std::string& role = "annotator");
    void update_profile(const Profile& profile);        // name, role, settings
    DeleteReport delete_profile(int64_t id);            // it and everything of it, in one transaction

    // Assets: content-addressed; the same picture is stored once.
    AssetInfo import_asset(const std::string& file_path, const std::string& origin = "imported");
    AssetInfo import_asset(const Image& image, const std::string& origin = "generated",
                           const std::map<std::string, std::string>& png_text = {});
    AssetInfo asset(int64_t id);
    std::optional<AssetInfo> find_asset(const std::string& sha256);
    Image load_asset(int64_t id, int want_channels = 3);
    Image load_thumbnail(int64_t id, int want_channels = 3);

    // Concepts
    int64_t create_concept(const Concept& concept_);
    void update_concept(const Concept& concept_);      // every field, reference assets included
    Concept concept_by_id(int64_t id);
    std::vector<Concept> list_concepts(int64_t profile_id = 0);   // 0: everyone's
    // Removes the concept, and its trained file with the file's checkpoint when they lie in the store's own
    // concepts folder (data_dir()/concepts, where the studio and the CLI write them); a file imported from
    // elsewhere stays where it is.
    void delete_concept(int64_t id);

    // Generations
    int64_t record_generation(const GenerationRecord& record);
    GenerationRecord generation(int64_t id);
    std::vector<GenerationRecord> list_generations(int64_t profile_id, int limit = 100, int offset = 0);

    // Queues
    int64_t create_queue(const std::string& name, int64_t created_by, const std::vector<QueuePairInput>& pairs,
                         int overlap = 1);
    std::vector<QueueInfo> list_queues();
    QueueInfo queue(int64_t id);
    void assign_annotator(int64_t queue_id, int64_t annotator_id);   // next_pair() also assigns
    std::vector<int64_t> queue_annotators(int64_t queue_id);
    // The next pair (by position, after the annotator's latest live judgement, then wrapping to the
    // start) this annotator has not judged and that still needs judgements (fewer than `overlap`
    // decided ones; gold items always); nullopt when the queue is done for them. After an undo the
    // undone pair comes back first.
    std::optional<QueuePair> next_pair(int64_t queue_id, int64_t annotator_id);
    // The `count` pairs that would follow next_pair() if the annotator judged each one (for prefetching
    // their images; nothing is assigned or reserved).
    std::vector<QueuePair> upcoming_pairs(int64_t queue_id, int64_t annotator_id, int count);
    QueueProgress queue_progress(int64_t queue_id, int64_t annotator_id = 0);
    // The distinct pictures of a queue's pairs, in the order they first appear ("learn my taste" picks its
    // own pairs among them).
    std::vector<int64_t> queue_assets(int64_t queue_id);
    void delete_queue(int64_t id);                     // its items and the judgements made on it

    // Judgements: committed (durably, with StoreOptions::durable) before these return.
    int64_t record_judgement(const Judgement& judgement);
    std::vector<int64_t> record_judgements(const std::vector<Judgement>& judgements);  // one transaction
    // Marks the annotator's latest live judgement in that queue (0: outside queues) undone; kept in history.
    std::optional<Comparison> undo_last_judgement(int64_t annotator_id, int64_t queue_id);
    Comparison comparison(int64_t id);
    std::vector<Comparison> list_comparisons(int64_t annotator_id, int64_t queue_id = -1, bool include_undone = false,
                                             int limit = 1000, int offset = 0);   // queue -1: any; newest first
    AgreementStats agreement(int64_t queue_id);        // 0: all judgements made in queues

    // Preference memory: every change writes a history row.
    std::vector<MemoryEntry> list_memory(const MemoryFilter& filter);
    MemoryEntry memory_entry(int64_t id);
    int64_t add_memory(const MemoryEntry& entry, Actor actor = Actor::user);
    void update_memory(const MemoryEntry& entry, Actor actor = Actor::user);   // kind, text, weight, active
    // Replaces an entry's provenance (the comparisons and generations behind it, and how many) without
    // touching what it says: a learned entry re-derived from more choices.
    void update_memory_sources(int64_t id, int64_t source_count, const std::vector<int64_t>& comparison_ids,
                               const std::vector<int64_t>& generation_ids = {});
    void set_memory_active(int64_t id, bool active, Actor actor = Actor::user);
    void delete_memory(int64_t id, Actor actor = Actor::user);
    std::vector<MemoryHistoryEvent> memory_history(int64_t entry_id);
    std::vector<MemoryHistoryEvent> profile_memory_history(int64_t profile_id, int limit = 200);
    // Reverts the latest change not yet undone (of the profile, or of one entry if entry_id != 0),
    // writing its own history row; returns that row, or nullopt when there is nothing to undo.
    std::optional<MemoryHistoryEvent> undo_memory(int64_t profile_id, int64_t entry_id = 0,
                                                  Actor actor = Actor::user);
    MemoryProvenance memory_provenance(int64_t entry_id);

    // Taste models
    int64_t save_reward_model(const RewardModelRecord& record);
    std::optional<RewardModelRecord> latest_reward_model(int64_t profile_id, const std::string& feature_set = "");
    std::vector<RewardModelRecord> list_reward_models(int64_t profile_id);   // parameters left empty

    // Exchange
    ExportReport export_data(const ExportOptions& options);
    ImportReport import_data(const ImportOptions& options);   // all or nothing

    // Maintenance
    CheckReport check(bool verify_asset_hashes = true);
    // Removes asset rows no table references and their files, and stray files; assets younger
    // than `min_age_ms` are kept (an import may be about to use them).
    GcReport gc(int64_t min_age_ms = 60'000, bool dry_run = false);

    struct Impl;

private:
    explicit Store(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace atelier
