"""Start-up time of ``sparse-hw check``/``model``/``map`` (and ``--help``), against baselines.

What "start-up" means here: the time from process start until the command begins its work, which is
the moment it first opens a YAML file (an input, or a built-in architecture's file). Everything before
is start-up: the interpreter, ``import sparse_hw.cli``, the dispatch, the argument checks and every
module the command imports before reading. The commands read their inputs before they import what
validates and evaluates them (the spec models, numpy, the model/mapper stack): that cost is in the
whole command's time, printed beside it, which must fall too. A probe process runs the real CLI with an
audit hook (PEP 578) that ends the process, with ``os._exit(0)``, at that first ``open`` -- the CLI
itself carries no benchmark code. The
whole command is timed too: ``check``/``model`` on the reference's Eyeriss-like gating case (sparse
densities, so the density models load) and ``map`` on a tiny layer of the built-in ``eyeriss_like``,
whose whole time is also shown less the search it reports itself (``mapper_seconds``).

Each figure is the median over ``--runs`` fresh processes, run interleaved so that a burst of load hits
every command alike, as wall and CPU (user + system) time, next to two baselines from the same session:
``python -c pass`` and ``python -c "import yaml, numpy"`` (what any YAML-reading numeric tool imports).
Bytecode is cached in a temporary PYTHONPYCACHEPREFIX, as a user's install has it (an environment with
PYTHONDONTWRITEBYTECODE would otherwise recompile sparse_hw in every process). The goal (issue 15,
item 14): ``check``, ``model`` and ``map`` start in under 0.15 s. It is judged on the start-up's CPU time,
which other processes on a busy machine inflate far less than its wall time (both are printed), and the
ratio to the ``yaml, numpy`` baseline lets figures from machines of different speed compare.

    python benchmarks/startup.py [--runs 9] [--case CASE_ID]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.problems, as `python benchmarks/startup.py` runs it

from tests.problems import CNN_LAYER_SHAPE

CASES = REPO.parent / "shared" / "reference" / "timeloop" / "cases"
DEFAULT_CASE = "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap"
GOAL_S = 0.15
TINY_PROBLEM = CNN_LAYER_SHAPE + """\
  instance:
    C: 4
    M: 8
    R: 3
    S: 3
    N: 1
    P: 4
    Q: 4
    densities: {Weights: {distribution: hypergeometric, density: 0.5}}
"""


# Runs the CLI (argv after the script) and ends the process at its first open of a YAML file. The hook sees
# every audited event (each import, each file opened), which costs a few milliseconds at most.
PROBE = """
import os, sys
def _hook(event, args):
    path = args[0] if event == "open" else None
    if isinstance(path, (str, bytes, os.PathLike)) and os.fsdecode(path).endswith(SUFFIXES):
        os.write(2, b"\\n" + MARK)
        os._exit(0)
SUFFIXES = (".yaml", ".yml", ".j2", ".jinja2")
MARK = b"startup-probe: work begins\\n"
sys.addaudithook(_hook)
sys.argv = ["sparse-hw", *sys.argv[1:]]
import runpy
runpy.run_module("sparse_hw", run_name="__main__", alter_sys=True)  # as `python -m sparse_hw` does
"""
MARK = "startup-probe: work begins"


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str, str]:
    """(wall s, CPU s of the child, stdout, stderr) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout, proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9, help="processes per command (medians are printed)")
    ap.add_argument("--case", default=DEFAULT_CASE, help="reference case whose inputs check and model read")
    args = ap.parse_args()
    inputs = [str(p) for p in sorted((CASES / args.case / "inputs").glob("*.yaml"))]
    if not inputs:
        raise SystemExit(f"no inputs for case {args.case} under {CASES}")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="sparse-hw-startup-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
                   OMP_NUM_THREADS="1",
                   PYTHONPYCACHEPREFIX=str(work / "pyc"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        (work / "problem.yaml").write_text(TINY_PROBLEM)
        cli = {
            "check": ["check", *inputs],
            "model": ["model", *inputs],
            "map": ["map", "--arch", "eyeriss_like", "--seed", "0", "--json", "problem.yaml"],
        }
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import yaml, numpy'": [py, "-c", "import yaml, numpy"],
            "sparse-hw --help": [py, "-m", "sparse_hw", "--help"],
        }  # fmt: skip
        for name, argv in cli.items():
            commands[f"start {name}"] = [py, "-c", PROBE, *argv]
            commands[f"whole {name}"] = [py, "-m", "sparse_hw", *argv]
        for argv in commands.values():  # warm the file cache and the bytecode caches
            _timed(argv, env, work)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        search: list[float] = []
        for _ in range(args.runs):  # interleaved, so that a burst of load hits every command alike
            for name, argv in commands.items():
                wall, cpu, out, err = _timed(argv, env, work)
                if name.startswith("start ") and MARK not in err:
                    raise SystemExit(f"{name}: the command ended before opening any YAML file:\n{err}")
                samples[name].append((wall, cpu))
                if name == "whole map":
                    search.append(float(json.loads(out)["mapper"]["mapper_seconds"]))
    med = {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
           for name, s in samples.items()}
    base_wall, base_cpu = med["python -c 'import yaml, numpy'"]
    print(f"{'command':34} {'wall s':>8} {'cpu s':>8} {'cpu / yaml+numpy':>17}  "
          f"goal: start-up cpu < {GOAL_S} s")
    for name, (wall, cpu) in med.items():
        goal, label = "", name
        if name.startswith(("start ", "whole ")):
            stage, command = name.split()
            label = f"sparse-hw {command} ({'start-up' if stage == 'start' else 'whole'})"
            goal = ("OK" if cpu < GOAL_S else "over") if stage == "start" else ""
        print(f"{label:34} {wall:8.3f} {cpu:8.3f} {cpu / base_cpu:17.2f}  {goal}")
    mapper_s = statistics.median(search)
    # the search's own time is wall time: subtracting it from CPU time would mix the two
    print(f"{'sparse-hw map (whole less search)':34} {med['whole map'][0] - mapper_s:8.3f} {'':8} {'':17}  "
          f"(search {mapper_s:.3f} s wall)")
    print(f"runs per command: {args.runs}; python {sys.version.split()[0]}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
