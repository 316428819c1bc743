"""Which library modules can change an experiment's result: the import closure.

A run's fingerprint hashes the source of the modules its experiment can execute,
found statically: the experiment's entry module, the modules the notebook's code
cells name (``rm.plotting``, ``from rnnmem_utils.x import y``), and everything
they import inside the package, transitively (imports inside functions count:
the walk reads every ``import`` statement of a module, not only the top-level
ones). An edit to E5's connectivity code thus leaves E1's result up to date,
while an edit to a module E1 imports makes it stale.

The closure is a superset of what runs (a module imported for one function is
counted whole), which errs on the side of "stale". Modules that cannot change a
number (the CLI, the report, the runner, the store's bookkeeping) are left out.
"""

from __future__ import annotations

import ast
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from ..store import code_at

PACKAGE = "rnnmem_utils"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Modules that cannot change a result: editing them does not make results stale.
# The configuration's modules count through the resolved configuration, which the
# fingerprint hashes apart: an edit to another experiment's presets or schema
# leaves this one's result up to date, a change to its own values does not.
NOT_RESULT_CODE = {
    f"{PACKAGE}",  # lazy attribute access only
    f"{PACKAGE}.cli",
    f"{PACKAGE}.report",
    f"{PACKAGE}.store",
    f"{PACKAGE}.config",
    f"{PACKAGE}.presets",
    f"{PACKAGE}.schema",
}
NOT_RESULT_PACKAGES = (f"{PACKAGE}.runner",)
# ``rm.<name>`` or ``rnnmem_utils.<name>`` in a notebook's code
_ATTR = re.compile(rf"\b(?:rm|{PACKAGE})((?:\.[A-Za-z_]\w*)+)")
# ``from rnnmem_utils.<pkg> import <name> [as x], ...``: a name may be a module
_FROM = re.compile(
    rf"^[ \t]*from[ \t]+({PACKAGE}(?:\.\w+)*)[ \t]+import[ \t]+"
    r"(?:\(([^)]*)\)|([^\n#(]+))",
    re.M,
)


def module_file(module: str) -> Path | None:
    """The source file of ``module`` inside the package, or None."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    parts = module.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _parents(module: str) -> list[str]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str) -> set[str]:
    """Package modules that ``module``'s import statements name (any depth)."""
    path = module_file(module)
    if path is None:
        return set()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path, node)
            found.add(base)
            # ``from pkg import sub``: sub may be a module
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if module_file(m) is not None}


def notebook_modules(code: str) -> set[str]:
    """Package modules a notebook's code touches (``rm.x.y`` and imports,
    ``from rnnmem_utils.plotting import latching as pl`` included)."""
    found = set()
    for match in _ATTR.finditer(code):
        parts = match.group(1).strip(".").split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join([PACKAGE, *parts[:i]])
            if module_file(name) is None:
                break
            found.add(name)
    for base, wrapped, line in _FROM.findall(code):
        for name in (wrapped or line).split(","):
            sub = f"{base}.{name.split()[0]}" if name.split() else ""
            if sub and module_file(sub) is not None:
                found.add(sub)
    return found


def closure(roots) -> set[str]:
    """``roots`` and every package module they import, transitively."""
    seen: set[str] = set()
    todo = [m for r in roots for m in (*_parents(r), r)]
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None:
            continue
        seen.add(module)
        for dep in imports_of(module):
            todo.extend((*_parents(dep), dep))
    return seen


def result_modules(roots) -> list[str]:
    """The closure of ``roots`` less the modules that cannot change a number."""
    return sorted(
        m
        for m in closure(roots)
        if m not in NOT_RESULT_CODE
        and not m.endswith(".schema")
        and not any(m == p or m.startswith(p + ".") for p in NOT_RESULT_PACKAGES)
    )


@lru_cache(maxsize=64)
def _digest(modules: tuple[str, ...], stamps: tuple) -> str:
    h = hashlib.sha256()
    for module, stamp in zip(modules, stamps, strict=True):
        h.update(module.encode())
        h.update(code_at(str(module_file(module)), stamp).encode())
    return h.hexdigest()[:16]


def digest(roots) -> str:
    """Hash of the code of :func:`result_modules` of ``roots``: each module's
    syntax tree without docstrings (:func:`rnnmem_utils.store.code_of`), so a
    prose edit leaves a result up to date. It reads differently under another
    Python, which only reruns notebooks from the store."""
    modules = tuple(result_modules(roots))
    stats = [module_file(m).stat() for m in modules]
    stamps = tuple((st.st_mtime_ns, st.st_size) for st in stats)
    return _digest(modules, stamps)
