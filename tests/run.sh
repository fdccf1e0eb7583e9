#!/usr/bin/env bash
# Installs what is missing on a fresh Debian machine with Rust, then runs the
# whole test suite: formatting, lints, the CUDA build check, and every test
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
if ! tansu --version 2>/dev/null | grep -q '0\.6\.0'; then
  cargo install tansu --version 0.6.0 --locked --no-default-features --features dynostore
fi
tansu --version

step "alert rules (promtool)"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --release -- -D warnings

step "cuda feature compiles"
cargo check --release -p verdict-models --features cuda

step "tests"
cargo test --workspace --release --no-fail-fast
