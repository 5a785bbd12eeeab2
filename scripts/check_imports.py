"""Fail when modules of ``consent`` or ``web`` import each other in a circle, when the
library (``consent``) imports its web shell (``web``), or when one area of the web app imports
another area's views (``web/<area>/views.py``: pages; what two areas share lives in a module of
its own, e.g. ``web.takedowns.listing``, or in ``web.core``).

Every import counts, including those inside functions (a lazy import still ties two modules
together), and so does a string naming a module of ``web`` (``"web.x:command"``, as the CLI's
lazy sub-commands do). ``python -m scripts.check_imports`` prints each circle and each such
import it finds and exits 1, or prints how many modules and imports it read and exits 0.
``make lint`` runs it.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("consent", "web")
#: a string that is a module path of the web app (``web.batch``, ``web.batch:command``)
WEB_PATH = re.compile(r"web(\.\w+)+(:\w+)?|web:\w+")


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the tree that module ``name`` (file ``path``) imports."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # "from pkg import mod" imports the submodule when there is one
            candidates = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source
                          for a in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def web_imports(path: Path, root: Path = ROOT) -> list[str]:
    """The imports of ``web`` in library module ``path`` (``import web...``, ``from web...``, a
    relative import climbing out of ``consent``, or a string that is a ``web`` module path),
    each as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name == "web" or a.name.startswith("web.")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            depth = len(path.relative_to(root).parts) - 1  # packages above the module
            names = [("." * node.level) + (module or ", ".join(a.name for a in node.names))] if (
                not node.level and (module == "web" or module.startswith("web.")) or node.level > depth) else []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and WEB_PATH.fullmatch(node.value):
            names = [repr(node.value)]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names]
    return found


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def views_of_other_areas(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for each module of one web area that imports another area's ``views``."""
    def area(name: str) -> str | None:
        parts = name.split(".")
        return parts[1] if parts[0] == "web" and len(parts) > 2 else None

    return [f"{a} -> {b}" for a, targets in sorted(graph.items()) for b in sorted(targets)
            if b.endswith(".views") and area(b) and area(a) != area(b) and a != "web"]


def main(root: Path = ROOT) -> int:
    modules = module_names(root)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    cycles = find_cycles(graph)
    edges = sum(len(t) for t in graph.values())
    upward = [f"{path.relative_to(root)}:{line}" for name, path in modules.items()
              if name.split(".")[0] == "consent" for line in web_imports(path, root)]
    for line in upward:
        print(f"the library imports the web app: {line}")
    across = views_of_other_areas(graph)
    for line in across:
        print(f"one web area imports another's views: {line}")
    if cycles:
        for cycle in cycles:
            ties = [f"{a} -> {b}" for a in cycle for b in sorted(graph[a]) if b in cycle]
            print(f"import cycle among {len(cycle)} modules: " + "; ".join(ties))
    if cycles or upward or across:
        return 1
    print(f"no import cycles, consent never imports web, no web area imports another's views: "
          f"{len(modules)} modules, {edges} imports between them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
