#!/usr/bin/env bash
# Prints the bin directory of the pinned Node.js release of one major line (20, 22 or 24),
# installing it first if it is not cached yet:
#
#   scripts/ci/node.sh 24   ->   <cache>/node-v24.21.0/node_modules/node/bin
#
# Node.js comes from the npm registry's `node` package, the one source of Node binaries CI may
# rely on (its install script fetches the matching node-<platform>-<arch> package from the same
# registry). Releases are cached by exact version under
# ${LEASELOCKER_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leaselocker-ci}, so a fresh machine
# pays about 15 s per version once and later runs nothing. Versions are pinned in versions.json.
set -euo pipefail

major="${1:?usage: scripts/ci/node.sh <major>}"
here="$(cd "$(dirname "$0")" && pwd)"
version="$(node -p 'require(process.argv[1]).node[process.argv[2]] ?? ""' "$here/versions.json" "$major")"
[[ -n "$version" ]] || { echo "node.sh: no pinned Node.js $major in versions.json" >&2; exit 1; }

cache="${LEASELOCKER_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leaselocker-ci}"
prefix="$cache/node-v$version"
bin="$prefix/node_modules/node/bin"

# A finished install is marked by `.complete`, written last: an interrupted one is redone.
if [[ ! -f "$prefix/.complete" || ! -x "$bin/node" ]]; then
  rm -rf "$prefix"
  mkdir -p "$prefix"
  echo "node.sh: installing node@$version from the npm registry into $prefix" >&2
  # The package's preinstall script is what fetches the binary, and npm runs a dependency's
  # install script only when the project allows it: a throwaway project allowing exactly this one.
  printf '{ "private": true, "allowScripts": { "node@%s": true } }\n' "$version" >"$prefix/package.json"
  # npm's output goes to stderr: this script's only stdout is the path.
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --prefer-offline "node@$version" >&2
  actual="$("$bin/node" --version)"
  [[ "$actual" == "v$version" ]] || { echo "node.sh: expected v$version, the install gave $actual" >&2; exit 1; }
  touch "$prefix/.complete"
fi
echo "$bin"
