"""The core knows nothing of Kafka: importing every core module loads no faust, aiokafka or mode.
Only streams.app (and the CLI modules that use it) may."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import streams

ADAPTERS = ("streams.app", "streams.cli", "streams.__main__")


def core_modules() -> list[str]:
    root = Path(streams.__file__).parent
    names = ["streams"]
    for info in pkgutil.walk_packages([str(root)], prefix="streams."):
        if not info.name.startswith(ADAPTERS):
            names.append(info.name)
    return names


def test_core_modules_do_not_import_the_stream_runtime():
    modules = core_modules()
    assert "streams.matching.fusion" in modules and "streams.decide.verdicts" in modules
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(','.join(sorted({n.split('.')[0] for n in sys.modules} & {'faust', 'aiokafka', 'mode'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core modules import {out.stdout.strip()}"
