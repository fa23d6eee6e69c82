"""Import graph of the `stprompt` package: who imports whom, per module, and the import cycles.

Reads the source with `ast` (imports nothing), resolves absolute and relative imports that land
inside the package, and prints one line per module with its intra-package imports, then every
strongly connected component of more than one module (an import circle) and each module's length.
Imports inside functions count too (they are still a dependency; `(lazy)` marks them).

    python benchmarks/import_graph.py [--root stprompt] [-o benchmarks/results/import_graph_after.txt]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """Dotted name of a source file: stprompt/vlm/build.py -> stprompt.vlm.build."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(name: str, modules: set[str]) -> str | None:
    """The longest prefix of `name` that is a module of the package (`a.b.func` -> `a.b`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(path: Path, mod: str, is_pkg: bool, modules: set[str]) -> dict[str, bool]:
    """Intra-package modules imported by one file -> whether every such import is lazy (in a def)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = mod if is_pkg else mod.rpartition(".")[0]
    found: dict[str, bool] = {}

    def add(target: str | None, lazy: bool) -> None:
        if target is None or target == mod:
            return
        found[target] = found.get(target, True) and lazy

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(resolve(alias.name, modules), lazy)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    prefix = ".".join(base + ([child.module] if child.module else []))
                else:
                    prefix = child.module or ""
                for alias in child.names:
                    full = f"{prefix}.{alias.name}"
                    add(resolve(full, modules) if full in modules else resolve(prefix, modules), lazy)
            visit(child, inner)

    visit(tree, False)
    return found


def cycles(graph: dict[str, dict[str, bool]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def is_ancestor_package(a: str, b: str) -> bool:
    """True when `a` is a package containing `b` (importing `a.b` runs `a/__init__` first)."""
    return b.startswith(a + ".")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="stprompt", help="package folder (default: stprompt)")
    ap.add_argument("-o", "--output", help="also write the listing to this file")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    graph = {m: imports_of(p, m, p.name == "__init__.py", modules) for m, p in files.items()}
    lines = [f"# import graph of {root.name}: {len(files)} modules (lazy = only inside a function)"]
    for m in sorted(graph):
        n_lines = len(files[m].read_text().splitlines())
        deps = ", ".join(
            (d.removeprefix(root.name + ".") or root.name) + (" (lazy)" if graph[m][d] else "")
            for d in sorted(graph[m])
        )
        lines.append(f"{m.removeprefix(root.name + '.') or root.name} [{n_lines}] -> {deps or '-'}")
    # A package importing its own submodules (re-exports) is not a circle by itself; cycles are
    # counted on the graph without parent -> child edges of a package's __init__.
    pruned = {m: {d: lz for d, lz in ds.items() if not is_ancestor_package(m, d)} for m, ds in graph.items()}
    found = cycles(pruned)
    lines.append("")
    lines.append(f"# cycles (package -> own submodule re-exports excluded): {len(found)}")
    for comp in found:
        lines.append("  " + " <-> ".join(c.removeprefix(root.name + ".") for c in comp))
    big = sorted(((len(p.read_text().splitlines()), m) for m, p in files.items()), reverse=True)
    over = [f"{m.removeprefix(root.name + '.')} ({n})" for n, m in big if n > 600]
    lines.append(f"# modules over 600 lines: {', '.join(over) or 'none'}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
