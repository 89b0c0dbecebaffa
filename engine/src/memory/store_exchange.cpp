// Export and import: Atelier bundles (JSONL + assets + manifest with SHA-256, as a folder or a
// ustar .tar), the Pick-a-Pic column set (CSV or JSONL, ties as 0.5/0.5) and Label Studio's
// pairwise JSON (value.selected = left|right). Imports are validated in full first, then the
// asset files are written, then every row goes in one transaction: all or nothing.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "atelier/store.h"
#include "io/file_util.h"
#include "memory/sha256.h"
#include "memory/store_impl.h"
#include "memory/tar.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace atelier {
namespace {

// ---- small helpers ------------------------------------------------------------------------------

std::string base64_encode(const std::vector<uint8_t>& in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < in.size(); i += 3) {
        const uint32_t n = uint32_t(in[i]) << 16 | (i + 1 < in.size() ? uint32_t(in[i + 1]) << 8 : 0) |
                           (i + 2 < in.size() ? in[i + 2] : 0);
        out += t[n >> 18 & 63];
        out += t[n >> 12 & 63];
        out += i + 1 < in.size() ? t[n >> 6 & 63] : '=';
        out += i + 2 < in.size() ? t[n & 63] : '=';
    }
    return out;
}

bool base64_decode(const std::string& in, std::vector<uint8_t>& out) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    if (in.size() % 4) return false;
    out.clear();
    for (size_t i = 0; i < in.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            if (in[i + k] == '=' && i + 4 == in.size() && k >= 2) { v[k] = 0; ++pad; continue; }
            if ((v[k] = value(in[i + k])) < 0) return false;
        }
        const uint32_t n = uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
        out.push_back(uint8_t(n >> 16));
        if (pad < 2) out.push_back(uint8_t(n >> 8));
        if (pad < 1) out.push_back(uint8_t(n));
    }
    return true;
}

std::string iso_time(int64_t ms) {
    const std::time_t seconds = std::time_t(ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms % 1000));
    return buf;
}

// "YYYY-MM-DD[T| ]HH:MM:SS[.fff...][Z|+00:00]" -> ms since the epoch (UTC); false if unreadable.
bool parse_iso_time(const std::string& text, int64_t& ms) {
    int y, mo, d, h = 0, mi = 0, s = 0;
    char sep = 'T';
    int used = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &s, &used) < 3) return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
    int64_t frac_ms = 0;
    if (used > 0 && size_t(used) < text.size() && text[size_t(used)] == '.') {
        int64_t scale = 100;
        for (size_t i = size_t(used) + 1; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
            frac_ms += (text[i] - '0') * scale;
            scale /= 10;
        }
    }
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    ms = int64_t(timegm(&tm)) * 1000 + frac_ms;
    return true;
}

// RFC 4180 CSV.
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

struct CsvRecord {
    int64_t line;
    std::vector<std::string> fields;
};

// Returns false (with `error`) on an unterminated quote.
bool csv_parse(const std::string& text, std::vector<CsvRecord>& records, std::string& error) {
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false, any = false;
    int64_t line = 1, record_line = 1;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') { field += '"'; ++i; }
                else quoted = false;
            } else {
                if (c == '\n') ++line;
                field += c;
            }
            continue;
        }
        if (c == '"') { quoted = true; any = true; }
        else if (c == ',') { fields.push_back(field); field.clear(); any = true; }
        else if (c == '\r') {}
        else if (c == '\n') {
            if (any || !field.empty()) {
                fields.push_back(field);
                records.push_back({record_line, fields});
            }
            fields.clear();
            field.clear();
            any = false;
            record_line = ++line;
        } else { field += c; any = true; }
    }
    if (quoted) {
        error = "unterminated quoted field starting on line " + std::to_string(record_line);
        return false;
    }
    if (any || !field.empty()) {
        fields.push_back(field);
        records.push_back({record_line, fields});
    }
    return true;
}

const std::vector<std::string> k_pickapic_columns = {"caption", "image_0_uid", "image_1_uid", "label_0", "label_1",
                                                     "best_image_uid", "user_id", "created_at", "has_label",
                                                     "are_different"};

// ---- what an import will write, gathered and validated before anything is stored -----------------

struct PendingAsset {
    std::string sha;
    std::vector<uint8_t> png;
    std::string origin = "imported", source_name;
};

struct PendingComparison {
    std::string annotator;
    std::string left, right;   // asset sha
    std::string prompt;
    Choice choice = Choice::invalid;
    int strength = 0;
    std::string rationale, session;
    int64_t decision_ms = 0, created_ms = 0, undone_ms = 0;
    bool is_gold = false;
    Choice gold_choice = Choice::invalid;
    std::string queue_ref;     // bundle queue reference (or the import's own queue)
    int64_t position = -1;     // item position in that queue
    std::string ref;           // bundle id, for memory sources
};

struct PendingQueue {
    std::string ref, name, created_by;
    int overlap = 1;
    int64_t created_ms = 0;
    std::vector<QueuePairInput> items;              // asset ids filled at write time
    std::vector<std::pair<std::string, std::string>> item_shas;
    std::vector<int64_t> positions;
};

struct Pending {
    std::map<std::string, std::string> profiles;    // name -> role
    std::map<std::string, std::string> profile_settings;
    std::map<std::string, PendingAsset> assets;     // sha -> bytes
    std::vector<PendingComparison> comparisons;
    std::vector<PendingQueue> queues;
    std::vector<json> concepts, generations, memory, history, reward_models;
    std::vector<ImportIssue> issues;

    void issue(const std::string& file, int64_t line, const std::string& field, const std::string& message) {
        if (issues.size() < 1000) issues.push_back({file, line, field, message});
    }
};

}  // namespace

// ---- export -------------------------------------------------------------------------------------

namespace {

struct ExportSet {
    std::set<int64_t> profiles, assets, queues;
    std::vector<int64_t> comparisons;
};

std::string fmt_choice_label(Choice c, bool left_label) {
    if (c == Choice::tie) return "0.5";
    if (c == Choice::left) return left_label ? "1" : "0";
    if (c == Choice::right) return left_label ? "0" : "1";
    return "0";
}

}  // namespace

ExportReport Store::export_data(const ExportOptions& options) {
    Db& db = impl_->db;
    if (options.path.empty()) throw Error("export: no output path given");
    if ((options.profile_id == 0) == (options.queue_id == 0))
        throw Error("export: give exactly one of a profile or a queue to export");
    std::string format = options.format;
    const std::string ext = fs::path(options.path).extension().string();
    if (format == "auto") {
        if (ext == ".tar") format = "tar";
        else if (ext == ".csv") format = "pickapic-csv";
        else if (ext == ".jsonl") format = "pickapic-jsonl";
        else if (ext == ".json") format = "labelstudio";
        else format = "bundle";
    }
    require_text_in(format, {"bundle", "tar", "pickapic-csv", "pickapic-jsonl", "labelstudio"}, "export format");

    // Which comparisons: the profile's own, or every one made on the queue.
    ExportSet set;
    std::string where = options.profile_id ? "annotator_id = " + std::to_string(options.profile_id)
                                           : "queue_id = " + std::to_string(options.queue_id);
    if (!options.include_undone) where += " AND undone_ms IS NULL";
    std::vector<Comparison> comparisons;
    {
        Stmt s(db, ("SELECT id FROM comparisons WHERE " + where + " ORDER BY id").c_str());
        while (s.step()) set.comparisons.push_back(s.int64(0));
    }
    for (int64_t id : set.comparisons) comparisons.push_back(comparison(id));
    std::map<int64_t, std::string> names;
    auto name_of = [&](int64_t profile_id) -> std::string {
        if (!profile_id) return "";
        auto it = names.find(profile_id);
        if (it != names.end()) return it->second;
        return names[profile_id] = profile(profile_id).name;
    };
    std::map<int64_t, std::string> shas;
    auto sha_of = [&](int64_t asset_id) -> std::string {
        if (!asset_id) return "";
        set.assets.insert(asset_id);
        auto it = shas.find(asset_id);
        if (it != shas.end()) return it->second;
        return shas[asset_id] = asset(asset_id).sha256;
    };
    ExportReport report;
    report.path = options.path;

    std::vector<TarEntry> files;   // relative name -> bytes
    auto add_assets = [&](const std::string& folder) {
        if (!options.include_assets) return;
        for (int64_t id : set.assets) {
            const AssetInfo a = asset(id);
            files.push_back({folder + a.sha256 + ".png", read_file_bytes(a.path)});
        }
        report.assets = int64_t(set.assets.size());
    };
    auto write_out = [&](const std::string& base_dir) {
        for (const TarEntry& f : files) {
            const fs::path p = fs::path(base_dir) / f.name;
            std::error_code ec;
            fs::create_directories(p.parent_path(), ec);
            if (ec) throw Error(p.parent_path().string() + ": cannot create (" + ec.message() + ")");
            write_file_atomically(p.string(), f.bytes);
        }
    };

    if (format == "pickapic-csv" || format == "pickapic-jsonl") {
        std::string out;
        if (format == "pickapic-csv") {
            for (size_t i = 0; i < k_pickapic_columns.size(); ++i) out += (i ? "," : "") + k_pickapic_columns[i];
            out += "\n";
        }
        for (const Comparison& c : comparisons) {
            if (c.undone) continue;
            const std::string l = sha_of(c.left_asset_id), r = sha_of(c.right_asset_id);
            const bool labelled = c.choice != Choice::skip;
            const std::string best = c.choice == Choice::left ? l : c.choice == Choice::right ? r : "";
            const std::vector<std::string> row = {c.prompt, l, r,
                                                  labelled ? fmt_choice_label(c.choice, true) : "0",
                                                  labelled ? fmt_choice_label(c.choice, false) : "0",
                                                  best, name_of(c.annotator_id), iso_time(c.created_ms),
                                                  labelled ? "1" : "0", l != r ? "1" : "0"};
            if (format == "pickapic-csv") {
                for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + csv_field(row[i]);
                out += "\n";
            } else {
                json j;
                j["caption"] = c.prompt;
                j["image_0_uid"] = l;
                j["image_1_uid"] = r;
                j["label_0"] = labelled ? std::stod(row[3]) : 0.0;
                j["label_1"] = labelled ? std::stod(row[4]) : 0.0;
                j["best_image_uid"] = best;
                j["user_id"] = name_of(c.annotator_id);
                j["created_at"] = iso_time(c.created_ms);
                j["has_label"] = labelled ? 1 : 0;
                j["are_different"] = l != r ? 1 : 0;
                out += j.dump() + "\n";
            }
            ++report.comparisons;
        }
        add_assets("images/");
        write_out(fs::path(options.path).parent_path().string());
        write_file_atomically(options.path, out);
        return report;
    }

    if (format == "labelstudio") {
        // One task per pair (and prompt); one annotation per judgement. Label Studio's pairwise
        // control has no tie or skip: those judgements are left out.
        std::map<std::tuple<int64_t, int64_t, std::string>, json> tasks;
        std::vector<std::tuple<int64_t, int64_t, std::string>> order;
        for (const Comparison& c : comparisons) {
            if (c.undone || (c.choice != Choice::left && c.choice != Choice::right)) continue;
            const auto key = std::make_tuple(c.left_asset_id, c.right_asset_id, c.prompt);
            if (!tasks.count(key)) {
                order.push_back(key);
                json task;
                task["id"] = int64_t(order.size());
                task["data"] = {{"image1", "images/" + sha_of(c.left_asset_id) + ".png"},
                                {"image2", "images/" + sha_of(c.right_asset_id) + ".png"},
                                {"prompt", c.prompt}};
                task["annotations"] = json::array();
                tasks[key] = task;
            }
            json result = {{"from_name", "comparison"}, {"to_name", "pairwise"}, {"type", "pairwise"},
                           {"origin", "manual"}, {"value", {{"selected", to_string(c.choice)}}}};
            json annotation = {{"id", c.id}, {"completed_by", name_of(c.annotator_id)},
                               {"created_at", iso_time(c.created_ms)}, {"lead_time", double(c.decision_ms) / 1000.0},
                               {"result", json::array({result})}};
            tasks[key]["annotations"].push_back(annotation);
            ++report.comparisons;
        }
        json all = json::array();
        for (const auto& key : order) all.push_back(tasks[key]);
        add_assets("images/");
        write_out(fs::path(options.path).parent_path().string());
        write_file_atomically(options.path, all.dump(1));
        return report;
    }

    // ---- bundle ----
    std::map<std::string, std::string> jsonl;   // file -> text
    auto emit = [&](const std::string& file, const json& j) { jsonl[file] += j.dump() + "\n"; };
    std::set<int64_t> profiles;
    if (options.profile_id) profiles.insert(options.profile_id);
    std::set<int64_t> queues;
    if (options.queue_id) queues.insert(options.queue_id);
    for (const Comparison& c : comparisons) {
        profiles.insert(c.annotator_id);
        if (c.queue_id) queues.insert(c.queue_id);
    }
    if (options.profile_id) {
        Stmt s(db, "SELECT id FROM queues WHERE created_by = ?");
        s.bind(1, options.profile_id);
        while (s.step()) queues.insert(s.int64(0));
    }
    for (int64_t qid : queues) {
        const QueueInfo q = queue(qid);
        if (q.created_by) profiles.insert(q.created_by);
        json items = json::array();
        Stmt s(db, "SELECT position, left_asset_id, right_asset_id, prompt, gold_choice FROM queue_items WHERE queue_id = ?"
                   " ORDER BY position");
        s.bind(1, qid);
        while (s.step()) {
            json item = {{"position", s.int64(0)}, {"left", sha_of(s.int64(1))}, {"right", sha_of(s.int64(2))},
                         {"prompt", s.text(3)}};
            if (s.int64(4)) item["gold"] = to_string(Choice(s.int64(4)));
            items.push_back(item);
            ++report.queue_items;
        }
        emit("queues.jsonl", {{"ref", "q" + std::to_string(qid)}, {"name", q.name}, {"created_by", name_of(q.created_by)},
                              {"overlap", q.overlap}, {"created_ms", q.created_ms}, {"items", items}});
    }
    std::map<int64_t, int64_t> item_positions;
    for (const Comparison& c : comparisons) {
        json j = {{"ref", "c" + std::to_string(c.id)}, {"annotator", name_of(c.annotator_id)},
                  {"left", sha_of(c.left_asset_id)}, {"right", sha_of(c.right_asset_id)}, {"prompt", c.prompt},
                  {"choice", to_string(c.choice)}, {"strength", c.strength}, {"rationale", c.rationale},
                  {"decision_ms", c.decision_ms}, {"session", c.session}, {"is_gold", c.is_gold},
                  {"created_ms", c.created_ms}};
        if (c.gold_choice != Choice::invalid) j["gold_choice"] = to_string(c.gold_choice);
        if (c.undone) j["undone_ms"] = c.undone_ms;
        if (c.queue_id) {
            j["queue"] = "q" + std::to_string(c.queue_id);
            if (c.queue_item_id) {
                Stmt p(db, "SELECT position FROM queue_items WHERE id = ?");
                p.bind(1, c.queue_item_id);
                if (p.step()) j["position"] = p.int64(0);
            }
        }
        emit("comparisons.jsonl", j);
        ++report.comparisons;
    }
    if (options.profile_id) {
        const int64_t pid = options.profile_id;
        for (const Concept& c : list_concepts(pid)) {
            json refs = json::array();
            for (int64_t a : c.reference_asset_ids) refs.push_back(sha_of(a));
            emit("concepts.jsonl", {{"ref", "k" + std::to_string(c.id)}, {"profile", name_of(pid)}, {"name", c.name},
                                    {"trigger_token", c.trigger_token}, {"class_word", c.class_word},
                                    {"method", c.method}, {"status", c.status},
                                    {"training_settings", c.training_settings_json}, {"metrics", c.metrics_json},
                                    {"artifact_path", c.artifact_path}, {"reference_assets", refs},
                                    {"created_ms", c.created_ms}, {"updated_ms", c.updated_ms}});
        }
        for (int offset = 0;; offset += 1000) {
            const auto page = list_generations(pid, 1000, offset);
            for (const GenerationRecord& g : page) {
                json concepts = json::array(), loras = json::array();
                for (const auto& n : g.concepts) concepts.push_back({{"name", n.name}, {"strength", n.strength}});
                for (const auto& n : g.loras) loras.push_back({{"name", n.name}, {"strength", n.strength}});
                emit("generations.jsonl",
                     {{"ref", "g" + std::to_string(g.id)}, {"profile", name_of(pid)}, {"asset", sha_of(g.asset_id)},
                      {"model_id", g.model_id}, {"model_hash", g.model_hash}, {"model_name", g.model_name},
                      {"prompt", g.prompt}, {"negative_prompt", g.negative_prompt},
                      {"effective_prompt", g.effective_prompt}, {"seed", std::to_string(g.seed)},
                      {"sampler", g.sampler}, {"timestep_spacing", g.timestep_spacing}, {"steps", g.steps},
                      {"guidance", g.guidance}, {"width", g.width}, {"height", g.height}, {"clip_skip", g.clip_skip},
                      {"strength", g.strength}, {"concepts", concepts}, {"loras", loras},
                      {"duration_ms", g.duration_ms}, {"extra", g.extra_json}, {"created_ms", g.created_ms}});
            }
            if (page.size() < 1000) break;
        }
        MemoryFilter filter;
        filter.profile_id = pid;
        filter.include_deleted = true;
        filter.limit = 1 << 30;
        for (const MemoryEntry& listed : list_memory(filter)) {
            const MemoryEntry e = memory_entry(listed.id);
            json csrc = json::array(), gsrc = json::array();
            for (int64_t c : e.source_comparison_ids) csrc.push_back("c" + std::to_string(c));
            for (int64_t g : e.source_generation_ids) gsrc.push_back("g" + std::to_string(g));
            emit("memory.jsonl", {{"ref", "m" + std::to_string(e.id)}, {"profile", name_of(pid)}, {"kind", e.kind},
                                  {"text", e.text}, {"weight", e.weight}, {"active", e.active}, {"source", e.source},
                                  {"source_count", e.source_count}, {"deleted", e.deleted},
                                  {"created_ms", e.created_ms}, {"updated_ms", e.updated_ms},
                                  {"source_comparisons", csrc}, {"source_generations", gsrc}});
            ++report.memory_entries;
            for (const MemoryHistoryEvent& h : memory_history(e.id))
                emit("memory_history.jsonl",
                     {{"entry", "m" + std::to_string(e.id)}, {"event", h.event},
                      {"actor", h.actor == Actor::learner ? "learner" : "user"}, {"old_text", h.old_text},
                      {"new_text", h.new_text}, {"old_weight", h.old_weight}, {"new_weight", h.new_weight},
                      {"old_active", h.old_active}, {"new_active", h.new_active}, {"created_ms", h.created_ms},
                      {"undone", h.undone}});
        }
        for (const RewardModelRecord& listed : list_reward_models(pid)) {
            Stmt s(db, "SELECT parameters FROM reward_models WHERE id = ?");
            s.bind(1, listed.id);
            s.step();
            emit("reward_models.jsonl", {{"profile", name_of(pid)}, {"feature_set", listed.feature_set},
                                         {"parameters_base64", base64_encode(s.blob(0))},
                                         {"label_count", listed.label_count},
                                         {"heldout_accuracy", listed.heldout_accuracy}, {"notes", listed.notes_json},
                                         {"created_ms", listed.created_ms}});
        }
    }
    for (int64_t pid : profiles) {
        if (!pid) continue;
        const Profile p = profile(pid);
        emit("profiles.jsonl", {{"name", p.name}, {"role", p.role}, {"settings", p.settings_json},
                                {"created_ms", p.created_ms}});
        ++report.profiles;
    }
    for (int64_t id : set.assets) {
        const AssetInfo a = asset(id);
        emit("assets.jsonl", {{"sha256", a.sha256}, {"width", a.width}, {"height", a.height}, {"origin", a.origin},
                              {"source_name", a.source_name}, {"created_ms", a.created_ms}});
    }
    for (auto& [name, text] : jsonl) files.push_back({name, std::vector<uint8_t>(text.begin(), text.end())});
    add_assets("assets/");
    json manifest = {{"format", "atelier-bundle"}, {"version", 1}, {"created_ms", now_ms()},
                     {"scope", options.profile_id ? json{{"profile", name_of(options.profile_id)}}
                                                  : json{{"queue", queue(options.queue_id).name}}},
                     {"counts", {{"profiles", report.profiles}, {"assets", report.assets},
                                 {"comparisons", report.comparisons}, {"memory_entries", report.memory_entries},
                                 {"queue_items", report.queue_items}}}};
    json hashes = json::object();
    for (const TarEntry& f : files) hashes[f.name] = sha256_hex(f.bytes);
    manifest["files"] = hashes;
    const std::string manifest_text = manifest.dump(1);
    files.insert(files.begin(), {"manifest.json", std::vector<uint8_t>(manifest_text.begin(), manifest_text.end())});
    if (format == "tar") {
        write_file_atomically(options.path, tar_pack(files));
    } else {
        std::error_code ec;
        fs::create_directories(options.path, ec);
        if (ec) throw Error(options.path + ": cannot create the export folder (" + ec.message() + ")");
        std::rotate(files.begin(), files.begin() + 1, files.end());   // the manifest last: a complete folder has one
        write_out(options.path);
    }
    return report;
}

// ---- import -------------------------------------------------------------------------------------

namespace {

// The files of a bundle, from a folder or a tar, by relative name.
struct BundleFiles {
    std::map<std::string, std::vector<uint8_t>> files;
};

std::string text_of(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

// Reads an image file for an import (PNG kept as is, others converted), checking it decodes.
bool load_image_bytes(const std::vector<uint8_t>& bytes, const std::string& what, PendingAsset& out, std::string& error) {
    try {
        const Image decoded = decode_image(bytes, what, 3);
        static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        const bool png = bytes.size() >= 8 && std::equal(sig, sig + 8, bytes.begin());
        out.png = png ? bytes : encode_png(decoded);
        out.sha = sha256_hex(out.png);
        return true;
    } catch (const Error& e) {
        error = e.what();
        return false;
    }
}

void lines_of(const std::string& text, const std::function<void(int64_t, const std::string&)>& fn) {
    std::istringstream in(text);
    std::string line;
    int64_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        fn(n, line);
    }
}

// Parse helpers that record an issue instead of throwing.
struct Fields {
    Pending& p;
    const std::string& file;
    int64_t line;
    const json& j;

    bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
    std::string str(const char* k, bool required = false, const std::string& fallback = "") {
        if (!has(k)) {
            if (required) p.issue(file, line, k, "missing");
            return fallback;
        }
        if (j[k].is_string()) return j[k].get<std::string>();
        if (j[k].is_number_integer()) return std::to_string(j[k].get<int64_t>());
        p.issue(file, line, k, "expected a string");
        return fallback;
    }
    int64_t integer(const char* k, int64_t fallback = 0) {
        if (!has(k)) return fallback;
        if (j[k].is_number_integer()) return j[k].get<int64_t>();
        if (j[k].is_number()) return int64_t(j[k].get<double>());
        p.issue(file, line, k, "expected an integer");
        return fallback;
    }
    double number(const char* k, double fallback = 0) {
        if (!has(k)) return fallback;
        if (j[k].is_number()) return j[k].get<double>();
        if (j[k].is_string()) {
            try { return std::stod(j[k].get<std::string>()); } catch (...) {}
        }
        p.issue(file, line, k, "expected a number");
        return fallback;
    }
    bool boolean(const char* k, bool fallback = false) {
        if (!has(k)) return fallback;
        if (j[k].is_boolean()) return j[k].get<bool>();
        if (j[k].is_number()) return j[k].get<double>() != 0;
        p.issue(file, line, k, "expected true or false");
        return fallback;
    }
    Choice choice(const char* k, bool required) {
        const std::string s = str(k, required);
        if (s.empty()) return Choice::invalid;
        try { return parse_choice(s); } catch (const Error&) {
            p.issue(file, line, k, "expected left, right, tie or skip, found '" + s + "'");
            return Choice::invalid;
        }
    }
};

void read_bundle(const BundleFiles& b, const std::string& what, Pending& p) {
    auto it = b.files.find("manifest.json");
    if (it == b.files.end()) {
        p.issue(what, 0, "manifest.json", "missing: not an Atelier bundle");
        return;
    }
    const json manifest = json::parse(text_of(it->second), nullptr, false);
    if (!manifest.is_object() || manifest.value("format", "") != "atelier-bundle") {
        p.issue("manifest.json", 0, "format", "expected \"atelier-bundle\"");
        return;
    }
    if (manifest.value("version", 0) != 1) {
        p.issue("manifest.json", 0, "version", "expected 1, found " + manifest.value("version", json(0)).dump());
        return;
    }
    const json files = manifest.value("files", json::object());
    for (const auto& [name, hash] : files.items()) {
        auto f = b.files.find(name);
        if (f == b.files.end()) p.issue(name, 0, "", "listed in the manifest but missing");
        else if (!hash.is_string() || sha256_hex(f->second) != hash.get<std::string>())
            p.issue(name, 0, "sha256", "does not match the manifest (damaged or edited file)");
    }
    for (const auto& [name, bytes] : b.files)
        if (name != "manifest.json" && !files.contains(name)) p.issue(name, 0, "", "not listed in the manifest");
    if (!p.issues.empty()) return;

    auto each = [&](const std::string& file, const std::function<void(Fields&)>& fn) {
        auto f = b.files.find(file);
        if (f == b.files.end()) return;
        lines_of(text_of(f->second), [&](int64_t line, const std::string& text) {
            const json j = json::parse(text, nullptr, false);
            if (!j.is_object()) {
                p.issue(file, line, "", "not a JSON object");
                return;
            }
            Fields fields{p, file, line, j};
            fn(fields);
        });
    };
    std::set<std::string> listed_assets;
    each("assets.jsonl", [&](Fields& f) {
        const std::string sha = f.str("sha256", true);
        auto file = b.files.find("assets/" + sha + ".png");
        if (file == b.files.end()) {
            f.p.issue(f.file, f.line, "sha256", "assets/" + sha + ".png is not in the bundle");
            return;
        }
        PendingAsset a;
        std::string error;
        if (!load_image_bytes(file->second, "assets/" + sha + ".png", a, error)) {
            f.p.issue("assets/" + sha + ".png", 0, "", error);
            return;
        }
        if (a.sha != sha) {
            f.p.issue(f.file, f.line, "sha256", "the file's hash is " + a.sha);
            return;
        }
        a.origin = f.str("origin", false, "imported");
        if (a.origin != "imported" && a.origin != "generated" && a.origin != "reference" && a.origin != "frame")
            f.p.issue(f.file, f.line, "origin", "unknown origin '" + a.origin + "'");
        a.source_name = f.str("source_name");
        p.assets[sha] = a;
    });
    auto need_asset = [&](Fields& f, const char* key) {
        const std::string sha = f.str(key, true);
        if (!sha.empty() && !p.assets.count(sha)) f.p.issue(f.file, f.line, key, "unknown asset " + sha);
        return sha;
    };
    each("profiles.jsonl", [&](Fields& f) {
        const std::string name = f.str("name", true), role = f.str("role", false, "designer");
        if (role != "designer" && role != "annotator" && role != "presenter" && role != "admin")
            f.p.issue(f.file, f.line, "role", "unknown role '" + role + "'");
        if (!name.empty()) {
            p.profiles[name] = role;
            p.profile_settings[name] = f.str("settings", false, "{}");
        }
    });
    auto need_profile = [&](Fields& f, const char* key, bool required) {
        const std::string name = f.str(key, required);
        if (!name.empty() && !p.profiles.count(name)) f.p.issue(f.file, f.line, key, "profile '" + name + "' is not in profiles.jsonl");
        return name;
    };
    std::set<std::string> queue_refs;
    each("queues.jsonl", [&](Fields& f) {
        PendingQueue q;
        q.ref = f.str("ref", true);
        q.name = f.str("name", true);
        q.created_by = need_profile(f, "created_by", false);
        q.overlap = int(f.integer("overlap", 1));
        if (q.overlap < 1) f.p.issue(f.file, f.line, "overlap", "expected >= 1");
        q.created_ms = f.integer("created_ms");
        const json items = f.j.value("items", json::array());
        for (const json& item : items) {
            Fields fi{p, f.file, f.line, item};
            const std::string l = need_asset(fi, "left"), r = need_asset(fi, "right");
            QueuePairInput in;
            in.prompt = fi.str("prompt");
            in.gold_choice = fi.choice("gold", false);
            q.items.push_back(in);
            q.item_shas.push_back({l, r});
            q.positions.push_back(fi.integer("position", int64_t(q.positions.size())));
        }
        queue_refs.insert(q.ref);
        p.queues.push_back(q);
    });
    each("comparisons.jsonl", [&](Fields& f) {
        PendingComparison c;
        c.ref = f.str("ref");
        c.annotator = need_profile(f, "annotator", true);
        c.left = need_asset(f, "left");
        c.right = need_asset(f, "right");
        c.prompt = f.str("prompt");
        c.choice = f.choice("choice", true);
        c.strength = int(f.integer("strength"));
        if (c.strength < 0 || c.strength > 3) f.p.issue(f.file, f.line, "strength", "expected 0..3");
        c.rationale = f.str("rationale");
        c.session = f.str("session");
        c.decision_ms = f.integer("decision_ms");
        c.created_ms = f.integer("created_ms");
        c.undone_ms = f.integer("undone_ms");
        c.is_gold = f.boolean("is_gold");
        c.gold_choice = f.choice("gold_choice", false);
        c.queue_ref = f.str("queue");
        c.position = f.integer("position", -1);
        if (!c.queue_ref.empty() && !queue_refs.count(c.queue_ref))
            f.p.issue(f.file, f.line, "queue", "unknown queue '" + c.queue_ref + "'");
        p.comparisons.push_back(c);
    });
    each("concepts.jsonl", [&](Fields& f) {
        need_profile(f, "profile", false);
        if (f.str("name", true).empty()) return;
        for (const json& a : f.j.value("reference_assets", json::array()))
            if (!a.is_string() || !p.assets.count(a.get<std::string>()))
                f.p.issue(f.file, f.line, "reference_assets", "unknown asset " + a.dump());
        p.concepts.push_back(f.j);
    });
    each("generations.jsonl", [&](Fields& f) {
        need_profile(f, "profile", false);
        if (f.has("asset")) need_asset(f, "asset");
        p.generations.push_back(f.j);
    });
    each("memory.jsonl", [&](Fields& f) {
        need_profile(f, "profile", true);
        f.str("text", true);
        f.str("ref", true);
        p.memory.push_back(f.j);
    });
    each("memory_history.jsonl", [&](Fields& f) {
        f.str("entry", true);
        p.history.push_back(f.j);
    });
    each("reward_models.jsonl", [&](Fields& f) {
        need_profile(f, "profile", true);
        std::vector<uint8_t> blob;
        if (!base64_decode(f.str("parameters_base64", true), blob))
            f.p.issue(f.file, f.line, "parameters_base64", "not valid base64");
        p.reward_models.push_back(f.j);
    });
}

// Resolves an image named by a uid/hash: an asset already stored, or a file in the assets folder.
struct ImageResolver {
    Store& store;
    std::string dir;
    Pending& p;
    std::map<std::string, std::string> resolved;   // uid -> sha (or "" when not found)

    std::string operator()(const std::string& uid_or_path, const std::string& file, int64_t line, const char* field) {
        auto it = resolved.find(uid_or_path);
        if (it != resolved.end()) {
            if (it->second.empty()) p.issue(file, line, field, "image '" + uid_or_path + "' not found");
            return it->second;
        }
        std::string sha;
        if (uid_or_path.size() == 64 && store.find_asset(uid_or_path)) sha = uid_or_path;
        if (sha.empty()) {
            const std::string stem = fs::path(uid_or_path).filename().string();
            std::vector<fs::path> candidates = {fs::path(dir) / uid_or_path, fs::path(dir) / stem};
            for (const char* ext : {".png", ".jpg", ".jpeg", ".webp"}) candidates.push_back(fs::path(dir) / (stem + ext));
            for (const fs::path& c : candidates) {
                std::error_code ec;
                if (!fs::is_regular_file(c, ec)) continue;
                PendingAsset a;
                std::string error;
                if (!load_image_bytes(read_file_bytes(c.string()), c.string(), a, error)) {
                    p.issue(c.string(), 0, field, error);
                    break;
                }
                a.source_name = c.filename().string();
                if (!p.assets.count(a.sha)) p.assets[a.sha] = a;
                sha = a.sha;
                break;
            }
        }
        resolved[uid_or_path] = sha;
        if (sha.empty()) p.issue(file, line, field, "image '" + uid_or_path + "' not found in the store or in " + dir);
        return sha;
    }
};

void read_pickapic(Store& store, const std::string& path, const std::string& format, const std::string& assets_dir,
                   const std::string& queue_name, Pending& p) {
    const std::string file = fs::path(path).filename().string();
    ImageResolver resolve{store, assets_dir, p, {}};
    std::vector<std::pair<int64_t, std::map<std::string, json>>> rows;
    const std::string text = read_file_text(path);
    if (format == "pickapic-csv") {
        std::vector<CsvRecord> records;
        std::string error;
        if (!csv_parse(text, records, error)) {
            p.issue(file, 0, "", error);
            return;
        }
        if (records.empty()) {
            p.issue(file, 1, "", "empty file: expected a header line");
            return;
        }
        const auto& header = records.front().fields;
        std::map<std::string, size_t> column;
        for (size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
        for (const std::string& c : k_pickapic_columns)
            if (!column.count(c)) p.issue(file, 1, c, "missing column");
        if (!p.issues.empty()) return;
        for (size_t r = 1; r < records.size(); ++r) {
            if (records[r].fields.size() != header.size()) {
                p.issue(file, records[r].line, "", "expected " + std::to_string(header.size()) + " fields, found " +
                                                       std::to_string(records[r].fields.size()));
                continue;
            }
            std::map<std::string, json> row;
            for (const auto& [name, i] : column) row[name] = records[r].fields[i];
            rows.push_back({records[r].line, row});
        }
    } else {
        lines_of(text, [&](int64_t line, const std::string& l) {
            const json j = json::parse(l, nullptr, false);
            if (!j.is_object()) {
                p.issue(file, line, "", "not a JSON object");
                return;
            }
            std::map<std::string, json> row;
            for (const auto& [k, v] : j.items()) row[k] = v;
            for (const std::string& c : k_pickapic_columns)
                if (!row.count(c)) p.issue(file, line, c, "missing field");
            rows.push_back({line, row});
        });
    }
    auto num = [&](const json& v, int64_t line, const char* field, double& out) {
        if (v.is_number()) { out = v.get<double>(); return true; }
        if (v.is_boolean()) { out = v.get<bool>() ? 1 : 0; return true; }
        if (v.is_string()) {
            const std::string s = v.get<std::string>();
            if (s == "True" || s == "true") { out = 1; return true; }
            if (s == "False" || s == "false") { out = 0; return true; }
            char* end = nullptr;
            out = std::strtod(s.c_str(), &end);
            if (!s.empty() && end && *end == 0) return true;
        }
        p.issue(file, line, field, "expected a number, found " + v.dump());
        return false;
    };
    auto str = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump(); };
    PendingQueue queue;
    queue.ref = "import";
    queue.name = queue_name;
    std::map<std::pair<std::string, std::string>, int64_t> queue_positions;
    for (auto& [line, row] : rows) {
        if (row.size() < k_pickapic_columns.size()) continue;
        PendingComparison c;
        c.prompt = str(row["caption"]);
        c.annotator = str(row["user_id"]);
        if (c.annotator.empty()) {
            p.issue(file, line, "user_id", "missing");
            continue;
        }
        p.profiles.emplace(c.annotator, "annotator");
        const std::string uid0 = str(row["image_0_uid"]), uid1 = str(row["image_1_uid"]);
        c.left = resolve(uid0, file, line, "image_0_uid");
        c.right = resolve(uid1, file, line, "image_1_uid");
        double l0 = 0, l1 = 0, has_label = 1;
        const bool ok = num(row["label_0"], line, "label_0", l0) & num(row["label_1"], line, "label_1", l1) &
                        num(row["has_label"], line, "has_label", has_label);
        if (!ok) continue;
        const std::string best = str(row["best_image_uid"]);
        if (has_label == 0) c.choice = Choice::skip;
        else if (l0 == 0.5 && l1 == 0.5) c.choice = Choice::tie;
        else if (l0 == 1 && l1 == 0) c.choice = Choice::left;
        else if (l0 == 0 && l1 == 1) c.choice = Choice::right;
        else {
            p.issue(file, line, "label_0", "labels must be 1/0, 0/1 or 0.5/0.5 (found " + std::to_string(l0) + "/" +
                                               std::to_string(l1) + ")");
            continue;
        }
        if ((c.choice == Choice::left && !best.empty() && best != uid0) ||
            (c.choice == Choice::right && !best.empty() && best != uid1))
            p.issue(file, line, "best_image_uid", "disagrees with label_0/label_1");
        const std::string created = str(row["created_at"]);
        if (!created.empty() && !parse_iso_time(created, c.created_ms))
            p.issue(file, line, "created_at", "expected an ISO-8601 time, found '" + created + "'");
        if (c.left.empty() || c.right.empty()) continue;
        if (!queue_name.empty()) {
            const auto key = std::make_pair(c.left + c.right, c.prompt);
            auto it = queue_positions.find(key);
            if (it == queue_positions.end()) {
                it = queue_positions.emplace(key, int64_t(queue.items.size())).first;
                QueuePairInput in;
                in.prompt = c.prompt;
                queue.items.push_back(in);
                queue.item_shas.push_back({c.left, c.right});
                queue.positions.push_back(it->second);
            }
            c.queue_ref = queue.ref;
            c.position = it->second;
        }
        c.session = "pickapic:" + file;
        p.comparisons.push_back(c);
    }
    if (!queue_name.empty()) p.queues.push_back(queue);
}

void read_labelstudio(Store& store, const std::string& path, const std::string& assets_dir, int64_t annotator_id,
                      const std::string& queue_name, Pending& p) {
    const std::string file = fs::path(path).filename().string();
    const json all = json::parse(read_file_text(path), nullptr, false);
    if (!all.is_array()) {
        p.issue(file, 0, "", "expected a JSON array of Label Studio tasks");
        return;
    }
    std::string default_annotator;
    if (annotator_id) default_annotator = store.profile(annotator_id).name;
    ImageResolver resolve{store, assets_dir, p, {}};
    PendingQueue queue;
    queue.ref = "import";
    queue.name = queue_name;
    for (size_t t = 0; t < all.size(); ++t) {
        const int64_t record = int64_t(t + 1);
        const json& task = all[t];
        if (!task.is_object() || !task.contains("data") || !task["data"].is_object()) {
            p.issue(file, record, "data", "a task needs a data object");
            continue;
        }
        const json& data = task["data"];
        // The two images: "image1"/"image2" by convention, else the first two string fields that look like images.
        std::vector<std::string> keys;
        if (data.contains("image1") && data.contains("image2")) keys = {"image1", "image2"};
        else
            for (const auto& [k, v] : data.items())
                if (v.is_string() && keys.size() < 2 && k != "prompt" && k != "text" && k != "caption") keys.push_back(k);
        if (keys.size() < 2) {
            p.issue(file, record, "data", "expected two image fields (image1, image2)");
            continue;
        }
        const std::string left = resolve(data[keys[0]].get<std::string>(), file, record, "data.image1");
        const std::string right = resolve(data[keys[1]].get<std::string>(), file, record, "data.image2");
        std::string prompt;
        for (const char* k : {"prompt", "text", "caption"})
            if (data.contains(k) && data[k].is_string()) { prompt = data[k].get<std::string>(); break; }
        if (!queue_name.empty() && !left.empty() && !right.empty()) {
            QueuePairInput in;
            in.prompt = prompt;
            queue.items.push_back(in);
            queue.item_shas.push_back({left, right});
            queue.positions.push_back(int64_t(queue.positions.size()));
        }
        for (const json& annotation : task.value("annotations", json::array())) {
            if (annotation.value("was_cancelled", false)) continue;
            std::string who = default_annotator;
            if (annotation.contains("completed_by")) {
                const json& by = annotation["completed_by"];
                if (by.is_string()) who = by.get<std::string>();
                else if (by.is_object()) who = by.value("email", by.value("username", ""));
                else if (by.is_number_integer() && who.empty()) who = "labelstudio-" + std::to_string(by.get<int64_t>());
            }
            if (who.empty()) {
                p.issue(file, record, "annotations.completed_by", "no annotator (give one with the import options)");
                continue;
            }
            std::string selected;
            for (const json& r : annotation.value("result", json::array()))
                if (r.value("type", "") == "pairwise" && r.contains("value") && r["value"].contains("selected"))
                    selected = r["value"]["selected"].is_string() ? r["value"]["selected"].get<std::string>() : "?";
            if (selected != "left" && selected != "right") {
                p.issue(file, record, "annotations.result.value.selected",
                        "expected left or right, found '" + selected + "'");
                continue;
            }
            PendingComparison c;
            c.annotator = who;
            p.profiles.emplace(who, "annotator");
            c.left = left;
            c.right = right;
            c.prompt = prompt;
            c.choice = selected == "left" ? Choice::left : Choice::right;
            c.decision_ms = int64_t(std::llround(annotation.value("lead_time", 0.0) * 1000.0));
            const std::string created = annotation.value("created_at", "");
            if (!created.empty() && !parse_iso_time(created, c.created_ms))
                p.issue(file, record, "annotations.created_at", "expected an ISO-8601 time, found '" + created + "'");
            c.session = "labelstudio:" + file;
            if (!queue_name.empty()) {
                c.queue_ref = queue.ref;
                c.position = queue.positions.empty() ? 0 : queue.positions.back();
            }
            if (!left.empty() && !right.empty()) p.comparisons.push_back(c);
        }
    }
    if (!queue_name.empty()) p.queues.push_back(queue);
}

}  // namespace

ImportReport Store::import_data(const ImportOptions& options) {
    ImportReport report;
    Pending p;
    std::error_code ec;
    const fs::path path(options.path);
    if (options.path.empty() || !fs::exists(path, ec)) {
        report.issues.push_back({options.path, 0, "", "no such file or folder"});
        return report;
    }
    std::string format = options.format;
    if (format == "auto") {
        const std::string ext = path.extension().string();
        if (fs::is_directory(path, ec)) format = "bundle";
        else if (ext == ".tar") format = "tar";
        else if (ext == ".csv") format = "pickapic-csv";
        else if (ext == ".jsonl") format = "pickapic-jsonl";
        else if (ext == ".json") format = "labelstudio";
        else {
            report.issues.push_back({options.path, 0, "", "cannot tell the format from the name; give it"});
            return report;
        }
    }
    try {
        require_text_in(format, {"bundle", "tar", "pickapic-csv", "pickapic-jsonl", "labelstudio"}, "import format");
        const std::string assets_dir = !options.assets_dir.empty() ? options.assets_dir
                                       : fs::is_directory(path.parent_path() / "images", ec)
                                           ? (path.parent_path() / "images").string()
                                           : path.parent_path().string();
        if (format == "bundle" || format == "tar") {
            BundleFiles b;
            if (format == "tar") {
                for (TarEntry& e : tar_unpack(read_file_bytes(options.path), options.path)) b.files[e.name] = std::move(e.bytes);
            } else {
                for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it); it.increment(ec))
                    if (it->is_regular_file())
                        b.files[fs::relative(it->path(), path).generic_string()] = read_file_bytes(it->path().string());
            }
            read_bundle(b, options.path, p);
        } else if (format == "labelstudio") {
            read_labelstudio(*this, options.path, assets_dir, options.annotator_id, options.queue_name, p);
        } else {
            read_pickapic(*this, options.path, format, assets_dir, options.queue_name, p);
        }
    } catch (const Error& e) {
        p.issue(options.path, 0, "", e.what());
    }
    report.issues = p.issues;
    if (!p.issues.empty() || options.dry_run) {
        report.ok = p.issues.empty();
        report.profiles = int64_t(p.profiles.size());
        report.assets = int64_t(p.assets.size());
        report.comparisons = int64_t(p.comparisons.size());
        return report;
    }

    // Asset files first (harmless if the rows never come: gc collects them), then all rows at once.
    Db& db = impl_->db;
    for (auto& [sha, a] : p.assets) {
        const std::string file = impl_->asset_file(sha);
        if (!fs::exists(file, ec)) {
            fs::create_directories(fs::path(file).parent_path(), ec);
            write_file_atomically(file, a.png);
        }
    }
    try {
        Transaction t(db);
        std::map<std::string, int64_t> asset_ids, profile_ids, queue_ids, comparison_ids, generation_ids, memory_ids;
        for (auto& [sha, a] : p.assets) {
            const bool existed = find_asset(sha).has_value();
            const AssetInfo info = impl_->store_png(a.png, decode_image(a.png, sha, 3), a.origin, a.source_name);
            asset_ids[sha] = info.id;
            if (!existed) ++report.assets;
        }
        for (auto& [name, role] : p.profiles) {
            if (auto found = find_profile(name)) {
                profile_ids[name] = found->id;
            } else {
                profile_ids[name] = create_profile(name, role, p.profile_settings.count(name) ? p.profile_settings[name] : "{}").id;
                ++report.profiles;
            }
        }
        std::map<std::string, std::map<int64_t, int64_t>> item_ids;   // queue ref -> position -> item id
        for (PendingQueue& q : p.queues) {
            for (size_t i = 0; i < q.items.size(); ++i) {
                q.items[i].left_asset_id = asset_ids.at(q.item_shas[i].first);
                q.items[i].right_asset_id = asset_ids.at(q.item_shas[i].second);
            }
            const int64_t id = create_queue(q.name, q.created_by.empty() ? 0 : profile_ids.at(q.created_by), q.items, q.overlap);
            if (q.created_ms) {
                Stmt s(db, "UPDATE queues SET created_ms = ? WHERE id = ?");
                s.bind(1, q.created_ms).bind(2, id).run();
            }
            queue_ids[q.ref] = id;
            Stmt s(db, "SELECT id FROM queue_items WHERE queue_id = ? ORDER BY position");
            s.bind(1, id);
            for (size_t i = 0; s.step(); ++i) item_ids[q.ref][q.positions[i]] = s.int64(0);
            ++report.queues;
            report.queue_items += int64_t(q.items.size());
        }
        std::vector<Judgement> judgements;
        std::vector<const PendingComparison*> sources;
        for (const PendingComparison& c : p.comparisons) {
            Judgement j;
            j.annotator_id = profile_ids.at(c.annotator);
            j.left_asset_id = asset_ids.at(c.left);
            j.right_asset_id = asset_ids.at(c.right);
            j.prompt = c.prompt;
            j.choice = c.choice;
            j.strength = c.strength;
            j.rationale = c.rationale;
            j.decision_ms = c.decision_ms;
            j.session = c.session;
            j.is_gold = c.is_gold;
            j.gold_choice = c.gold_choice;
            j.created_ms = c.created_ms;
            if (!c.queue_ref.empty()) {
                j.queue_id = queue_ids.at(c.queue_ref);
                auto it = item_ids[c.queue_ref].find(c.position);
                if (it != item_ids[c.queue_ref].end()) j.queue_item_id = it->second;
            }
            judgements.push_back(j);
            sources.push_back(&c);
        }
        const std::vector<int64_t> ids = record_judgements(judgements);
        Stmt undo(db, "UPDATE comparisons SET undone_ms = ? WHERE id = ?");
        std::set<int64_t> touched;
        for (size_t i = 0; i < ids.size(); ++i) {
            if (!sources[i]->ref.empty()) comparison_ids[sources[i]->ref] = ids[i];
            if (sources[i]->undone_ms) {
                undo.reset();
                undo.bind(1, sources[i]->undone_ms).bind(2, ids[i]).run();
                if (judgements[i].queue_item_id) touched.insert(judgements[i].queue_item_id);
            }
        }
        for (int64_t item : touched) impl_->refresh_queue_item(item);
        report.comparisons = int64_t(ids.size());
        auto profile_ref = [&](const json& j) -> int64_t {
            if (!j.contains("profile") || !j["profile"].is_string()) return 0;
            auto it = profile_ids.find(j["profile"].get<std::string>());
            return it == profile_ids.end() ? 0 : it->second;
        };
        for (const json& j : p.concepts) {
            Concept c;
            c.profile_id = profile_ref(j);
            c.name = j.value("name", "");
            c.trigger_token = j.value("trigger_token", "");
            c.class_word = j.value("class_word", "");
            c.method = j.value("method", "textual_inversion");
            c.status = j.value("status", "draft");
            c.training_settings_json = j.value("training_settings", "{}");
            c.metrics_json = j.value("metrics", "{}");
            c.artifact_path = j.value("artifact_path", "");
            c.created_ms = j.value("created_ms", int64_t(0));
            for (const json& a : j.value("reference_assets", json::array())) c.reference_asset_ids.push_back(asset_ids.at(a.get<std::string>()));
            create_concept(c);
            ++report.concepts;
        }
        for (const json& j : p.generations) {
            GenerationRecord g;
            g.profile_id = profile_ref(j);
            g.asset_id = j.contains("asset") && j["asset"].is_string() ? asset_ids.at(j["asset"].get<std::string>()) : 0;
            g.model_id = j.value("model_id", "");
            g.model_hash = j.value("model_hash", "");
            g.model_name = j.value("model_name", "");
            g.prompt = j.value("prompt", "");
            g.negative_prompt = j.value("negative_prompt", "");
            g.effective_prompt = j.value("effective_prompt", "");
            g.seed = std::stoull(j.value("seed", std::string("0")));
            g.sampler = j.value("sampler", "");
            g.timestep_spacing = j.value("timestep_spacing", "");
            g.steps = j.value("steps", 0);
            g.guidance = j.value("guidance", 0.0f);
            g.width = j.value("width", 0);
            g.height = j.value("height", 0);
            g.clip_skip = j.value("clip_skip", 1);
            g.strength = j.value("strength", 1.0f);
            for (const json& n : j.value("concepts", json::array())) g.concepts.push_back({n.value("name", ""), n.value("strength", 1.0f)});
            for (const json& n : j.value("loras", json::array())) g.loras.push_back({n.value("name", ""), n.value("strength", 1.0f)});
            g.duration_ms = j.value("duration_ms", 0.0);
            g.extra_json = j.value("extra", "{}");
            g.created_ms = j.value("created_ms", int64_t(0));
            generation_ids[j.value("ref", "")] = record_generation(g);
            ++report.generations;
        }
        for (const json& j : p.memory) {
            MemoryEntry e;
            e.profile_id = profile_ids.at(j["profile"].get<std::string>());
            e.kind = j.value("kind", "rule");
            e.text = j.value("text", "");
            e.weight = j.value("weight", 1.0);
            e.active = j.value("active", true);
            e.source = j.value("source", "imported");
            e.source_count = j.value("source_count", int64_t(0));
            e.created_ms = j.value("created_ms", int64_t(0));
            for (const json& c : j.value("source_comparisons", json::array()))
                if (c.is_string() && comparison_ids.count(c.get<std::string>()))
                    e.source_comparison_ids.push_back(comparison_ids[c.get<std::string>()]);
            for (const json& g : j.value("source_generations", json::array()))
                if (g.is_string() && generation_ids.count(g.get<std::string>()))
                    e.source_generation_ids.push_back(generation_ids[g.get<std::string>()]);
            // The entry arrives with its own history (below), so insert the row directly.
            Stmt s(db, "INSERT INTO memory_entries (profile_id, kind, text, weight, active, source, source_count, deleted,"
                       " created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            s.bind(1, e.profile_id).bind(2, e.kind).bind(3, e.text).bind(4, e.weight).bind(5, e.active).bind(6, e.source);
            s.bind(7, e.source_count).bind(8, j.value("deleted", false)).bind(9, e.created_ms ? e.created_ms : now_ms());
            s.bind(10, j.value("updated_ms", now_ms())).run();
            const int64_t id = db.last_insert_id();
            memory_ids[j.value("ref", "")] = id;
            Stmt src(db, "INSERT INTO memory_entry_sources (entry_id, comparison_id, generation_id) VALUES (?, ?, ?)");
            for (int64_t c : e.source_comparison_ids) {
                src.reset();
                src.bind(1, id).bind(2, c).bind_null(3).run();
            }
            for (int64_t g : e.source_generation_ids) {
                src.reset();
                src.bind(1, id).bind_null(2).bind(3, g).run();
            }
            ++report.memory_entries;
        }
        for (const json& h : p.history) {
            auto it = memory_ids.find(h.value("entry", ""));
            if (it == memory_ids.end()) continue;
            Stmt s(db, "INSERT INTO memory_history (entry_id, profile_id, event, actor, old_text, new_text, old_weight,"
                       " new_weight, old_active, new_active, created_ms, undone) VALUES"
                       " (?, (SELECT profile_id FROM memory_entries WHERE id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            s.bind(1, it->second).bind(2, it->second).bind(3, h.value("event", "ADD")).bind(4, h.value("actor", "user"));
            s.bind(5, h.value("old_text", "")).bind(6, h.value("new_text", "")).bind(7, h.value("old_weight", 0.0));
            s.bind(8, h.value("new_weight", 0.0)).bind(9, h.value("old_active", false)).bind(10, h.value("new_active", false));
            s.bind(11, h.value("created_ms", int64_t(0))).bind(12, h.value("undone", false)).run();
        }
        for (const json& j : p.reward_models) {
            RewardModelRecord r;
            r.profile_id = profile_ids.at(j["profile"].get<std::string>());
            r.feature_set = j.value("feature_set", "");
            base64_decode(j.value("parameters_base64", ""), r.parameters);
            r.label_count = j.value("label_count", int64_t(0));
            r.heldout_accuracy = j.value("heldout_accuracy", 0.0);
            r.notes_json = j.value("notes", "{}");
            r.created_ms = j.value("created_ms", int64_t(0));
            save_reward_model(r);
            ++report.reward_models;
        }
        t.commit();
    } catch (const std::exception& e) {
        // Rolled back: nothing of this import is in the database.
        report = ImportReport{};
        report.issues.push_back({options.path, 0, "", e.what()});
        return report;
    }
    report.ok = true;
    return report;
}

}  // namespace atelier
