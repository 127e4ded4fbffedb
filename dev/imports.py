"""The import graph of synthlib, read with `ast` (imports inside functions included).

    python dev/imports.py [--dot]

Prints each module's imports, the import circles, the imports that go back up a floor,
and those that reach across from one stage package to another. Floors, lowest first:
the shared base, data, models and text, the stages (train, generate, evaluate), then the
pipeline and the command line. Exits 1 on a circle or an import that goes up or across.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"data": 1, "models": 2, "text": 2, "train": 3, "generate": 3, "evaluate": 3, "pipeline": 4, "cli": 4}
STAGES = ("train", "generate", "evaluate")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "synthlib").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "synthlib":
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    target = full if full in mods else node.module
                    if target in mods and target != name:
                        graph[name].add(target)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in mods and a.name != name}
    return graph


def floor(module: str) -> tuple[int, str]:
    """(floor, package) of a module: synthlib.train.loop -> (3, "train")."""
    part = module.split(".")[1] if "." in module else ""
    return FLOORS.get(part, 0), part


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    graph = imports(modules())
    if "--dot" in sys.argv:
        print("digraph synthlib {")
        for a in sorted(graph):
            for b in sorted(graph[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0
    up, across = [], []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            (fa, pa), (fb, pb) = floor(a), floor(b)
            if fb > fa:
                up.append((a, b))
            elif pa in STAGES and pb in STAGES and pa != pb:
                across.append((a, b))
        print(f"{a:<34} -> {', '.join(sorted(graph[a])) or '-'}")
    loops = circles(graph)
    print(f"\n{len(graph)} modules, {sum(map(len, graph.values()))} imports")
    print(f"circles: {len(loops)}" + "".join(f"\n  {' <-> '.join(c)}" for c in loops))
    print(f"imports back up a floor: {len(up)}" + "".join(f"\n  {a} -> {b}" for a, b in up))
    print(f"imports across stages: {len(across)}" + "".join(f"\n  {a} -> {b}" for a, b in across))
    return 1 if loops or up or across else 0


if __name__ == "__main__":
    sys.exit(main())
