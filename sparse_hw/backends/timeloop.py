"""The ``timeloop`` backend: run the real ``timeloop-model`` / ``timeloop-mapper`` and parse their outputs.

The binaries are called with an argument list (never a shell string) on the same input files our own
engine reads, in a working folder, under a timeout; their outputs become the same
:class:`~sparse_hw.model.result.Evaluation` as the builtin engine's. Timeloop's command line is
``timeloop-model FILE... -o OUTDIR`` (NVlabs/timeloop v3.0.3, ``src/util/args.cpp``, ``ParseArgs``:
the only option is ``-o``, which must name an existing folder).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BackendError, ProblemCollector, SparseHwError
from ..io import load_yaml
from ..model.result import Evaluation
from .timeloop_map import normalize_mapping
from .timeloop_output import read_outputs

MAPPER = "timeloop-mapper"
MODEL = "timeloop-model"
BINARIES = (MAPPER, MODEL)

#: Marker file that says an output folder was made by this backend (and may be replaced).
_MARKER = ".sparse-hw-timeloop-run"
_TAIL_LINES = 20
_TAIL_CHARS = 2000


def timeloop_available() -> dict[str, str | None]:
    """Each Timeloop binary's path on PATH, or None when it is not installed."""
    return {name: shutil.which(name) for name in BINARIES}


def _tail(text: str) -> str:
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    tail = "\n".join(lines[-_TAIL_LINES:])
    return tail[-_TAIL_CHARS:]


class TimeloopBackend:
    """Evaluates or maps one problem with the real Timeloop binaries (v3.0.3 is the reference build)."""

    name = "timeloop"

    def model(self, files: Sequence[Path], *, workdir: Path, timeout_s: float = 600) -> Evaluation:
        """Run ``timeloop-model`` on ``files``; the mapping it evaluates (from the files) is attached."""
        evaluation = self._run(MODEL, files, Path(workdir), timeout_s)
        if evaluation.mapping is None:
            evaluation.mapping = _mapping_from_inputs(files)
        return evaluation

    def map(self, files: Sequence[Path], *, workdir: Path, timeout_s: float = 3600) -> Evaluation:
        """Run ``timeloop-mapper`` on ``files``; ``.mapping`` is the best mapping (its ``*.map.yaml``)."""
        evaluation = self._run(MAPPER, files, Path(workdir), timeout_s)
        if evaluation.mapping is None:
            raise BackendError(
                f"{MAPPER} wrote statistics but no *.map.yaml with the best mapping",
                file=Path(workdir) / MAPPER,
                fix="use a Timeloop build that writes the mapping YAML (v3.0 or later)",
            )
        return evaluation

    # ------------------------------------------------------------------------------------------
    def _run(self, tool: str, files: Sequence[Path], workdir: Path, timeout_s: float) -> Evaluation:
        exe = shutil.which(tool)
        if exe is None:
            raise BackendError(
                f"{tool} not found on PATH; install Timeloop v3.0.3 or use --backend builtin",
                fix="put the Timeloop binaries on PATH (see ../shared/reference/timeloop/README.md, 'Tools') "
                "or run with --backend builtin",
            )
        inputs = _check_inputs(files)
        if timeout_s <= 0:
            raise BackendError(f"timeout must be positive, got {timeout_s}", fix="pass timeout_s > 0")
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        out_dir = _fresh_output_dir(workdir / tool)
        argv = [exe, *(str(p) for p in inputs), "-o", str(out_dir)]
        command = shlex.join([tool, *argv[1:]])
        stdout_path = out_dir / f"{tool}.stdout.txt"
        stderr_path = out_dir / f"{tool}.stderr.txt"
        start = time.perf_counter()
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                argv, cwd=workdir, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
            )
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _stop(proc)
                raise BackendError(
                    f"{tool} did not finish within the timeout of {timeout_s:g} s and was stopped "
                    f"(command: {command})",
                    file=stdout_path,
                    fix="raise the timeout, shrink the mapspace (mapper search-size, victory-condition, "
                    "timeout) or use --backend builtin",
                ) from None
            except BaseException:
                _stop(proc)
                raise
        seconds = time.perf_counter() - start
        stdout = stdout_path.read_text(encoding="utf-8", errors="replace")
        stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
        if rc != 0:
            tail = _tail(stderr) or _tail(stdout) or "(no output)"
            raise BackendError(
                f"{tool} exited with status {rc} (command: {command}). Last lines of its output:\n{tail}",
                file=stderr_path if stderr.strip() else stdout_path,
                fix="correct the input files named in the message; the full output is in the file above",
            )
        try:
            evaluation = read_outputs(out_dir)
        except BackendError as exc:
            tail = _tail(stdout) or _tail(stderr) or "(no output)"
            raise BackendError(
                f"{tool} finished but its outputs cannot be used: {exc.problems[0].message}. "
                f"Last lines of its output:\n{tail}",
                file=out_dir,
                fix="a mapper that found no valid mapping writes no statistics: relax the constraints or "
                "enlarge the search; otherwise check the input files",
            ) from None
        evaluation.notes.extend([f"command: {command}", f"wall time: {seconds:.3f} s", f"outputs: {out_dir}"])
        return evaluation


def _check_inputs(files: Sequence[Path]) -> list[Path]:
    if isinstance(files, (str, Path)):
        files = [files]
    if not files:
        raise BackendError(
            "no input files given", fix="pass the architecture, problem and mapping YAML files"
        )
    problems = ProblemCollector()
    out = []
    for f in files:
        p = Path(f).resolve()
        if not p.is_file():
            problems.add("input file not found", file=f, fix="check the path")
        out.append(p)
    problems.raise_if_any(BackendError)
    return out


def _fresh_output_dir(path: Path) -> Path:
    """An empty output folder at ``path``; a folder left by an earlier run of this backend is replaced."""
    if path.exists():
        if not (path / _MARKER).is_file():
            raise BackendError(
                "refusing to overwrite a folder this backend did not create",
                file=path,
                fix="pass another workdir or remove the folder",
            )
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / _MARKER).write_text("Timeloop outputs written by sparse-hw; replaced on the next run.\n")
    return path


def _stop(proc: subprocess.Popen) -> None:
    """Stop the process group we started: SIGTERM, then SIGKILL after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _mapping_from_inputs(files: Sequence[Path]) -> dict[str, Any] | None:
    """The ``mapping`` key of the input files, normalized (None when no file holds one)."""
    if isinstance(files, (str, Path)):
        files = [files]
    for f in files:
        try:
            doc = load_yaml(f)
        except SparseHwError:
            continue
        if isinstance(doc, dict) and "mapping" in doc:
            try:
                return normalize_mapping(doc, source=f)
            except BackendError:
                return None
    return None
