"""Jinja2 templating of spec files, as timeloopfe does, in a sandbox that cannot run code or escape.

timeloopfe (`Specification.from_yaml_files(..., jinja_parse_data=...)`, timeloopfe `common`)
renders a template with the caller's variables and these functions: ``cwd()`` (the template's
folder), ``add_to_path(path)`` (a folder searched by the functions below), ``path_exists(path)``,
``find_path(path)``, ``include(path, key)`` (the value at the dotted ``key`` of a YAML file),
``include_all(glob, key)`` (the values of every matching file, lists concatenated) and
``include_text(path)``. Here ``include`` leaves a placeholder in the rendered text that is replaced
by the included object after parsing, so the included YAML keeps its tags (``!Container``) and
line numbers.

Which files are rendered: every input whose name marks it a template (``*.jinja``, ``*.jinja2``,
``*.j2``) and every input or included file whose text holds Jinja (``{{``, ``{%`` or ``{#``),
whatever its extension, as timeloopfe renders any file it reads.

Templates are untrusted input (issue 15), so:

- they run in Jinja's `ImmutableSandboxedEnvironment`: no attribute escapes such as
  ``cycler.__init__.__globals__``, no mutation of lists or dicts;
- ``include``/``include_all``/``include_text``/``find_path``/``add_to_path`` reach only files inside
  the *include roots*: the folder of each input file, plus the folder that holds all of them unless
  that is ``/``, a top-level folder or your home folder (or above it). More roots can be allowed
  with ``load_spec(..., include_roots=[...])`` or the environment variable
  ``SPARSE_HW_INCLUDE_ROOTS`` (folders separated by ``os.pathsep``). Symbolic links are resolved
  first, so a link cannot lead outside. ``path_exists`` answers False outside the roots. An error
  names a refused file but never shows its contents;
- rendering is bounded: ``range()`` gives at most 100,000 items (the sandbox's limit), strings and
  lists built by ``*``, ``+``, ``~`` and the size-taking filters are capped at the input size limit
  (`sparse_hw.safe_yaml.max_input_bytes`), so is the rendered text, a template may run for at most
  ``SPARSE_HW_TEMPLATE_SECONDS`` seconds (default 10), and on Linux the process may grow by at most
  1 GiB of address space while a template renders.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..io import load_yaml_text
from ..safe_yaml import max_input_bytes, read_input_text
from .keys import norm_key

_MARK = "__sparse_hw_include_{}__"
_JINJA = re.compile(r"\{[{%#]")
#: deepest chain of files including files
MAX_INCLUDE_DEPTH = 16
DEFAULT_SECONDS = 10.0
#: address space a render may add (bytes), where the platform lets us bound it
RENDER_HEADROOM = 1 << 30
_BIG_WIDTH = re.compile(r"\d{7,}")


def is_template(path: Path) -> bool:
    return path.suffix in (".jinja", ".jinja2", ".j2") or ".jinja" in path.name


def has_jinja(text: str) -> bool:
    """Whether ``text`` holds Jinja (``{{``, ``{%``, ``{#``: none of them can start valid YAML)."""
    return _JINJA.search(text) is not None


# ---------------------------------------------------------------------------------- include roots
def _real(p: str | Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.path.expanduser(str(p)))))


def _too_broad(folder: Path) -> bool:
    home = _real(Path.home())
    return len(folder.parts) < 3 or folder == home or folder in home.parents


def include_roots(files: Iterable[str | Path], extra: Iterable[str | Path] = ()) -> list[Path]:
    """The folders templates among ``files`` may include from (see the module docstring)."""
    files = list(files)
    # the folder a file was named in and, when it is a link, the folder it really lies in
    folders = sorted({_real(f).parent for f in files} | {_real(Path(f).absolute().parent) for f in files})
    roots = set(folders)
    if len(folders) > 1:
        common = Path(os.path.commonpath([str(f) for f in folders]))
        if not _too_broad(common):
            roots.add(common)
    env = os.environ.get("SPARSE_HW_INCLUDE_ROOTS", "")
    roots.update(_real(p) for p in env.split(os.pathsep) if p.strip())
    roots.update(_real(p) for p in extra)
    return sorted(roots)


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    real = _real(path)
    return any(real == r or r in real.parents for r in roots)


# ---------------------------------------------------------------------------------- the sandbox
class RenderTimeout(BaseException):
    """Raised inside a render that ran past its time budget (a BaseException: no handler swallows it)."""


def _limit() -> int:
    return max_input_bytes()


def _too_big(what: str) -> SpecError:
    if what == "a number":
        return SpecError(
            "the template computes an integer of more than 65,536 bits",
            fix="templates are for small spec files; check its arithmetic",
        )
    return SpecError(
        f"the template builds {what} larger than the {_limit() / (1 << 20):g} MB limit",
        fix="templates are for small spec files; build less, or raise SPARSE_HW_MAX_INPUT_MB",
    )


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _check_binop(op: str, left: Any, right: Any) -> None:
    if op == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * math.log2(abs(left)) > 65536:
                raise _too_big("a number")
    elif op == "*":
        for seq, n in ((left, right), (right, left)):
            size = _size(seq)
            if size is not None and isinstance(n, int) and size * n > _limit():
                raise _too_big("a string or list")
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and left.bit_length() + right.bit_length() > 65536:
            raise _too_big("a number")
    elif op == "+":
        a, b = _size(left), _size(right)
        if a is not None and b is not None and a + b > _limit():
            raise _too_big("a string or list")
    elif op == "%" and isinstance(left, str) and _BIG_WIDTH.search(left):
        raise _too_big("a formatted string")


def _check_args(args: Sequence[Any], kwargs: dict[str, Any], ints: bool = True) -> None:
    """Refuse a width/count argument above the size cap, or a format string with a huge width."""
    for v in (*args, *kwargs.values()):
        if ints and isinstance(v, int) and not isinstance(v, bool) and v > _limit():
            raise _too_big("a padded string or list")
        if isinstance(v, str) and _BIG_WIDTH.search(v) and ("{" in v or "%" in v):
            raise _too_big("a formatted string")


def _bounded_filter(func: Any, estimate: Any = None, ints: bool = True) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_args(_skip_ctx(args), kwargs, ints)
        if estimate is not None and estimate(*args, **kwargs) > _limit():
            raise _too_big("a string or list")
        return func(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(func, attr):
            setattr(wrapper, attr, getattr(func, attr))
    return wrapper


def _skip_ctx(args: tuple) -> tuple:
    """Filters marked ``pass_eval_context``/``pass_environment`` get that object first."""
    import jinja2
    from jinja2.nodes import EvalContext

    return args[1:] if args and isinstance(args[0], (EvalContext, jinja2.Environment)) else args


def _replace_estimate(*args: Any, **kwargs: Any) -> int:
    a = _skip_ctx(args)
    if len(a) < 3:
        return 0
    s, old, new = (str(x) for x in a[:3])
    return len(s) + (s.count(old) if old else len(s) + 1) * max(0, len(new) - len(old))


def _join_estimate(*args: Any, **kwargs: Any) -> int:
    a = _skip_ctx(args)
    if not a:
        return 0
    items = a[0]
    sep = str(a[1]) if len(a) > 1 else str(kwargs.get("d", ""))
    if not isinstance(items, (list, tuple, str)):
        return 0
    return sum(len(str(x)) for x in items) + max(0, len(items) - 1) * len(sep)


def _sandbox() -> Any:
    import jinja2
    from jinja2.compiler import CodeGenerator
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Generator(CodeGenerator):
        """Routes ``~`` through `_Sandbox.bounded_concat`, so string concatenation is capped too."""

        def visit_Concat(self, node: Any, frame: Any) -> None:
            self.write("environment.bounded_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class _Sandbox(ImmutableSandboxedEnvironment):
        code_generator_class = _Generator
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(__obj, "__self__", None).__class__ in (str, list, tuple):
                _check_args(args, kwargs)
                name = getattr(__obj, "__name__", "")
                if name == "join" and _join_estimate(args[0] if args else [], str(__obj.__self__)) > _limit():
                    raise _too_big("a string")
                if name == "replace" and _replace_estimate(__obj.__self__, *args) > _limit():
                    raise _too_big("a string")
            return super().call(__context, __obj, *args, **kwargs)

        def bounded_concat(self, parts: Sequence[Any]) -> str:
            texts = [str(p) for p in parts]
            if sum(map(len, texts)) > _limit():
                raise _too_big("a string")
            return "".join(texts)

    def no_tags(name: str) -> None:
        raise SpecError(
            f"Jinja's include/import/extends tags are not supported (asked for {name!r})",
            fix="use {{ include_text('FILE') }} or {{ include('FILE', 'key') }} instead",
        )

    env = _Sandbox(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        loader=jinja2.FunctionLoader(no_tags),
    )
    env.globals.pop("lipsum", None)
    for name in ("center", "indent", "wordwrap", "batch", "slice"):
        env.filters[name] = _bounded_filter(env.filters[name])
    env.filters["format"] = _bounded_filter(env.filters["format"], ints=False)
    env.filters["replace"] = _bounded_filter(env.filters["replace"], _replace_estimate)
    env.filters["join"] = _bounded_filter(env.filters["join"], _join_estimate)
    return env


# ---------------------------------------------------------------------------------- the budget
_RLIMIT_LOCK = threading.Lock()
_RLIMIT_STATE: dict[str, Any] = {"depth": 0, "saved": None}


def _lower_address_space() -> None:
    """Cap the address space at its current size + RENDER_HEADROOM (Linux; nested renders share it)."""
    try:
        import resource
    except ImportError:
        return
    with _RLIMIT_LOCK:
        _RLIMIT_STATE["depth"] += 1
        if _RLIMIT_STATE["depth"] > 1:
            return
        try:
            with open("/proc/self/statm", encoding="ascii") as fh:
                current = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            want = current + RENDER_HEADROOM
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            if soft == resource.RLIM_INFINITY or want < soft:
                resource.setrlimit(resource.RLIMIT_AS, (want, hard))
                _RLIMIT_STATE["saved"] = (soft, hard)
        except (OSError, ValueError):
            _RLIMIT_STATE["saved"] = None


def _restore_address_space() -> None:
    try:
        import resource
    except ImportError:
        return
    with _RLIMIT_LOCK:
        if _RLIMIT_STATE["depth"] == 0:
            return
        _RLIMIT_STATE["depth"] -= 1
        saved = _RLIMIT_STATE["saved"]
        if _RLIMIT_STATE["depth"] == 0 and saved is not None:
            _RLIMIT_STATE["saved"] = None
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(resource.RLIMIT_AS, saved)


def budget_seconds() -> float:
    raw = os.environ.get("SPARSE_HW_TEMPLATE_SECONDS", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_SECONDS
    except ValueError:
        value = DEFAULT_SECONDS
    return value if value > 0 else DEFAULT_SECONDS


class _Budget:
    """Interrupts the rendering thread after ``seconds`` (an asynchronous `RenderTimeout`) and bounds
    its memory; Jinja's compiled loops check nothing themselves, so this is the only CPU bound."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._active = False
        self._lock = threading.Lock()
        self._tid = threading.get_ident()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        import ctypes  # here, not at import: it costs start-up time every command pays

        with self._lock:
            if self._active:
                self.fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._tid), ctypes.py_object(RenderTimeout)
                )

    def __enter__(self) -> _Budget:
        self._active = True
        self._timer.start()  # before the address space is capped: a thread needs its stack
        _lower_address_space()
        return self

    def __exit__(self, *exc: object) -> None:
        import ctypes

        try:
            with self._lock:
                self._active = False
                if self.fired:  # drop an exception not delivered yet
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._tid), None)
        finally:
            self._timer.cancel()
            _restore_address_space()


# ---------------------------------------------------------------------------------- rendering
def _dig(data: Any, key: str | None, path: Path) -> Any:
    if not key:
        return data
    node = data
    for part in key.split("."):
        if isinstance(node, dict):
            match = next((k for k in node if k == part or norm_key(k) == norm_key(part)), None)
            if match is not None:
                node = node[match]
                continue
        raise SpecError(
            f"included file has no key {key!r}",
            file=path,
            fix=f"check the key given to include(); the file's top-level keys are "
            f"{', '.join(map(str, data)) if isinstance(data, dict) else '(none)'}",
        )
    return node


class _Renderer:
    """Renders one top-level template and, recursively, the templates it includes."""

    def __init__(self, data: dict[str, Any] | None, roots: Sequence[Path]) -> None:
        self.data = dict(data or {})
        self.roots = list(roots)
        self.chain: list[Path] = []

    def _refuse(self, p: Any, where: Path) -> SpecError:
        return SpecError(
            f"the template may not read {str(p)!r}: it is outside the input files' folders "
            f"({', '.join(map(str, self.roots))})",
            file=where,
            fix="keep included files next to (or below) the input files, or allow the folder with "
            "SPARSE_HW_INCLUDE_ROOTS=DIR",
        )

    def render_file(self, path: Path, text: str | None = None) -> Any:
        """Render ``path`` and parse the result; includes resolved."""
        if len(self.chain) >= MAX_INCLUDE_DEPTH or _real(path) in self.chain:
            raise SpecError(
                "templates include each other in a loop, or more than "
                f"{MAX_INCLUDE_DEPTH} files deep: {' -> '.join(p.name for p in [*self.chain, path])}",
                file=path,
                fix="remove the circular include",
            )
        if text is None:
            text = read_input_text(path)
        self.chain.append(_real(path))
        try:
            return self._render(path, text)
        finally:
            self.chain.pop()

    def _load(self, target: Path) -> Any:
        from .loader import _parse_text  # libyaml when present; imported here: loader imports this module

        text = read_input_text(target)
        if has_jinja(text):
            return self.render_file(target, text)
        return _parse_text(text, target)

    def _render(self, path: Path, text: str) -> Any:
        # Absolute folders: a template named by a relative path ("../designs/top.yaml.jinja2") builds
        # include paths from cwd(), and those must not be re-joined onto the relative folder again.
        here = path.parent.absolute()
        search: list[Path] = [here]
        included: dict[str, Any] = {}

        def resolve(p: Any) -> Path:
            cand = Path(os.path.expanduser(str(p)))
            if not cand.is_absolute():
                cand = next((base / cand for base in search if (base / cand).exists()), search[0] / cand)
            if not _inside(cand, self.roots):
                raise self._refuse(p, path)
            return cand

        def cwd() -> str:
            return str(here)

        def add_to_path(p: str) -> str:
            folder = here / os.path.expanduser(str(p))  # a relative folder is the template's own
            if not _inside(folder, self.roots):
                raise self._refuse(p, path)
            search.append(folder)
            return ""

        def path_exists(p: str) -> bool:
            try:
                return resolve(p).exists()
            except SpecError:
                return False

        def find_path(p: str) -> str:
            return str(resolve(p))

        def _placeholder(value: Any) -> str:
            token = _MARK.format(len(included))
            included[token] = value
            return token

        def include(p: str, key: str | None = None) -> str:
            target = resolve(p)
            return _placeholder(_dig(self._load(target), key, target))

        def include_all(pattern: str, key: str | None = None) -> str:
            import glob as globmod

            files: list[Path] = []
            for base in search:
                files = sorted(Path(f) for f in globmod.glob(str(base / str(pattern))))
                if files:
                    break
            outside = [f for f in files if not _inside(f, self.roots)]
            if outside:
                raise self._refuse(outside[0], path)
            if not files:
                raise SpecError(
                    f"include_all({pattern!r}) matched no file",
                    file=path,
                    fix=f"check the pattern; searched {', '.join(map(str, search))}",
                )
            values: list[Any] = []
            merged: dict[str, Any] = {}
            for f in files:
                value = _dig(self._load(f), key, f)
                if isinstance(value, list):
                    values.extend(value)
                elif isinstance(value, dict):
                    merged.update(value)
                elif value is not None:
                    values.append(value)
            return _placeholder(values if values or not merged else merged)

        def include_text(p: str) -> str:
            target = resolve(p)
            content = read_input_text(target)
            if has_jinja(content):
                return self._text(target, content)
            return content

        env = _sandbox()
        env.globals.update(
            cwd=cwd,
            add_to_path=add_to_path,
            path_exists=path_exists,
            find_path=find_path,
            include=include,
            include_all=include_all,
            include_text=include_text,
        )
        rendered = self._generate(env, path, text)
        parsed = load_yaml_text(rendered, path)
        return _substitute(parsed, included)

    def _text(self, path: Path, text: str) -> str:
        """Render an include_text() target that holds Jinja: the text, placeholders not allowed."""
        if len(self.chain) >= MAX_INCLUDE_DEPTH or _real(path) in self.chain:
            raise SpecError(
                "templates include each other in a loop", file=path, fix="remove the circular include"
            )
        self.chain.append(_real(path))
        try:
            env = _sandbox()
            return self._generate(env, path, text)
        finally:
            self.chain.pop()

    def _generate(self, env: Any, path: Path, text: str) -> str:
        import jinja2
        from jinja2.exceptions import SecurityError

        try:
            template = env.from_string(text)
            parts: list[str] = []
            total = 0
            for chunk in template.generate(**self.data):
                total += len(chunk)
                if total > _limit():
                    raise SpecError(
                        f"the template renders to more than {_limit() / (1 << 20):g} MB",
                        file=path,
                        fix="templates are for small spec files; check its loops",
                    )
                parts.append(chunk)
            return "".join(parts)
        except SpecError as exc:
            if exc.file is None:  # a bound hit inside the sandbox: name this template
                raise SpecError(exc.problems[0].message, file=path, fix=exc.fix) from None
            raise
        except jinja2.UndefinedError as exc:
            raise SpecError(
                f"Jinja template variable problem: {exc.message}",
                file=path,
                fix="pass the variable, e.g. load_spec([...], jinja_data={'architecture': ...}) "
                "or `sparse-hw check --jinja architecture=...`",
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise SpecError(
                f"Jinja syntax error: {exc.message}",
                file=path,
                line=exc.lineno,
                fix="correct the template syntax",
            ) from None
        except SecurityError as exc:
            raise SpecError(
                f"the template tried something the sandbox forbids ({exc}); templates may only compute "
                "values and call cwd/include/include_all/include_text/find_path/path_exists/add_to_path",
                file=path,
                fix="remove that expression from the template",
            ) from None
        except OverflowError as exc:  # the sandbox's range() limit, or float overflow
            raise SpecError(
                f"the template computes too large a value: {exc}",
                file=path,
                fix="templates are for small spec files; check its loops and arithmetic",
            ) from None
        except MemoryError:
            raise SpecError(
                "the template needs more memory than a spec file may use",
                file=path,
                fix="templates are for small spec files; check its loops and string operations",
            ) from None
        except RecursionError:
            raise SpecError("the template recurses too deeply", file=path, fix="check its macros") from None
        except Exception as exc:  # noqa: BLE001 - any template runtime failure is the user's input
            raise SpecError(f"Jinja template failed: {type(exc).__name__}: {exc}", file=path,
                            fix="correct the template") from None


def render(
    path: Path,
    data: dict[str, Any] | None,
    *,
    roots: Sequence[Path] | None = None,
    text: str | None = None,
) -> Any:
    """Render a Jinja2 spec template and parse it; returns the parsed YAML with includes resolved.

    ``roots`` are the folders includes may reach (default: :func:`include_roots` of ``path``);
    ``text`` is the file's text when the caller has read it already.
    """
    path = Path(path)
    renderer = _Renderer(data, include_roots([path]) if roots is None else roots)
    seconds = budget_seconds()
    budget = _Budget(seconds)
    try:
        with budget:
            return renderer.render_file(path, text)
    except RenderTimeout:
        raise SpecError(
            f"the template ran longer than {seconds:g} s (the limit for rendering a template)",
            file=path,
            fix="check its loops; raise SPARSE_HW_TEMPLATE_SECONDS if the template is trusted and slow",
        ) from None


def _substitute(node: Any, included: dict[str, Any]) -> Any:
    if isinstance(node, str) and node in included:
        return included[node]
    if isinstance(node, dict):
        for k in list(node):
            node[k] = _substitute(node[k], included)
        return node
    if isinstance(node, list):
        for i, v in enumerate(node):
            node[i] = _substitute(v, included)
        return node
    return node
