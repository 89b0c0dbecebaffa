// Each sub-command of atelier-cli registers itself on the CLI11 app (one file per subject).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

namespace atelier {
struct GenerateRequest;
struct Profile;
class Store;
}  // namespace atelier

namespace atelier::cli {

// Options every sub-command may read.
struct GlobalOptions {
    std::string data_dir;   // --data-dir (else ATELIER_DATA_DIR / XDG)
    int threads = 0;        // --threads (0: one per CPU)
};

// The store in --data-dir (else the default data directory).
std::unique_ptr<Store> open_store(const GlobalOptions& global);
// A profile by name or id; empty: the default profile (atelier::default_profile_name(), the studio's
// first profile). `create`: a missing default profile is made, as the studio makes it on first start.
Profile resolve_profile(Store& store, const std::string& name_or_id, bool create = false);
// Whether a NAME|ID argument is an id: digits only.
bool all_digits(const std::string& s);
// --profile NAME|ID on a command (empty: the default profile).
CLI::Option* add_profile_option(CLI::App* cmd, std::string& target);

void add_system_commands(CLI::App& app, GlobalOptions& global);   // doctor
void add_world_commands(CLI::App& app, GlobalOptions& global);    // world render / sheet / bench
void add_generate_commands(CLI::App& app, GlobalOptions& global); // inspect, generate
void add_train_commands(CLI::App& app, GlobalOptions& global);    // train-base
void add_store_commands(CLI::App& app, GlobalOptions& global);    // profiles, concepts, compare, memory, export, import, check, gc, stats
void add_taste_commands(CLI::App& app, GlobalOptions& global);    // taste fit|show|predict|next-pair|learn-memory|rank|prototypes|simulate
void add_concept_commands(CLI::App& app, GlobalOptions& global);  // concept train|list|show|export|import|convert
// --concept / --lora / --embedding / --lora-dir on a generating command; call the result on its request.
std::function<void(GenerateRequest&)> add_concept_use_options(CLI::App& cmd, GlobalOptions& global);

}  // namespace atelier::cli
