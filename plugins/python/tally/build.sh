#!/bin/sh
# Builds this plugin into dist/<directory name>.wasm with componentize-py,
# from any directory, through the Python SDK's build.sh. Tool output goes to
# stderr; the last line of stdout is the absolute path of the .wasm.
#
#   SDK=/path/to/plugin-sdk/python ./build.sh   # another copy of the SDK
set -eu
cd "$(dirname "$0")"
# The SDK: vendored into the project (switchboard new), or the repository's
# own for the examples in plugins/python/ (or plugins/).
if [ -z "${SDK:-}" ]; then
  for dir in vendor/switchboard-plugin-sdk ../../../plugin-sdk/python ../../plugin-sdk/python; do
    if [ -f "$dir/build.sh" ]; then SDK=$dir; break; fi
  done
fi
if [ -z "${SDK:-}" ] || [ ! -f "$SDK/build.sh" ]; then
  echo "build.sh: the Switchboard Python SDK is not in vendor/switchboard-plugin-sdk; set SDK=DIR" >&2
  exit 1
fi
exec sh "$SDK/build.sh" "$(pwd)"
