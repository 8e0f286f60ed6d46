"""The import map of observe/ and exporters/, read from the AST: no cycle, and the core never imports a part.

The core is observe/'s top-level modules (config, service, exposition, es_connection, ...); the parts are
observe/logs, observe/traces and exporters/; observe/app assembles them (whole config, service registry, CLI
root, `observe up`). The core imports neither a part nor the app; `python -m observe` (observe/__main__.py) is
the one entry point into the app. Function-level imports count too: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("observe", "exporters")
PARTS = ("observe.logs", "observe.traces", "exporters")
APP = "observe.app"
ENTRY_POINTS = {"observe.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The tree's modules `name` imports (a `from package import module` names the module)."""
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_map() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def is_core(name: str) -> bool:
    top_level = (name.startswith("observe.") and name.count(".") == 1) or name == "observe"
    return top_level and name not in ENTRY_POINTS


def is_above_core(name: str) -> bool:
    return is_part(name) or name == APP or name.startswith(APP + ".")


def is_part(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in PARTS)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_tree_has_no_import_cycle() -> None:
    assert cycles(import_map()) == []


def test_the_core_never_imports_a_part_or_the_app() -> None:
    arrows = sorted(f"{a} -> {b}" for a, targets in import_map().items() if is_core(a)
                    for b in targets if is_above_core(b))
    assert arrows == []


def test_parts_do_not_import_each_other() -> None:
    """The log wing, the trace puller and the exporters meet only in the core and the app."""
    def part_of(name: str) -> str | None:
        return next((p for p in PARTS if name == p or name.startswith(p + ".")), None)

    arrows = sorted(f"{a} -> {b}" for a, targets in import_map().items() if part_of(a)
                    for b in targets if part_of(b) and part_of(b) != part_of(a))
    assert arrows == []


def test_the_checker_sees_arrows_and_cycles() -> None:
    graph = import_map()
    assert "observe.config" in graph["observe.service"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


# The log wing reads one way: tail -> decode -> process -> enrich (a plan, applied by the reader) -> encode ->
# batch -> sink -> ack -> checkpoint. These arrows would point backwards or tie two stages together.
BACKWARDS = [
    ("observe.logs.encode", "observe.logs.decode"),
    ("observe.logs.decode", "observe.logs.encode"),
    ("observe.logs.decode", "observe.logs.process"),
    ("observe.logs.sinks", "observe.logs.enrich"),
    ("observe.logs.sinks", "observe.logs.plan"),
    ("observe.logs.sinks", "observe.logs.reader"),
    ("observe.logs.sinks", "observe.logs.tailer"),
    ("observe.logs.sinks", "observe.logs.process"),
    ("observe.logs.enrich", "observe.logs.reader"),
    ("observe.logs.enrich", "observe.logs.tailer"),
    ("observe.logs.enrich", "observe.logs.sinks"),
    ("observe.logs.enrich", "observe.logs.process"),
    ("observe.logs.reader", "observe.logs.enrich"),
    ("observe.logs.reader", "observe.logs.sinks"),
    ("observe.logs.batch", "observe.logs.sinks"),
]


def test_the_log_wing_reads_one_way() -> None:
    def under(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    graph = import_map()
    arrows = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                    for src, dst in BACKWARDS if under(a, src) and under(b, dst))
    assert arrows == []
