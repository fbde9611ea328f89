#!/bin/sh
# Builds the Python plugin project PROJECT_DIR into PROJECT_DIR/dist/<name>.wasm
# with componentize-py. Each project's own build.sh only finds this SDK and
# calls this script, so the build lives in one place. Tool output goes to
# stderr; the last line of stdout is the absolute path of the .wasm, so
# `cp "$(./build.sh | tail -1)" ...` works.
#
#   sh plugin-sdk/python/build.sh PROJECT_DIR
set -eu
if [ $# -ne 1 ]; then
  echo "usage: build.sh PROJECT_DIR" >&2
  exit 2
fi
SDK=$(cd "$(dirname "$0")" && pwd)
cd "$1"
if [ ! -f app.py ]; then
  echo "build.sh: $(pwd) has no app.py (the plugin's module, ending with \`Handler = export(MyPlugin)\`)" >&2
  exit 1
fi

# The component's file name, hence the plugin's id in the host's config
# (its key-value namespace and [plugin_limits.ID]): the project directory's name.
NAME=$(basename "$(pwd)")
COMPONENTIZE_PY=0.25.1

if [ "$(.venv/bin/componentize-py --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY" ]; then
  echo "build.sh: installing componentize-py $COMPONENTIZE_PY into $(pwd)/.venv" >&2
  python3 -m venv .venv >&2
  .venv/bin/pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY" >&2
fi

mkdir -p dist
# The SDK's src/ holds the switchboard_plugin package; only what app.py
# imports goes into the component. Written aside, then moved: a host
# watching dist/ never loads half a file.
.venv/bin/componentize-py -d "$SDK/wit" -w switchboard:plugin/plugin@0.2.0 \
  componentize -p . -p "$SDK/src" app -o "dist/.$NAME.wasm.tmp" >&2
mv "dist/.$NAME.wasm.tmp" "dist/$NAME.wasm"
echo "$(pwd)/dist/$NAME.wasm"
