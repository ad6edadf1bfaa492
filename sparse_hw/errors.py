"""One exception family for every user-facing problem.

Each error names the file, the key path inside it and the fix, so that the CLI can print one
clear paragraph and exit with code 2 (``EXIT_CODE_INPUT``). Internal bugs are not ``SparseHwError``
and exit with code 1.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

EXIT_CODE_INPUT = 2
EXIT_CODE_INTERNAL = 1


class Problem(msgspec.Struct):
    """One problem found in the input: where it is, what is wrong, and how to fix it."""

    message: str
    file: str | None = None
    key_path: str | None = None
    fix: str | None = None
    line: int | None = None

    def render(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}" + (f":{self.line}" if self.line else ""))
        if self.key_path:
            where.append(f"key '{self.key_path}'")
        head = ", ".join(where)
        text = f"{head}: {self.message}" if head else self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class SparseHwError(Exception):
    """Base of every error caused by the user's input; the CLI maps it to exit code 2."""

    exit_code = EXIT_CODE_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        key_path: str | None = None,
        fix: str | None = None,
        line: int | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.problems: list[Problem] = list(problems or [])
        if not self.problems:
            self.problems.append(
                Problem(message, None if file is None else str(file), key_path, fix, line)
            )
        self.file = None if file is None else str(file)
        self.key_path = key_path
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0].render()
        lines = [f"{len(self.problems)} problems found:"]
        lines += [f"  {i}. {p.render()}" for i, p in enumerate(self.problems, 1)]
        return "\n".join(lines)


class SpecError(SparseHwError):
    """A Timeloop/Sparseloop/Accelergy input file is malformed or inconsistent."""


class CheckpointError(SparseHwError):
    """A checkpoint is missing, corrupt, untrusted or does not match its model."""


class MappingError(SparseHwError):
    """A mapping is invalid, or no mapping fits the architecture."""


class BackendError(SparseHwError):
    """An external backend (real Timeloop binaries) is missing or failed."""


class DataError(SparseHwError):
    """A dataset path is missing or malformed."""


class ConfigError(SparseHwError):
    """A pipeline/run configuration is invalid."""


class ProblemCollector(msgspec.Struct):
    """Collects every problem before raising once, so users see all of them at the same time."""

    problems: list[Problem] = msgspec.field(default_factory=list)

    def add(self, message: str, *, file=None, key_path=None, fix=None, line=None) -> None:
        self.problems.append(Problem(message, None if file is None else str(file), key_path, fix, line))

    def extend(self, other: ProblemCollector | list[Problem]) -> None:
        self.problems.extend(other.problems if isinstance(other, ProblemCollector) else other)

    def raise_if_any(self, cls: type[SparseHwError] = SpecError) -> None:
        if self.problems:
            raise cls(self.problems[0].message, problems=self.problems)

    def __bool__(self) -> bool:
        return bool(self.problems)
