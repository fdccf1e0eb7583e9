#!/usr/bin/env bash
# The README's first command: on a Debian machine with Rust and nothing else,
# installs the missing build packages, builds Verdict and runs the demo (an
# in-process broker, the generator, the engine with the default rules and
# model). Arguments go to `verdict demo` (e.g. `--seconds 10`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-packages.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verdict-target}"
exec cargo run --release -- demo "$@"
