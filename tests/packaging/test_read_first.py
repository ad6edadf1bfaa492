"""``check``/``model``/``map`` read their first input before importing what validates or evaluates it.

Start-up (issue 15, item 14; ``benchmarks/startup.py``) ends where a command first opens a YAML file;
pydantic's models, numpy, the engine and typer's pydantic-based option parsing must all come after it
(``sparse_hw.spec.loader`` reads, then imports ``validate``; ``sparse_hw.cli._fast`` calls the command).
A probe runs the real CLI and, at that first open, reports which of these modules are loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.problems import CNN_LAYER_SHAPE

REPO = Path(__file__).resolve().parents[2]
LATER = ("pydantic", "numpy", "typer._adapters", "sparse_hw.spec.validate", "sparse_hw.backends.analytical",
         "sparse_hw.manifest", "rich")

_PROBE = """
import json, os, sys
LATER = json.loads(sys.argv[1])
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)) and os.fspath(args[0]).endswith(".yaml"):
        print(json.dumps({"file": os.path.basename(os.fspath(args[0])),
                          "loaded": [m for m in LATER if m in sys.modules]}), flush=True)
        os._exit(0)
sys.addaudithook(hook)
sys.argv = ["sparse-hw", *sys.argv[2:]]
from sparse_hw.cli import main
main()
"""


@pytest.mark.parametrize("argv, first", [
    (["check", "problem.yaml"], "problem.yaml"),
    (["check", "--json", "--arch", "eyeriss_like", "problem.yaml"], "arch.yaml"),
    (["model", "--arch", "eyeriss_like", "problem.yaml", "map.yaml"], "arch.yaml"),
    (["map", "--json", "--seed", "0", "--arch", "eyeriss_like", "problem.yaml"], "arch.yaml"),
    (["--debug", "map", "--objective", "delay", "problem.yaml"], "problem.yaml"),
])  # fmt: skip
def test_the_first_input_is_read_before_the_heavy_imports(argv: list[str], first: str, tmp_path: Path) -> None:
    (tmp_path / "problem.yaml").write_text(CNN_LAYER_SHAPE + "  instance: {C: 4, M: 8, R: 3, S: 3, N: 1, P: 4, Q: 4}\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(LATER), *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"file": first, "loaded": []}
