// Each sub-command of atelier-cli registers itself on the CLI11 app (one file per subject).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace atelier { struct GenerateRequest; }

namespace atelier::cli {

// Options every sub-command may read.
struct GlobalOptions {
    std::string data_dir;   // --data-dir (else ATELIER_DATA_DIR / XDG)
    int threads = 0;        // --threads (0: one per CPU)
};

void add_system_commands(CLI::App& app, GlobalOptions& global);   // doctor
void add_world_commands(CLI::App& app, GlobalOptions& global);    // world render / sheet / bench
void add_generate_commands(CLI::App& app, GlobalOptions& global); // inspect, generate
void add_train_commands(CLI::App& app, GlobalOptions& global);    // train-base
void add_store_commands(CLI::App& app, GlobalOptions& global);    // profiles, concepts, compare, memory, export, import, check, gc, stats
void add_taste_commands(CLI::App& app, GlobalOptions& global);
void add_concept_commands(CLI::App& app, GlobalOptions& global);  // concept train|list|show|export|import|convert
// --concept / --lora / --embedding / --lora-dir on a generating command; call the result on its request.
std::function<void(GenerateRequest&)> add_concept_use_options(CLI::App& cmd, GlobalOptions& global);    // taste fit|show|predict|next-pair|learn-memory|rank|prototypes|simulate

}  // namespace atelier::cli
