#!/usr/bin/env bash
# Installs the Debian packages of deploy/debian-packages.txt that are missing.
#   deploy/install-packages.sh          build packages only
#   deploy/install-packages.sh --tests  build and test packages
# Uses sudo when not root; does nothing when everything is present.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
roles="build"
[ "${1:-}" = "--tests" ] && roles="build test"

missing=()
while read -r pkg role _; do
  case "$pkg" in ''|'#'*) continue ;; esac
  [[ " $roles " == *" $role "* ]] || continue
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < "$here/debian-packages.txt"

if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
