"""Puts the SDK and freshly generated bindings on the path for the tests.

The bindings (``wit_world``, ``componentize_py_types``) are generated from
the SDK's ``wit/`` into a temporary directory with ``componentize-py
bindings``, found as ``$COMPONENTIZE_PY``, ``.venv/bin/componentize-py`` or
on ``PATH`` (``./test.sh`` installs it). ``$SWITCHBOARD_BINDINGS`` names a
directory that already holds them instead.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

SDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bindings() -> str:
    given = os.environ.get("SWITCHBOARD_BINDINGS")
    if given:
        return given
    tool = os.environ.get("COMPONENTIZE_PY") or os.path.join(SDK, ".venv", "bin", "componentize-py")
    if not os.path.exists(tool):
        tool = shutil.which("componentize-py") or ""
    if not tool:
        raise RuntimeError("componentize-py not found: run ./test.sh, or set COMPONENTIZE_PY")
    out = tempfile.mkdtemp(prefix="switchboard-py-bindings-")
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(
        [tool, "-d", os.path.join(SDK, "wit"), "-w", "switchboard:plugin/plugin@0.2.0", "bindings", out],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


if "wit_world" not in sys.modules:
    sys.path[:0] = [_bindings(), os.path.join(SDK, "src")]
