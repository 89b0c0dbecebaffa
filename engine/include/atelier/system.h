// atelier/system.h - versions, devices and paths: what `atelier-cli doctor` reports.
#pragma once
#include <string>
#include <vector>

namespace atelier {

std::string version();          // Atelier's own version, e.g. "0.1.0"
std::string torch_version();    // the libtorch the engine was built against
std::string sqlite_version();   // the SQLite library in use

struct DeviceInfo {
    std::string name;          // "cpu", "cuda:0"
    std::string description;   // e.g. "NVIDIA H100 80GB HBM3, 79.1 GiB"
    std::string precision;     // the default compute precision there: "float32", "float16"
};
// Every device the engine can run on; the first is the one `device = "auto"` picks.
std::vector<DeviceInfo> available_devices();

// Compute threads used by the engine. libtorch defaults to 1 here (it counts cores, not CPUs),
// so the engine sets this to the number of CPUs once at start-up unless told otherwise.
int compute_threads();
void set_compute_threads(int threads);  // <= 0: one per CPU

// The data directory: `override_dir` if not empty, else $ATELIER_DATA_DIR, else
// $XDG_DATA_HOME/atelier, else ~/.local/share/atelier. Not created here.
std::string data_dir(const std::string& override_dir = "");

// The profile (person) the studio and the CLI act for when none is named: $ATELIER_PROFILE, else the
// login name ($USER), else "me". The studio remembers a profile chosen in it; the CLI takes --profile.
std::string default_profile_name();

// The embedded default model's folder (installed or in the source tree); empty if none is present.
std::string default_model_dir();
// The shipped learned taste encoders' folder (resources/taste); empty if none is present.
std::string taste_encoder_dir();
// The shipped CLIP vocabulary folder (vocab.json + merges.txt) for checkpoints that carry none.
std::string clip_vocab_dir();

}  // namespace atelier
