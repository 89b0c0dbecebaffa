// atelier-cli: everything the studio does, headless.
#include <iostream>

#include "atelier/error.h"
#include "atelier/system.h"
#include "commands.h"

int main(int argc, char** argv) {
    CLI::App app{"atelier-cli - the Atelier personalization studio, headless"};
    app.set_version_flag("--version", "atelier-cli " + atelier::version());
    app.require_subcommand(1);

    atelier::cli::GlobalOptions global;
    app.add_option("--data-dir", global.data_dir, "data directory (default: $ATELIER_DATA_DIR or $XDG_DATA_HOME/atelier)");
    app.add_option("--threads", global.threads, "compute threads (default: one per CPU)");
    app.parse_complete_callback([&global] { atelier::set_compute_threads(global.threads); });

    atelier::cli::add_system_commands(app, global);
    atelier::cli::add_world_commands(app, global);
    atelier::cli::add_generate_commands(app, global);
    atelier::cli::add_store_commands(app, global);
    atelier::cli::add_taste_commands(app, global);
    atelier::cli::add_train_commands(app, global);
    atelier::cli::add_concept_commands(app, global);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const atelier::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
