#!/bin/sh
# Builds this plugin into dist/<name>.wasm with componentize-py, from any
# directory. Tool output goes to stderr; the last line of stdout is the
# absolute path of the .wasm, so `cp "$(./build.sh | tail -1)" ...` works.
#
#   SDK=/path/to/plugin-sdk/python ./build.sh   # another copy of the SDK
set -eu
cd "$(dirname "$0")"

# The component's file name, hence the plugin's id in the host's config
# (its key-value namespace and [plugin_limits.ID]): this directory's name.
NAME=$(basename "$(pwd)")
# The Python SDK: vendored into the project (switchboard new), or the
# repository's own for the examples in plugins/python/ (or plugins/).
if [ -z "${SDK:-}" ]; then
  for dir in vendor/switchboard-plugin-sdk ../../../plugin-sdk/python ../../plugin-sdk/python; do
    if [ -f "$dir/src/switchboard_plugin/__init__.py" ]; then SDK=$dir; break; fi
  done
fi
if [ -z "${SDK:-}" ] || [ ! -d "$SDK/wit" ]; then
  echo "build.sh: the Switchboard Python SDK is not in vendor/switchboard-plugin-sdk; set SDK=DIR" >&2
  exit 1
fi
COMPONENTIZE_PY=0.25.1

if [ "$(.venv/bin/componentize-py --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY" ]; then
  echo "build.sh: installing componentize-py $COMPONENTIZE_PY into .venv" >&2
  python3 -m venv .venv >&2
  .venv/bin/pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY" >&2
fi

mkdir -p dist
# The app module is app.py (it ends with `Handler = export(MyPlugin)`); the
# SDK's src/ holds the switchboard_plugin package. Only what app.py imports
# goes into the component. Written aside, then moved: a host watching
# dist/ never loads half a file.
.venv/bin/componentize-py -d "$SDK/wit" -w switchboard:plugin/plugin@0.2.0 \
  componentize -p . -p "$SDK/src" app -o "dist/.$NAME.wasm.tmp" >&2
mv "dist/.$NAME.wasm.tmp" "dist/$NAME.wasm"
echo "$(pwd)/dist/$NAME.wasm"
