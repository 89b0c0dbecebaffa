// The store: opening and migrating the database, profiles, assets, concepts, generations,
// reward models, checks and garbage collection. Queues and judgements: store_compare.cpp;
// memory: store_memory.cpp; export/import: store_exchange.cpp.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "atelier/store.h"
#include "atelier/system.h"
#include "io/file_util.h"
#include "memory/schema.h"
#include "memory/sha256.h"
#include "memory/store_impl.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace atelier {

void require_text_in(const std::string& value, std::initializer_list<const char*> allowed, const std::string& field) {
    std::string list;
    for (const char* a : allowed) {
        if (value == a) return;
        list += std::string(list.empty() ? "" : ", ") + a;
    }
    throw Error(field + ": expected one of " + list + ", found '" + value + "'");
}

// ---- open ---------------------------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

int Store::latest_schema_version() { return latest_version(); }

std::unique_ptr<Store> Store::open(const StoreOptions& options) {
    const std::string dir = atelier::data_dir(options.data_dir);
    std::error_code ec;
    if (options.create && !options.read_only) {
        fs::create_directories(dir, ec);
        if (ec) throw Error(dir + ": cannot create the data directory (" + ec.message() + ")");
    }
    if (!fs::is_directory(dir, ec)) throw Error(dir + ": the data directory does not exist or is not a directory");
    if (!options.read_only && ::access(dir.c_str(), W_OK) != 0)
        throw Error(dir + ": the data directory is read-only (" + std::strerror(errno) +
                    "); open the store read-only to browse it");
    const std::string db_path = dir + "/atelier.db";
    if (!options.create && !fs::exists(db_path, ec)) throw Error(db_path + ": no database here");

    auto impl = std::make_unique<Impl>(options, dir, db_path);
    Db& db = impl->db;
    db.exec("PRAGMA busy_timeout = " + std::to_string(std::max(0, options.busy_timeout_ms)));
    // Read before changing anything: a corrupt or newer file must be refused untouched.
    const int version = int(db.query_int("PRAGMA user_version"));
    db.query_int("SELECT count(*) FROM sqlite_master");   // parses the schema: catches a damaged file early
    if (version > latest_version())
        throw Error(db_path + ": schema version " + std::to_string(version) + " is newer than this Atelier (" +
                    atelier::version() + ") supports (" + std::to_string(latest_version()) +
                    "); the database was left untouched - open it with a newer Atelier");
    db.exec("PRAGMA foreign_keys = ON");
    if (options.read_only) {
        if (version < latest_version())
            throw Error(db_path + ": schema version " + std::to_string(version) + " needs an upgrade to " +
                        std::to_string(latest_version()) + ", which a read-only store cannot do");
    } else {
        // Switching a new file to WAL needs an exclusive lock, and SQLite does not wait for it through the
        // busy handler (deadlock avoidance): retry here while another process creates the same store.
        std::string mode;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.busy_timeout_ms);
        for (;;) {
            try {
                mode = db.query_text("PRAGMA journal_mode = WAL");
                break;
            } catch (const Error&) {
                if ((sqlite3_errcode(db.handle()) & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline)
                    throw;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
        if (mode != "wal") throw Error(db_path + ": cannot switch to WAL journaling (got '" + mode + "')");
        db.exec(options.durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        if (options.max_page_count > 0) db.exec("PRAGMA max_page_count = " + std::to_string(options.max_page_count));
        migrate(db);
        for (const char* sub : {"/assets", "/thumbs"}) {
            fs::create_directories(dir + sub, ec);
            if (ec) throw Error(dir + sub + ": cannot create (" + ec.message() + ")");
        }
    }
    return std::unique_ptr<Store>(new Store(std::move(impl)));
}

const std::string& Store::data_dir() const { return impl_->dir; }
std::string Store::database_path() const { return impl_->db.path(); }
int Store::schema_version() { return int(impl_->db.query_int("PRAGMA user_version")); }

StoreStats Store::stats() {
    Db& db = impl_->db;
    StoreStats s;
    s.schema_version = schema_version();
    s.profiles = db.query_int("SELECT count(*) FROM profiles");
    s.assets = db.query_int("SELECT count(*) FROM assets");
    s.concepts = db.query_int("SELECT count(*) FROM concepts");
    s.generations = db.query_int("SELECT count(*) FROM generations");
    s.comparisons = db.query_int("SELECT count(*) FROM comparisons WHERE undone_ms IS NULL");
    s.queues = db.query_int("SELECT count(*) FROM queues");
    s.memory_entries = db.query_int("SELECT count(*) FROM memory_entries WHERE deleted = 0");
    s.reward_models = db.query_int("SELECT count(*) FROM reward_models");
    s.database_bytes = db.query_int("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()");
    return s;
}

// ---- profiles -----------------------------------------------------------------------------------

namespace {

Profile profile_from(const Stmt& s) {
    Profile p;
    p.id = s.int64(0);
    p.name = s.text(1);
    p.role = s.text(2);
    p.settings_json = s.text(3);
    p.created_ms = s.int64(4);
    return p;
}

void check_profile_fields(const Profile& p) {
    if (p.name.empty()) throw Error("profile name: must not be empty");
    require_text_in(p.role, {"designer", "annotator", "presenter", "admin"}, "profile '" + p.name + "' role");
    if (!json::accept(p.settings_json)) throw Error("profile '" + p.name + "' settings: not valid JSON");
}

}  // namespace

Profile Store::create_profile(const std::string& name, const std::string& role, const std::string& settings_json) {
    Profile p{0, name, role, settings_json, now_ms()};
    check_profile_fields(p);
    Db& db = impl_->db;
    if (find_profile(name)) throw Error(db.path() + ": a profile named '" + name + "' already exists");
    Stmt s(db, "INSERT INTO profiles (name, role, settings, created_ms) VALUES (?, ?, ?, ?)");
    s.bind(1, p.name).bind(2, p.role).bind(3, p.settings_json).bind(4, p.created_ms).run();
    p.id = db.last_insert_id();
    return p;
}

Profile Store::ensure_profile(const std::string& name, const std::string& role) {
    if (auto found = find_profile(name)) return *found;
    return create_profile(name, role);
}

std::vector<Profile> Store::list_profiles() {
    Stmt s(impl_->db, "SELECT id, name, role, settings, created_ms FROM profiles ORDER BY name");
    std::vector<Profile> out;
    while (s.step()) out.push_back(profile_from(s));
    return out;
}

std::optional<Profile> Store::find_profile(const std::string& name) {
    Stmt s(impl_->db, "SELECT id, name, role, settings, created_ms FROM profiles WHERE name = ?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return profile_from(s);
}

Profile Store::profile(int64_t id) {
    Stmt s(impl_->db, "SELECT id, name, role, settings, created_ms FROM profiles WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) throw Error(impl_->db.path() + ": no profile with id " + std::to_string(id));
    return profile_from(s);
}

void Store::update_profile(const Profile& p) {
    check_profile_fields(p);
    profile(p.id);
    Stmt s(impl_->db, "UPDATE profiles SET name = ?, role = ?, settings = ? WHERE id = ?");
    s.bind(1, p.name).bind(2, p.role).bind(3, p.settings_json).bind(4, p.id).run();
}

DeleteReport Store::delete_profile(int64_t id) {
    Db& db = impl_->db;
    profile(id);
    DeleteReport report;
    std::vector<std::string> files;
    {
        Transaction t(db);
        db.exec("CREATE TEMP TABLE IF NOT EXISTS doomed_assets (id INTEGER PRIMARY KEY)");
        db.exec("CREATE TEMP TABLE IF NOT EXISTS touched_items (id INTEGER PRIMARY KEY)");
        db.exec("CREATE TEMP TABLE IF NOT EXISTS doomed_queues (id INTEGER PRIMARY KEY)");
        db.exec("DELETE FROM doomed_assets; DELETE FROM touched_items; DELETE FROM doomed_queues");
        const std::string pid = std::to_string(id);
        // Its queues go with it unless someone else judged on them (their work is kept).
        db.exec("INSERT INTO doomed_queues SELECT q.id FROM queues q WHERE q.created_by = " + pid +
                " AND NOT EXISTS (SELECT 1 FROM comparisons c WHERE c.queue_id = q.id AND c.annotator_id <> " + pid + ")");
        db.exec("INSERT OR IGNORE INTO doomed_assets SELECT left_asset_id FROM comparisons WHERE annotator_id = " + pid +
                " UNION SELECT right_asset_id FROM comparisons WHERE annotator_id = " + pid +
                " UNION SELECT asset_id FROM generations WHERE profile_id = " + pid + " AND asset_id IS NOT NULL" +
                " UNION SELECT x.asset_id FROM concept_assets x JOIN concepts k ON k.id = x.concept_id WHERE k.profile_id = " + pid +
                " UNION SELECT left_asset_id FROM queue_items WHERE queue_id IN (SELECT id FROM doomed_queues)" +
                " UNION SELECT right_asset_id FROM queue_items WHERE queue_id IN (SELECT id FROM doomed_queues)");
        db.exec("INSERT OR IGNORE INTO touched_items SELECT queue_item_id FROM comparisons WHERE annotator_id = " + pid +
                " AND queue_item_id IS NOT NULL AND queue_id NOT IN (SELECT id FROM doomed_queues)");
        report.comparisons = db.query_int("SELECT count(*) FROM comparisons WHERE annotator_id = " + pid);
        report.memory_entries = db.query_int("SELECT count(*) FROM memory_entries WHERE profile_id = " + pid);
        report.concepts = db.query_int("SELECT count(*) FROM concepts WHERE profile_id = " + pid);
        report.generations = db.query_int("SELECT count(*) FROM generations WHERE profile_id = " + pid);
        report.reward_models = db.query_int("SELECT count(*) FROM reward_models WHERE profile_id = " + pid);
        report.queues = db.query_int("SELECT count(*) FROM doomed_queues");
        db.exec("DELETE FROM queues WHERE id IN (SELECT id FROM doomed_queues)");
        db.exec("DELETE FROM profiles WHERE id = " + pid);   // cascades to everything that is its own
        {
            Stmt items(db, "SELECT id FROM touched_items");
            std::vector<int64_t> ids;
            while (items.step()) ids.push_back(items.int64(0));
            for (int64_t item : ids) impl_->refresh_queue_item(item);
        }
        {
            Stmt doomed(db, (std::string("SELECT a.id, a.sha256 FROM assets a WHERE a.id IN (SELECT id FROM doomed_assets)"
                                         " AND NOT ") + asset_referenced_sql()).c_str());
            std::vector<int64_t> ids;
            while (doomed.step()) {
                ids.push_back(doomed.int64(0));
                files.push_back(impl_->asset_file(doomed.text(1)));
                files.push_back(impl_->thumb_file(doomed.text(1)));
            }
            Stmt del(db, "DELETE FROM assets WHERE id = ?");
            for (int64_t asset : ids) {
                del.reset();
                del.bind(1, asset).run();
            }
            report.assets = int64_t(ids.size());
        }
        t.commit();
    }
    for (const std::string& f : files) ::unlink(f.c_str());   // after the commit: never a row without its file
    return report;
}

// ---- assets -------------------------------------------------------------------------------------

namespace {

bool is_png(const std::vector<uint8_t>& bytes) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return bytes.size() >= 8 && std::equal(sig, sig + 8, bytes.begin());
}

// Box-filter downscale so the longer side is at most `max_side`.
Image thumbnail_of(const Image& image, int max_side) {
    const int longer = std::max(image.width, image.height);
    if (longer <= max_side) return image;
    const double scale = double(longer) / max_side;
    Image out;
    out.width = std::max(1, int(image.width / scale + 0.5));
    out.height = std::max(1, int(image.height / scale + 0.5));
    out.channels = image.channels;
    out.pixels.resize(size_t(out.width) * out.height * out.channels);
    for (int y = 0; y < out.height; ++y) {
        const int y0 = int(y * scale), y1 = std::max(y0 + 1, std::min(image.height, int((y + 1) * scale)));
        for (int x = 0; x < out.width; ++x) {
            const int x0 = int(x * scale), x1 = std::max(x0 + 1, std::min(image.width, int((x + 1) * scale)));
            for (int c = 0; c < out.channels; ++c) {
                uint32_t sum = 0;
                for (int yy = y0; yy < y1; ++yy)
                    for (int xx = x0; xx < x1; ++xx) sum += image.pixels[(size_t(yy) * image.width + xx) * image.channels + c];
                out.pixels[(size_t(y) * out.width + x) * out.channels + c] = uint8_t(sum / uint32_t((y1 - y0) * (x1 - x0)));
            }
        }
    }
    return out;
}

void ensure_parent(const std::string& path) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) throw Error(path + ": cannot create its folder (" + ec.message() + ")");
}

}  // namespace

AssetInfo Store::Impl::asset_row(int64_t id) {
    Stmt s(db, "SELECT id, sha256, size_bytes, width, height, origin, source_name, created_ms FROM assets WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) throw Error(db.path() + ": no asset with id " + std::to_string(id));
    AssetInfo a;
    a.id = s.int64(0);
    a.sha256 = s.text(1);
    a.size_bytes = s.int64(2);
    a.width = int(s.int64(3));
    a.height = int(s.int64(4));
    a.origin = s.text(5);
    a.source_name = s.text(6);
    a.created_ms = s.int64(7);
    a.path = asset_file(a.sha256);
    a.thumbnail_path = thumb_file(a.sha256);
    return a;
}

AssetInfo Store::Impl::store_png(const std::vector<uint8_t>& png, const Image& decoded, const std::string& origin,
                                 const std::string& source_name) {
    require_text_in(origin, {"imported", "generated", "reference", "frame"}, "asset origin");
    const std::string sha = sha256_hex(png);
    const std::string file = asset_file(sha), thumb = thumb_file(sha);
    std::error_code ec;
    // Files first, then the row: a crash in between leaves a stray file (gc removes it), never a row without file.
    if (!fs::exists(file, ec) || fs::file_size(file, ec) != png.size()) {
        ensure_parent(file);
        write_file_atomically(file, png);
    }
    const Image small = thumbnail_of(decoded, 256);
    if (!fs::exists(thumb, ec)) {
        ensure_parent(thumb);
        write_file_atomically(thumb, encode_png(small));
    }
    Stmt s(db, "INSERT INTO assets (sha256, size_bytes, width, height, origin, source_name, thumb_width, thumb_height,"
               " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING");
    s.bind(1, sha).bind(2, int64_t(png.size())).bind(3, decoded.width).bind(4, decoded.height).bind(5, origin);
    s.bind(6, source_name).bind(7, small.width).bind(8, small.height).bind(9, now_ms()).run();
    const bool inserted = db.changes() > 0;
    Stmt find(db, "SELECT id FROM assets WHERE sha256 = ?");
    find.bind(1, sha);
    find.step();
    AssetInfo info = asset_row(find.int64(0));
    info.newly_stored = inserted;
    return info;
}

AssetInfo Store::import_asset(const std::string& file_path, const std::string& origin) {
    std::vector<uint8_t> bytes = read_file_bytes(file_path);
    const Image decoded = decode_image(bytes, file_path, 3);
    if (!is_png(bytes)) bytes = encode_png(decoded);   // stored as PNG, named by the PNG's hash
    return impl_->store_png(bytes, decoded, origin, fs::path(file_path).filename().string());
}

AssetInfo Store::import_asset(const Image& image, const std::string& origin,
                              const std::map<std::string, std::string>& png_text) {
    if (image.empty() || image.width <= 0 || image.height <= 0)
        throw Error("import_asset: the image is empty");
    return impl_->store_png(encode_png(image, png_text), image.channels == 3 ? image : decode_image(encode_png(image), "image", 3),
                            origin, "");
}

AssetInfo Store::asset(int64_t id) { return impl_->asset_row(id); }

std::optional<AssetInfo> Store::find_asset(const std::string& sha256) {
    Stmt s(impl_->db, "SELECT id FROM assets WHERE sha256 = ?");
    s.bind(1, sha256);
    if (!s.step()) return std::nullopt;
    return impl_->asset_row(s.int64(0));
}

Image Store::load_asset(int64_t id, int want_channels) { return read_image(asset(id).path, want_channels); }

Image Store::load_thumbnail(int64_t id, int want_channels) {
    const AssetInfo a = asset(id);
    std::error_code ec;
    if (!fs::exists(a.thumbnail_path, ec)) {   // regenerate a lost thumbnail from the asset
        const Image small = thumbnail_of(read_image(a.path, 3), 256);
        if (!impl_->options.read_only) {
            ensure_parent(a.thumbnail_path);
            write_file_atomically(a.thumbnail_path, encode_png(small));
        }
        return want_channels == 3 ? small : decode_image(encode_png(small), a.thumbnail_path, want_channels);
    }
    return read_image(a.thumbnail_path, want_channels);
}

// ---- concepts -----------------------------------------------------------------------------------

namespace {

void check_concept(const Concept& c) {
    if (c.name.empty()) throw Error("concept name: must not be empty");
    require_text_in(c.method, {"textual_inversion", "lora", "rank1"}, "concept '" + c.name + "' method");
    require_text_in(c.status, {"draft", "training", "ready", "failed"}, "concept '" + c.name + "' status");
    if (!json::accept(c.training_settings_json)) throw Error("concept '" + c.name + "' training settings: not valid JSON");
    if (!json::accept(c.metrics_json)) throw Error("concept '" + c.name + "' metrics: not valid JSON");
}

void write_concept_assets(Db& db, int64_t concept_id, const std::vector<int64_t>& assets) {
    Stmt del(db, "DELETE FROM concept_assets WHERE concept_id = ?");
    del.bind(1, concept_id).run();
    Stmt ins(db, "INSERT OR IGNORE INTO concept_assets (concept_id, asset_id, position) VALUES (?, ?, ?)");
    for (size_t i = 0; i < assets.size(); ++i) {
        ins.reset();
        ins.bind(1, concept_id).bind(2, assets[i]).bind(3, int64_t(i)).run();
    }
}

}  // namespace

int64_t Store::create_concept(const Concept& c) {
    check_concept(c);
    Db& db = impl_->db;
    Transaction t(db);
    const int64_t now = now_ms();
    Stmt s(db, "INSERT INTO concepts (profile_id, name, trigger_token, class_word, method, status, training_settings,"
               " metrics, artifact_path, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind_id(1, c.profile_id).bind(2, c.name).bind(3, c.trigger_token).bind(4, c.class_word).bind(5, c.method);
    s.bind(6, c.status).bind(7, c.training_settings_json).bind(8, c.metrics_json).bind(9, c.artifact_path);
    s.bind(10, c.created_ms ? c.created_ms : now).bind(11, now).run();
    const int64_t id = db.last_insert_id();
    write_concept_assets(db, id, c.reference_asset_ids);
    t.commit();
    return id;
}

void Store::update_concept(const Concept& c) {
    check_concept(c);
    Db& db = impl_->db;
    Transaction t(db);
    Stmt s(db, "UPDATE concepts SET profile_id = ?, name = ?, trigger_token = ?, class_word = ?, method = ?, status = ?,"
               " training_settings = ?, metrics = ?, artifact_path = ?, updated_ms = ? WHERE id = ?");
    s.bind_id(1, c.profile_id).bind(2, c.name).bind(3, c.trigger_token).bind(4, c.class_word).bind(5, c.method);
    s.bind(6, c.status).bind(7, c.training_settings_json).bind(8, c.metrics_json).bind(9, c.artifact_path);
    s.bind(10, now_ms()).bind(11, c.id).run();
    if (db.changes() == 0) throw Error(db.path() + ": no concept with id " + std::to_string(c.id));
    write_concept_assets(db, c.id, c.reference_asset_ids);
    t.commit();
}

namespace {
const char* k_concept_columns = "SELECT id, profile_id, name, trigger_token, class_word, method, status, training_settings,"
                                " metrics, artifact_path, created_ms, updated_ms FROM concepts";

Concept concept_from(Db& db, const Stmt& s) {
    Concept c;
    c.id = s.int64(0);
    c.profile_id = s.int64(1);
    c.name = s.text(2);
    c.trigger_token = s.text(3);
    c.class_word = s.text(4);
    c.method = s.text(5);
    c.status = s.text(6);
    c.training_settings_json = s.text(7);
    c.metrics_json = s.text(8);
    c.artifact_path = s.text(9);
    c.created_ms = s.int64(10);
    c.updated_ms = s.int64(11);
    Stmt a(db, "SELECT asset_id FROM concept_assets WHERE concept_id = ? ORDER BY position");
    a.bind(1, c.id);
    while (a.step()) c.reference_asset_ids.push_back(a.int64(0));
    return c;
}
}  // namespace

Concept Store::concept_by_id(int64_t id) {
    Stmt s(impl_->db, (std::string(k_concept_columns) + " WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) throw Error(impl_->db.path() + ": no concept with id " + std::to_string(id));
    return concept_from(impl_->db, s);
}

std::vector<Concept> Store::list_concepts(int64_t profile_id) {
    Stmt s(impl_->db, (std::string(k_concept_columns) + (profile_id ? " WHERE profile_id = ?" : "") + " ORDER BY name").c_str());
    if (profile_id) s.bind(1, profile_id);
    std::vector<Concept> out;
    while (s.step()) out.push_back(concept_from(impl_->db, s));
    return out;
}

void Store::delete_concept(int64_t id) {
    const std::string artifact = concept_by_id(id).artifact_path;  // throws for an unknown id
    Stmt s(impl_->db, "DELETE FROM concepts WHERE id = ?");
    s.bind(1, id).run();
    if (artifact.empty()) return;
    std::error_code ec;
    const fs::path own = fs::weakly_canonical(fs::path(data_dir()) / "concepts", ec);
    const fs::path file = fs::weakly_canonical(artifact, ec);
    if (ec || file.parent_path() != own) return;
    fs::remove(file, ec);  // the row is gone; a file that cannot be removed is only a stray file
    fs::remove(file.string() + ".ckpt", ec);
}

// ---- generations --------------------------------------------------------------------------------

namespace {

json strengths_json(const std::vector<NamedStrength>& list) {
    json out = json::array();
    for (const auto& n : list) out.push_back({{"name", n.name}, {"strength", n.strength}});
    return out;
}

std::vector<NamedStrength> strengths_from(const std::string& text) {
    std::vector<NamedStrength> out;
    const json j = json::parse(text, nullptr, false);
    if (!j.is_array()) return out;
    for (const auto& e : j) out.push_back({e.value("name", ""), e.value("strength", 1.0f)});
    return out;
}

const char* k_generation_columns =
    "SELECT id, profile_id, asset_id, model_id, model_hash, model_name, prompt, negative_prompt, effective_prompt, seed,"
    " sampler, timestep_spacing, steps, guidance, width, height, clip_skip, strength, concepts, loras, duration_ms, extra,"
    " created_ms FROM generations";

GenerationRecord generation_from(const Stmt& s) {
    GenerationRecord g;
    g.id = s.int64(0);
    g.profile_id = s.int64(1);
    g.asset_id = s.int64(2);
    g.model_id = s.text(3);
    g.model_hash = s.text(4);
    g.model_name = s.text(5);
    g.prompt = s.text(6);
    g.negative_prompt = s.text(7);
    g.effective_prompt = s.text(8);
    g.seed = uint64_t(s.int64(9));
    g.sampler = s.text(10);
    g.timestep_spacing = s.text(11);
    g.steps = int(s.int64(12));
    g.guidance = float(s.real(13));
    g.width = int(s.int64(14));
    g.height = int(s.int64(15));
    g.clip_skip = int(s.int64(16));
    g.strength = float(s.real(17));
    g.concepts = strengths_from(s.text(18));
    g.loras = strengths_from(s.text(19));
    g.duration_ms = s.real(20);
    g.extra_json = s.text(21);
    g.created_ms = s.int64(22);
    return g;
}

}  // namespace

int64_t Store::record_generation(const GenerationRecord& g) {
    if (!json::accept(g.extra_json)) throw Error("generation extra: not valid JSON");
    Db& db = impl_->db;
    Stmt s(db, "INSERT INTO generations (profile_id, asset_id, model_id, model_hash, model_name, prompt, negative_prompt,"
               " effective_prompt, seed, sampler, timestep_spacing, steps, guidance, width, height, clip_skip, strength,"
               " concepts, loras, duration_ms, extra, created_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.bind_id(1, g.profile_id).bind_id(2, g.asset_id).bind(3, g.model_id).bind(4, g.model_hash).bind(5, g.model_name);
    s.bind(6, g.prompt).bind(7, g.negative_prompt).bind(8, g.effective_prompt).bind(9, int64_t(g.seed));
    s.bind(10, g.sampler).bind(11, g.timestep_spacing).bind(12, g.steps).bind(13, double(g.guidance));
    s.bind(14, g.width).bind(15, g.height).bind(16, g.clip_skip).bind(17, double(g.strength));
    s.bind(18, strengths_json(g.concepts).dump()).bind(19, strengths_json(g.loras).dump()).bind(20, g.duration_ms);
    s.bind(21, g.extra_json).bind(22, g.created_ms ? g.created_ms : now_ms()).run();
    return db.last_insert_id();
}

GenerationRecord Store::generation(int64_t id) {
    Stmt s(impl_->db, (std::string(k_generation_columns) + " WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) throw Error(impl_->db.path() + ": no generation with id " + std::to_string(id));
    return generation_from(s);
}

std::vector<GenerationRecord> Store::list_generations(int64_t profile_id, int limit, int offset) {
    Stmt s(impl_->db, (std::string(k_generation_columns) + " WHERE profile_id IS ? ORDER BY id DESC LIMIT ? OFFSET ?").c_str());
    s.bind_id(1, profile_id).bind(2, limit).bind(3, offset);
    std::vector<GenerationRecord> out;
    while (s.step()) out.push_back(generation_from(s));
    return out;
}

// ---- reward models ------------------------------------------------------------------------------

int64_t Store::save_reward_model(const RewardModelRecord& r) {
    if (r.feature_set.empty()) throw Error("reward model feature_set: must not be empty");
    if (!json::accept(r.notes_json)) throw Error("reward model notes: not valid JSON");
    Stmt s(impl_->db, "INSERT INTO reward_models (profile_id, feature_set, parameters, label_count, heldout_accuracy, notes,"
                      " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, r.profile_id).bind(2, r.feature_set).bind_blob(3, r.parameters).bind(4, r.label_count);
    s.bind(5, r.heldout_accuracy).bind(6, r.notes_json).bind(7, r.created_ms ? r.created_ms : now_ms()).run();
    return impl_->db.last_insert_id();
}

namespace {
RewardModelRecord reward_from(const Stmt& s, bool with_blob) {
    RewardModelRecord r;
    r.id = s.int64(0);
    r.profile_id = s.int64(1);
    r.feature_set = s.text(2);
    if (with_blob) r.parameters = s.blob(3);
    r.label_count = s.int64(4);
    r.heldout_accuracy = s.real(5);
    r.notes_json = s.text(6);
    r.created_ms = s.int64(7);
    return r;
}
}  // namespace

std::optional<RewardModelRecord> Store::latest_reward_model(int64_t profile_id, const std::string& feature_set) {
    Stmt s(impl_->db, "SELECT id, profile_id, feature_set, parameters, label_count, heldout_accuracy, notes, created_ms"
                      " FROM reward_models WHERE profile_id = ? AND (? = '' OR feature_set = ?) ORDER BY id DESC LIMIT 1");
    s.bind(1, profile_id).bind(2, feature_set).bind(3, feature_set);
    if (!s.step()) return std::nullopt;
    return reward_from(s, true);
}

std::vector<RewardModelRecord> Store::list_reward_models(int64_t profile_id) {
    Stmt s(impl_->db, "SELECT id, profile_id, feature_set, NULL, label_count, heldout_accuracy, notes, created_ms"
                      " FROM reward_models WHERE profile_id = ? ORDER BY id DESC");
    s.bind(1, profile_id);
    std::vector<RewardModelRecord> out;
    while (s.step()) out.push_back(reward_from(s, false));
    return out;
}

// ---- maintenance --------------------------------------------------------------------------------

CheckReport Store::check(bool verify_asset_hashes) {
    Db& db = impl_->db;
    CheckReport report;
    {
        Stmt s(db, "PRAGMA integrity_check");
        while (s.step()) report.integrity += (report.integrity.empty() ? "" : "; ") + s.text(0);
    }
    {
        Stmt s(db, "PRAGMA foreign_key_check");
        while (s.step()) ++report.foreign_key_violations;
    }
    std::set<std::string> known;
    {
        Stmt s(db, "SELECT sha256, size_bytes FROM assets");
        while (s.step()) {
            const std::string sha = s.text(0), file = impl_->asset_file(sha);
            known.insert(sha);
            std::error_code ec;
            if (!fs::exists(file, ec)) {
                report.missing_assets.push_back(file);
            } else if (verify_asset_hashes) {
                if (sha256_hex(read_file_bytes(file)) != sha) report.corrupt_assets.push_back(file);
            } else if (int64_t(fs::file_size(file, ec)) != s.int64(1)) {
                report.corrupt_assets.push_back(file);
            }
        }
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(impl_->dir + "/assets", ec); !ec && it != fs::end(it); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        if (!known.count(it->path().stem().string())) report.orphan_files.push_back(it->path().string());
    }
    report.ok = report.integrity == "ok" && report.foreign_key_violations == 0 && report.missing_assets.empty() &&
                report.corrupt_assets.empty();
    return report;
}

GcReport Store::gc(int64_t min_age_ms, bool dry_run) {
    Db& db = impl_->db;
    GcReport report;
    std::vector<std::string> shas;
    {
        Transaction t(db);
        Stmt s(db, (std::string("SELECT a.id, a.sha256 FROM assets a WHERE a.created_ms <= ? AND NOT ") +
                    asset_referenced_sql()).c_str());
        s.bind(1, now_ms() - min_age_ms);
        std::vector<int64_t> ids;
        while (s.step()) {
            ids.push_back(s.int64(0));
            shas.push_back(s.text(1));
        }
        if (!dry_run) {
            Stmt del(db, "DELETE FROM assets WHERE id = ?");
            for (int64_t id : ids) {
                del.reset();
                del.bind(1, id).run();
            }
        }
        t.commit();
        report.assets_removed = int64_t(ids.size());
    }
    std::vector<std::string> files;
    for (const auto& sha : shas) {
        files.push_back(impl_->asset_file(sha));
        files.push_back(impl_->thumb_file(sha));
    }
    // Stray files (a crash between writing a file and its row) older than the grace period.
    std::set<std::string> known;
    {
        Stmt s(db, "SELECT sha256 FROM assets");
        while (s.step()) known.insert(s.text(0));
    }
    const auto cutoff = fs::file_time_type::clock::now() - std::chrono::milliseconds(min_age_ms);
    for (const char* sub : {"/assets", "/thumbs"}) {
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(impl_->dir + sub, ec); !ec && it != fs::end(it); it.increment(ec)) {
            if (!it->is_regular_file()) continue;
            const std::string stem = it->path().stem().string();
            std::error_code ec2;
            if (!known.count(stem) && it->last_write_time(ec2) <= cutoff &&
                std::find(shas.begin(), shas.end(), stem) == shas.end())
                files.push_back(it->path().string());
        }
    }
    for (const auto& f : files) {
        std::error_code ec;
        const auto size = fs::file_size(f, ec);
        if (ec) continue;
        if (!dry_run && !fs::remove(f, ec)) continue;
        ++report.files_removed;
        report.bytes_freed += int64_t(size);
    }
    return report;
}

}  // namespace atelier
