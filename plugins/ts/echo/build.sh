#!/bin/sh
# Builds this plugin into dist/<package name>.wasm: installs the pinned tools
# when node_modules is missing or older than package.json, type-checks
# (tsc --noEmit), bundles src/index.ts with the SDK (esbuild) and
# componentizes it against the Switchboard WIT world (componentize-js).
# Tool output goes to stderr; the last line on stdout is the absolute path of
# the .wasm file.
set -eu
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] ||
  [ ! -f node_modules/@switchboard/plugin-sdk/build.mjs ]; then
  npm install --no-audit --no-fund --loglevel=error >&2
fi
exec node node_modules/@switchboard/plugin-sdk/build.mjs "$(pwd)"
