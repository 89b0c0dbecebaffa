// atelier-cli store commands: profiles, concepts, compare (import judgements), memory, export,
// import, check, gc, stats. Everything goes through atelier/store.h.
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "atelier/store.h"
#include "atelier/system.h"
#include "commands.h"

namespace atelier::cli {
bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

std::unique_ptr<Store> open_store(const GlobalOptions& global) {
    StoreOptions options;
    options.data_dir = global.data_dir;
    return Store::open(options);
}

Profile resolve_profile(Store& store, const std::string& name_or_id, bool create) {
    if (all_digits(name_or_id)) return store.profile(std::stoll(name_or_id));
    const std::string name = name_or_id.empty() ? default_profile_name() : name_or_id;
    if (auto p = store.find_profile(name)) return *p;
    if (create && name_or_id.empty()) return store.ensure_profile(name, "designer");
    throw Error("no profile named '" + name + "'" +
                (name_or_id.empty() ? ", the default profile ($ATELIER_PROFILE, else your login name); name one with --profile"
                                    : "") +
                " (see: atelier-cli profiles list)");
}

CLI::Option* add_profile_option(CLI::App* cmd, std::string& target) {
    return cmd->add_option("--profile", target, "profile name or id (default: $ATELIER_PROFILE, else your login name)");
}

namespace {

int64_t resolve_queue(Store& store, const std::string& name_or_id) {
    if (all_digits(name_or_id)) return store.queue(std::stoll(name_or_id)).id;
    for (const QueueInfo& q : store.list_queues())
        if (q.name == name_or_id) return q.id;
    throw Error("no queue named '" + name_or_id + "'");
}

std::string fmt(double v, int digits = 3) {
    if (std::isnan(v)) return "n/a";
    std::ostringstream out;
    out << std::fixed << std::setprecision(digits) << v;
    return out.str();
}

void print_import_report(const ImportReport& r, bool dry_run) {
    if (!r.ok) {
        std::cerr << "import refused, nothing was stored (" << r.issues.size() << " problem"
                  << (r.issues.size() == 1 ? "" : "s") << "):\n";
        for (const ImportIssue& i : r.issues) {
            std::cerr << "  " << i.file;
            if (i.line) std::cerr << ":" << i.line;
            if (!i.field.empty()) std::cerr << " [" << i.field << "]";
            std::cerr << " " << i.message << "\n";
        }
        throw Error("import failed");
    }
    std::cout << (dry_run ? "would import: " : "imported: ") << r.comparisons << " comparisons, " << r.assets
              << " new assets, " << r.profiles << " new profiles, " << r.queues << " queues (" << r.queue_items
              << " pairs), " << r.memory_entries << " memory entries, " << r.concepts << " concepts, "
              << r.generations << " generations, " << r.reward_models << " reward models\n";
}

struct ImportArgs {
    std::string path, format = "auto", assets_dir, annotator, queue_name;
    bool dry_run = false;
};

void add_import_options(CLI::App* cmd, ImportArgs& a) {
    cmd->add_option("path", a.path, "bundle folder, .tar, Pick-a-Pic .csv/.jsonl or Label Studio .json")->required();
    cmd->add_option("--format", a.format, "auto, bundle, tar, pickapic-csv, pickapic-jsonl, labelstudio");
    cmd->add_option("--assets-dir", a.assets_dir, "where the images named in the file are (default: beside it)");
    cmd->add_option("--annotator", a.annotator, "profile for judgements that name no user");
    cmd->add_option("--queue-name", a.queue_name, "also make an annotation queue of the imported pairs");
    cmd->add_flag("--dry-run", a.dry_run, "validate only");
}

void run_import(const GlobalOptions& global, const ImportArgs& a) {
    auto store = open_store(global);
    ImportOptions o;
    o.path = a.path;
    o.format = a.format;
    o.assets_dir = a.assets_dir;
    o.queue_name = a.queue_name;
    o.dry_run = a.dry_run;
    if (!a.annotator.empty()) o.annotator_id = store->ensure_profile(a.annotator).id;
    print_import_report(store->import_data(o), a.dry_run);
}

void print_entry(const MemoryEntry& e) {
    std::cout << std::setw(6) << e.id << "  " << std::left << std::setw(8) << e.kind << std::right << " w=" << fmt(e.weight, 2)
              << (e.active ? "  " : "  (off) ") << (e.deleted ? "(deleted) " : "") << e.text << "   [" << e.source
              << (e.source_count ? " from " + std::to_string(e.source_count) : "") << "]\n";
}

}  // namespace

void add_store_commands(CLI::App& app, GlobalOptions& global) {
    // ---- profiles ----
    CLI::App* profiles = app.add_subcommand("profiles", "list, add or delete profiles (people)");
    profiles->require_subcommand(1);
    profiles->add_subcommand("list", "every profile")->callback([&global] {
        auto store = open_store(global);
        for (const Profile& p : store->list_profiles())
            std::cout << std::setw(4) << p.id << "  " << std::left << std::setw(20) << p.name << std::setw(10) << p.role
                      << std::right << p.settings_json << "\n";
    });
    {
        auto* add = profiles->add_subcommand("add", "create a profile");
        auto name = std::make_shared<std::string>();
        auto role = std::make_shared<std::string>("designer");
        add->add_option("name", *name)->required();
        add->add_option("--role", *role, "designer, annotator, presenter, admin");
        add->callback([&global, name, role] {
            auto store = open_store(global);
            const Profile p = store->create_profile(*name, *role);
            std::cout << "created profile " << p.id << " '" << p.name << "'\n";
        });
    }
    {
        auto* del = profiles->add_subcommand("delete", "delete a profile and everything of it");
        auto name = std::make_shared<std::string>();
        auto yes = std::make_shared<bool>(false);
        del->add_option("profile", *name, "name or id")->required();
        del->add_flag("--yes", *yes, "really delete");
        del->callback([&global, name, yes] {
            auto store = open_store(global);
            const Profile p = resolve_profile(*store, *name);
            if (!*yes) throw Error("deleting '" + p.name + "' removes all of its judgements, memory, concepts and "
                                   "generations: add --yes to confirm");
            const DeleteReport r = store->delete_profile(p.id);
            std::cout << "deleted '" << p.name << "': " << r.comparisons << " comparisons, " << r.memory_entries
                      << " memory entries, " << r.concepts << " concepts, " << r.generations << " generations, "
                      << r.queues << " queues, " << r.reward_models << " reward models, " << r.assets << " assets\n";
        });
    }

    // ---- compare: judgements ----
    CLI::App* compare = app.add_subcommand("compare", "pairwise judgements: import them (Pick-a-Pic, Label Studio, bundles)");
    compare->require_subcommand(1);
    {
        auto* imp = compare->add_subcommand("import", "import judgements (all or nothing)");
        auto args = std::make_shared<ImportArgs>();
        add_import_options(imp, *args);
        imp->callback([&global, args] { run_import(global, *args); });
    }
    {
        auto* list = compare->add_subcommand("list", "an annotator's latest judgements");
        auto profile = std::make_shared<std::string>();
        auto limit = std::make_shared<int>(20);
        list->add_option("profile", *profile, "name or id (default: $ATELIER_PROFILE, else your login name)");
        list->add_option("--limit", *limit);
        list->callback([&global, profile, limit] {
            auto store = open_store(global);
            for (const Comparison& c : store->list_comparisons(resolve_profile(*store, *profile).id, -1, true, *limit))
                std::cout << std::setw(8) << c.id << "  " << std::left << std::setw(6) << to_string(c.choice) << std::right
                          << " s=" << c.strength << "  assets " << c.left_asset_id << "/" << c.right_asset_id
                          << (c.undone ? "  (undone)" : "") << "  " << c.prompt << "\n";
        });
    }

    // ---- memory ----
    CLI::App* memory = app.add_subcommand("memory", "the editable preference memory");
    memory->require_subcommand(1);
    {
        auto* list = memory->add_subcommand("list", "entries of a profile");
        auto filter = std::make_shared<MemoryFilter>();
        auto profile = std::make_shared<std::string>();
        add_profile_option(list, *profile);
        list->add_option("--kind", filter->kind);
        list->add_option("--search", filter->search);
        list->add_flag("--active", filter->active_only, "active entries only");
        list->add_flag("--all", filter->include_deleted, "deleted entries too");
        list->callback([&global, filter, profile] {
            auto store = open_store(global);
            filter->profile_id = resolve_profile(*store, *profile).id;
            for (const MemoryEntry& e : store->list_memory(*filter)) print_entry(e);
        });
    }
    {
        auto* add = memory->add_subcommand("add", "write an entry");
        auto e = std::make_shared<MemoryEntry>();
        auto profile = std::make_shared<std::string>();
        add_profile_option(add, *profile);
        add->add_option("--kind", e->kind, "like, dislike, rule, style, concept");
        add->add_option("--weight", e->weight);
        add->add_option("text", e->text)->required();
        add->callback([&global, e, profile] {
            auto store = open_store(global);
            e->profile_id = resolve_profile(*store, *profile, true).id;
            std::cout << "added memory entry " << store->add_memory(*e) << "\n";
        });
    }
    {
        auto* edit = memory->add_subcommand("edit", "change an entry's text, kind, weight or active flag");
        auto id = std::make_shared<int64_t>(0);
        auto text = std::make_shared<std::string>();
        auto kind = std::make_shared<std::string>();
        auto weight = std::make_shared<double>(NAN);
        auto active = std::make_shared<std::string>();
        edit->add_option("id", *id)->required();
        edit->add_option("--text", *text);
        edit->add_option("--kind", *kind);
        edit->add_option("--weight", *weight);
        edit->add_option("--active", *active, "on or off");
        edit->callback([&global, id, text, kind, weight, active] {
            auto store = open_store(global);
            MemoryEntry e = store->memory_entry(*id);
            if (!text->empty()) e.text = *text;
            if (!kind->empty()) e.kind = *kind;
            if (!std::isnan(*weight)) e.weight = *weight;
            if (!active->empty()) {
                if (*active != "on" && *active != "off") throw Error("--active: expected on or off, found '" + *active + "'");
                e.active = *active == "on";
            }
            store->update_memory(e);
            print_entry(store->memory_entry(*id));
        });
    }
    {
        auto* del = memory->add_subcommand("delete", "delete an entry (undo brings it back)");
        auto id = std::make_shared<int64_t>(0);
        del->add_option("id", *id)->required();
        del->callback([&global, id] {
            open_store(global)->delete_memory(*id);
            std::cout << "deleted memory entry " << *id << "\n";
        });
    }
    {
        auto* history = memory->add_subcommand("history", "the story of an entry, or of a profile's memory");
        auto id = std::make_shared<int64_t>(0);
        auto profile = std::make_shared<std::string>();
        history->add_option("id", *id, "entry id (else the whole profile's)");
        add_profile_option(history, *profile);
        history->callback([&global, id, profile] {
            auto store = open_store(global);
            const auto rows = *id ? store->memory_history(*id)
                                  : store->profile_memory_history(resolve_profile(*store, *profile).id);
            for (const MemoryHistoryEvent& h : rows)
                std::cout << std::setw(6) << h.id << "  entry " << h.entry_id << "  " << std::left << std::setw(8) << h.event
                          << std::setw(8) << (h.actor == Actor::learner ? "learner" : "user") << std::right << "'"
                          << h.old_text << "' -> '" << h.new_text << "'" << (h.undone ? "  (undone)" : "")
                          << (h.undo_of ? "  (undo of " + std::to_string(h.undo_of) + ")" : "") << "\n";
        });
    }
    {
        auto* undo = memory->add_subcommand("undo", "revert the latest memory change");
        auto profile = std::make_shared<std::string>();
        auto entry = std::make_shared<int64_t>(0);
        add_profile_option(undo, *profile);
        undo->add_option("--entry", *entry, "only changes of this entry");
        undo->callback([&global, profile, entry] {
            auto store = open_store(global);
            const auto done = store->undo_memory(resolve_profile(*store, *profile).id, *entry);
            if (!done) {
                std::cout << "nothing to undo\n";
                return;
            }
            std::cout << "undid change " << done->undo_of << " of entry " << done->entry_id << " (" << done->event << ")\n";
        });
    }

    // ---- export / import ----
    {
        auto* exp = app.add_subcommand("export", "export a profile or a queue (bundle folder, .tar, Pick-a-Pic, Label Studio)");
        auto o = std::make_shared<ExportOptions>();
        auto profile = std::make_shared<std::string>();
        auto queue = std::make_shared<std::string>();
        auto no_assets = std::make_shared<bool>(false);
        exp->add_option("path", o->path, "output: a folder, .tar, .csv, .jsonl or .json")->required();
        exp->add_option("--profile", *profile);
        exp->add_option("--queue", *queue);
        exp->add_option("--format", o->format, "auto, bundle, tar, pickapic-csv, pickapic-jsonl, labelstudio");
        exp->add_flag("--include-undone", o->include_undone);
        exp->add_flag("--no-assets", *no_assets, "leave the images out");
        exp->callback([&global, o, profile, queue, no_assets] {
            auto store = open_store(global);
            if (!profile->empty()) o->profile_id = resolve_profile(*store, *profile).id;
            if (!queue->empty()) o->queue_id = resolve_queue(*store, *queue);
            o->include_assets = !*no_assets;
            const ExportReport r = store->export_data(*o);
            std::cout << "exported to " << r.path << ": " << r.comparisons << " comparisons, " << r.assets << " assets, "
                      << r.memory_entries << " memory entries, " << r.profiles << " profiles, " << r.queue_items
                      << " queue pairs\n";
        });
    }
    {
        auto* imp = app.add_subcommand("import", "import a bundle or judgements (all or nothing, with a report)");
        auto args = std::make_shared<ImportArgs>();
        add_import_options(imp, *args);
        imp->callback([&global, args] { run_import(global, *args); });
    }

    // ---- maintenance ----
    {
        auto* check = app.add_subcommand("check", "verify the database and every asset file");
        auto quick = std::make_shared<bool>(false);
        check->add_flag("--no-hash", *quick, "compare file sizes instead of SHA-256");
        check->callback([&global, quick] {
            auto store = open_store(global);
            const CheckReport r = store->check(!*quick);
            std::cout << "database     " << store->database_path() << "\n";
            std::cout << "integrity    " << r.integrity << "\n";
            std::cout << "foreign keys " << r.foreign_key_violations << " violations\n";
            for (const auto& f : r.missing_assets) std::cout << "missing      " << f << "\n";
            for (const auto& f : r.corrupt_assets) std::cout << "damaged      " << f << "\n";
            for (const auto& f : r.orphan_files) std::cout << "stray file   " << f << " (gc removes it)\n";
            std::cout << (r.ok ? "ok\n" : "PROBLEMS FOUND\n");
            if (!r.ok) throw Error("check found problems");
        });
    }
    {
        auto* gc = app.add_subcommand("gc", "remove assets nothing references, and stray files");
        auto dry = std::make_shared<bool>(false);
        auto min_age_s = std::make_shared<double>(60);
        gc->add_flag("--dry-run", *dry);
        gc->add_option("--min-age-s", *min_age_s, "keep assets younger than this (an import may be about to use them)");
        gc->callback([&global, dry, min_age_s] {
            const GcReport r = open_store(global)->gc(int64_t(*min_age_s * 1000), *dry);
            std::cout << (*dry ? "would remove " : "removed ") << r.assets_removed << " assets, " << r.files_removed
                      << " files, " << r.bytes_freed << " bytes\n";
        });
    }
    {
        auto* stats = app.add_subcommand("stats", "agreement statistics of a queue (or of every queue)");
        auto queue = std::make_shared<std::string>();
        stats->add_option("--queue", *queue, "queue name or id (default: all queues)");
        stats->callback([&global, queue] {
            auto store = open_store(global);
            const int64_t qid = queue->empty() ? 0 : resolve_queue(*store, *queue);
            const AgreementStats s = store->agreement(qid);
            if (qid) {
                const QueueProgress p = store->queue_progress(qid);
                std::cout << "progress            " << p.done_items << " / " << p.total_items << " pairs done, "
                          << p.judgements << " judgements, " << fmt(p.judgements_per_minute, 1) << " per minute\n";
            }
            std::cout << "pairs with >= 2     " << s.items << "\n";
            std::cout << "alpha (choice)      " << fmt(s.alpha_choice) << "   Krippendorff, nominal, skips excluded\n";
            std::cout << "alpha (strength)    " << fmt(s.alpha_strength) << "   interval, signed strength, "
                      << s.strength_items << " pairs\n";
            std::cout << "annotator            judged  decided  with majority      with gold        per minute\n";
            for (const AnnotatorAgreement& a : s.annotators)
                std::cout << std::left << std::setw(20) << a.name << std::right << std::setw(8) << a.judgements
                          << std::setw(9) << a.decided << std::setw(8) << fmt(a.with_majority, 2) << " of " << std::setw(5)
                          << a.majority_items << std::setw(8) << fmt(a.with_gold, 2) << " of " << std::setw(4)
                          << a.gold_items << std::setw(10) << fmt(a.judgements_per_minute, 1) << "\n";
        });
    }
}

}  // namespace atelier::cli
