#!/bin/sh
# Runs the SDK's unit tests (python3 -m unittest) against bindings that
# componentize-py generates into a temporary directory; installs
# componentize-py into .venv first if it is not there.
set -eu
cd "$(dirname "$0")"
COMPONENTIZE_PY=0.25.1
if [ "$(.venv/bin/componentize-py --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY" ]; then
  python3 -m venv .venv >&2
  .venv/bin/pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY" >&2
fi
exec python3 -m unittest "$@"
