#!/usr/bin/env bash
# Installs what is missing on a fresh Debian machine with Rust, then runs the
# whole test suite: formatting, lints (clippy, while building), the CUDA build
# check, and every test
# (unit, golden, property, and end-to-end against a real Kafka-protocol broker).
# `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/verdict-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0
step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "system packages"
bash deploy/install-packages.sh --tests

step "tansu (real Kafka-protocol broker for end-to-end tests)"
# A missing broker is built in the background, beside the checks below, and
# awaited before the tests: the builds' serial stretches leave a core idle. It
# is a test fixture, so opt-level 1 (half the build time of the default 3); its
# own build directory, so it does not wait on the workspace's lock.
tansu_pid=""
tansu_log="$(mktemp)"
if tansu --version 2>/dev/null | grep -q '0\.6\.0'; then
  tansu --version
else
  echo "building tansu 0.6.0 in the background (log: $tansu_log)"
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/tansu-install" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install tansu --version 0.6.0 --locked \
    --no-default-features --features dynostore >"$tansu_log" 2>&1 &
  tansu_pid=$!
fi

step "alert rules (promtool)"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

step "deploy files (compose, Kubernetes schemas, systemd unit)"
docker-compose -f deploy/docker-compose.yml config -q
kv="${XDG_CACHE_HOME:-$HOME/.cache}/verdict-kubernetes-validate"
[ -x "$kv/bin/kubernetes-validate" ] || {
  python3 -m venv "$kv" && "$kv/bin/pip" install -q kubernetes-validate==1.37.0
}
"$kv/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/verdict.yaml
# The unit names the installed binary; a stand-in lets verify check the rest.
unit="$(mktemp -d)/verdict.service"
sed "s|^ExecStart=/usr/local/bin/verdict |ExecStart=$(command -v true) |" deploy/systemd/verdict.service >"$unit"
# verify exits 0 on unknown keys: any output is a failure.
out="$(systemd-analyze verify "$unit" 2>&1)" && [ -z "$out" ] || { echo "$out"; exit 1; }

step "cargo fmt --check"
cargo fmt --all --check

step "build every target, with clippy's lints"
# `cargo clippy` would compile every dependency a second time (a check shares
# nothing with a build), a quarter of a cold run. Instead clippy's driver is
# the workspace's compiler for this build and the tests (tests/clippy-rustc):
# the same lints on the same targets (--all-targets, -D warnings), one compile.
CLIPPY_DRIVER="$(command -v clippy-driver || rustup which clippy-driver)"
export CLIPPY_DRIVER RUSTC_WORKSPACE_WRAPPER="$PWD/tests/clippy-rustc"
cargo build --workspace --all-targets --release

step "cuda feature compiles (in the background, beside the tests)"
# The tests mostly wait on brokers and processes, which leaves a core idle:
# the check runs there, niced so the tests keep their CPU, in its own build
# directory so neither waits on the other's lock; awaited at the end.
cuda_log="$(mktemp)"
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/cuda-check" \
  nice -n 19 cargo check --release -p verdict-models --features cuda >"$cuda_log" 2>&1 &
cuda_pid=$!

if [ -n "$tansu_pid" ]; then
  step "tansu (waiting for the background build)"
  wait "$tansu_pid" || { cat "$tansu_log"; echo "installing tansu failed"; exit 1; }
  tail -n 3 "$tansu_log"
  tansu --version
fi

step "tests"
tests_rc=0
cargo test --workspace --release --no-fail-fast || tests_rc=$?

step "cuda feature compiles (waiting for the background check)"
wait "$cuda_pid" || { cat "$cuda_log"; echo "the cuda feature does not compile"; exit 1; }
tail -n 1 "$cuda_log"
exit "$tests_rc"
