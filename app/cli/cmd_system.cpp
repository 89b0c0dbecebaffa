// atelier-cli doctor: what this installation can do.
#include <filesystem>
#include <iostream>

#include "atelier/system.h"
#include "atelier/taste.h"
#include "commands.h"

namespace atelier::cli {

void add_system_commands(CLI::App& app, GlobalOptions& global) {
    CLI::App* doctor = app.add_subcommand("doctor", "versions, devices, threads, data directory, default model");
    doctor->callback([&global] {
        std::cout << "atelier      " << version() << "\n";
        std::cout << "libtorch     " << torch_version() << "\n";
#ifdef ATELIER_QT_VERSION
        std::cout << "Qt           " << ATELIER_QT_VERSION << "\n";
#else
        std::cout << "Qt           (the CLI does not use Qt)\n";
#endif
        std::cout << "SQLite       " << sqlite_version() << "\n";
        for (const DeviceInfo& device : available_devices()) {
            std::cout << "device       " << device.name << "  " << device.description << "  (" << device.precision
                      << ")\n";
        }
        std::cout << "threads      " << compute_threads() << "\n";
        const std::string dir = data_dir(global.data_dir);
        std::error_code ec;
        std::cout << "data dir     " << dir << (std::filesystem::exists(dir, ec) ? "" : "  (not created yet)") << "\n";
        const std::string model = default_model_dir();
        std::cout << "default model " << (model.empty() ? "not present" : model) << "\n";
        const std::string vocab = clip_vocab_dir();
        std::cout << "CLIP vocab   " << (vocab.empty() ? "not present" : vocab) << "\n";
        const std::string encoders = taste_encoder_dir();
        std::cout << "taste features " << taste::default_feature_set()
                  << (encoders.empty() ? "  (no learned encoder installed)" : "  (" + encoders + ")") << "\n";
    });
}

}  // namespace atelier::cli
