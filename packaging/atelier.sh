#!/usr/bin/env bash
# Atelier's one entry point for a fresh Debian 12 machine.
#   packaging/atelier.sh run    install what is missing, build, start the studio (headless demo without a display)
#   packaging/atelier.sh test   install what is missing, build with warnings as errors, run the whole test suite
#   packaging/atelier.sh deps   only install the Debian packages that are missing
#   packaging/atelier.sh build [preset]   only build (presets: release, dev, ci, engine-only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# Debian packages, and what each is for (also listed in README.md).
packages=(
  cmake ninja-build g++ pkg-config ccache       # build
  qt6-base-dev libqt6opengl6-dev                 # Qt 6 Widgets, OpenGL widgets, Qt Test
  libtorch-dev libopenblas0-pthread              # libtorch (CPU) and an optimized BLAS for its matmuls
  libsqlite3-dev                                 # the store
  libstb-dev libimgui-dev                        # image decoding/encoding; the live view's HUD
  zlib1g-dev                                     # PNG text-chunk checksums
  libavcodec-dev libavformat-dev libswscale-dev  # FFmpeg: clips exported as MP4 (H.264) and WebM (VP9)
  nlohmann-json3-dev libcli11-dev doctest-dev    # JSON, the CLI's argument parser, engine unit tests
  xvfb xauth                                     # a virtual display for OpenGL tests and screenshots
)

say() { printf '\033[1m[atelier]\033[0m %s\n' "$*" >&2; }

deps() {
  local missing=()
  for p in "${packages[@]}"; do
    [[ "$p" == \#* ]] && continue
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
  done
  if ((${#missing[@]} == 0)); then say "all ${#packages[@]} Debian packages present"; return; fi
  say "installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed ${#missing[@]} packages"
}

build() {
  local preset=${1:-release}
  say "configuring and building (preset $preset)"
  local start=$SECONDS
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
  say "built in $((SECONDS - start)) s: build/$preset"
}

pick_model() {
  if [[ -n "${ATELIER_MODEL:-}" ]]; then echo "$ATELIER_MODEL"; return; fi
  if [[ -f resources/models/atelier-tiny/model_index.json ]]; then echo "$root/resources/models/atelier-tiny"; return; fi
  if [[ -f ../shared/fixtures/tiny-sd-a/model_index.json ]]; then echo "$(cd ../shared/fixtures/tiny-sd-a && pwd)"; return; fi
  echo ""
}

run() {
  deps
  build release
  local bin=build/release model
  model=$(pick_model)
  if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
    say "starting the studio${model:+ on $model}"
    exec "$bin/app/atelier" ${model:+--model "$model"} "$@"
  fi
  say "no display (DISPLAY and WAYLAND_DISPLAY are unset): running a headless atelier-cli demonstration instead"
  "$bin/app/atelier-cli" doctor
  if [[ -n "$model" ]] && "$bin/app/atelier-cli" generate --help >/dev/null 2>&1; then
    mkdir -p out
    "$bin/app/atelier-cli" generate --model "$model" --prompt "two small red stars on a striped blue background" \
      --seed 1 -o out/demo.png
    say "wrote out/demo.png"
    if [[ -d "$model/motion_adapter" ]]; then  # the model brings a motion module: a clip too
      "$bin/app/atelier-cli" generate --model "$model" --prompt "a yellow heart moving up on a striped blue background" \
        --frames 16 --seed 2 -o out/demo.gif
      say "wrote out/demo.gif"
    fi
  fi
}

test_suite() {
  deps
  build ci
  say "running the test suite"
  # Tests run two at a time on small machines: OpenMP threads that spin while waiting starve each
  # other there (a small convolution measured 150x slower), so they yield instead.
  export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
  local start=$SECONDS
  ctest --preset ci -j "$(nproc)" "$@"
  say "tests took $((SECONDS - start)) s"
}

case "${1:-}" in
  run) shift; run "$@" ;;
  test) shift; test_suite "$@" ;;
  deps) deps ;;
  build) shift; deps; build "${1:-release}" ;;
  *) sed -n '2,6p' "$0" | sed 's/^# //'; exit 2 ;;
esac
