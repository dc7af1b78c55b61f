"""The import rules of ``sqlml``, read from the source with ``ast`` (docs/architecture.md draws the same layers).

Every ``import`` in ``sqlml/**/*.py`` counts: module level, lazy ones inside functions, and those under
``if TYPE_CHECKING:`` (a type-only import still ties the two modules together for a reader and a refactor).
Relative imports are resolved, and ``from sqlml.ops import kmeans`` counts as importing ``sqlml.ops.kmeans``
when that module exists, else ``sqlml.ops``. ``importlib.import_module("sqlml.x")`` with a literal name counts too.

The rules, one test each:

- ``LAYERS``: a module may import modules of its own rank or lower ranks, never higher (lowest rank first).
  Every module of the package must belong to a layer, so a new module cannot slip past the rules.
- models / engine: ``engine`` may import ``models``; ``models`` imports nothing from ``engine``.
- ``FRONT_DOORS`` do not import each other, except the edges in ``ALLOWED_DOOR_EDGES`` (each with its reason).
- ``THIRD_PARTY_OWNERS``: ``duckdb``, ``click`` and ``ray`` are imported only by the front doors that translate
  for them; operations, runtime, models, jobs, policy and facade stay free of them.
- No import cycles between modules (lazy and type-only imports included).
- ``sqlml/__init__.py`` (the package face: a PEP 562 lazy map of the public names) is exempt from the ranks,
  but at module level imports only ``PACKAGE_FACE_MAY_IMPORT`` of the package (and no third-party library),
  and ``import sqlml`` loads none of ``NOT_LOADED_BY_IMPORT`` (checked in a fresh interpreter).

Importing the face from inside the package (``import sqlml``) counts as importing everything its lazy map
(``_LAZY`` in ``sqlml/__init__.py``) names: its rank is the highest of those (the SQL door's ``connect``), and
it reaches the doors among them. Take a name from the module that defines it instead.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sqlml"
PACKAGE_DIR = ROOT / PACKAGE

#: Layers by rank, lowest first: (name, module prefixes). A prefix covers the module and its submodules.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Settings, the one root error, the version, shipped-file lookup, progress bars, the one atomic writer
    # (trained heads in models/ use it too), the one path policy: everything may use them.
    ("base", ("sqlml.errors", "sqlml.config", "sqlml.version", "sqlml.resources", "sqlml.progress", "sqlml.atomic", "sqlml.paths")),
    # What a model is: registry, encoder load + forward, tokenizer, heads, HF classifiers, device choice.
    ("models", ("sqlml.models",)),
    # How it runs fast: one worker per device, batching, OOM split, pools, cache, counters; engine/cuda/.
    ("engine", ("sqlml.engine",)),
    # Arrow in, Arrow out: embed, summarize, classify, relevance; they see the encoder only through the runtime.
    ("ops", ("sqlml.ops",)),
    # The row-failure policy (on_error) shared by every door.
    ("policy", ("sqlml.on_error",)),
    # Parquet column jobs, checkpoints and resume, atomic output (CLI and Ray share them).
    ("jobs", ("sqlml.jobs",)),
    # The Python API (its functions, and the Index class of named indexes) and its display helpers.
    ("facade", ("sqlml.api", "sqlml.index", "sqlml.display")),
    # Thin translators of types, flags, batches: the SQL UDFs, the CLI, the Ray adapter.
    ("front doors", ("sqlml.sql", "sqlml.cli", "sqlml.ray")),
]

#: The three front doors: none imports another, except the edges below.
FRONT_DOORS = ("sqlml.sql", "sqlml.cli", "sqlml.ray")

#: (importing door, imported door) -> why the edge is allowed.
ALLOWED_DOOR_EDGES: dict[tuple[str, str], str] = {
    ("sqlml.cli", "sqlml.sql"): "`sqlml query` and `sqlml search` run SQL: the CLI opens its connection with the SQL door's connect",
    ("sqlml.cli", "sqlml.ray"): "`--engine ray` hands a column job to the Ray door, which runs it on a cluster",
}

#: Third-party library -> the only module prefixes that may import it.
THIRD_PARTY_OWNERS: dict[str, tuple[str, ...]] = {
    "duckdb": ("sqlml.sql", "sqlml.cli"),
    "click": ("sqlml.cli",),
    "ray": ("sqlml.ray",),
}

#: The package face, and the only package modules it may import at module level.
PACKAGE_FACE = PACKAGE
PACKAGE_FACE_MAY_IMPORT = ("sqlml.errors", "sqlml.version")

#: Top-level packages `import sqlml` must not load: heavy (model code) or owned by one front door.
NOT_LOADED_BY_IMPORT = ("torch", "sentence_transformers", "transformers", "duckdb", "click", "ray")


@dataclass(frozen=True)
class Import:
    importer: str  # module doing the import
    target: str  # resolved module name (a sqlml module, or a third-party top-level package)
    path: str  # file, relative to the repository root
    line: int
    lazy: bool  # inside a function body
    type_only: bool  # under `if TYPE_CHECKING:`
    internal: bool  # target is a sqlml module
    exists: bool  # for internal targets: a module file exists for the name as written

    def where(self) -> str:
        kind = "type-only" if self.type_only else "lazy" if self.lazy else "module level"
        return f"{self.path}:{self.line}, {kind}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if "__pycache__" not in path.parts:
            found[_module_name(path)] = path
    return found


def _is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def _existing(name: str) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules():
            return ".".join(parts)
        parts.pop()
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, path: Path) -> None:
        self.module = module
        self.path = str(path.relative_to(ROOT))
        self.package = module if _is_package(module) else module.rpartition(".")[0]
        self.depth = 0  # function nesting
        self.type_only = 0  # `if TYPE_CHECKING:` nesting
        self.found: list[Import] = []

    def _add(self, name: str, line: int, from_names: tuple[str, ...] = ()) -> None:
        lazy, type_only = self.depth > 0, self.type_only > 0
        if name != PACKAGE and not name.startswith(PACKAGE + "."):
            self.found.append(Import(self.module, name.split(".")[0], self.path, line, lazy, type_only, False, True))
            return
        exists = name in modules()
        resolved = []
        for sub in from_names:  # `from sqlml.ops import kmeans`: the submodule when it exists
            if f"{name}.{sub}" in modules():
                resolved.append(f"{name}.{sub}")
            elif name not in resolved:
                resolved.append(name)
        for target in resolved or [name]:
            self.found.append(Import(self.module, target, self.path, line, lazy, type_only, True, exists))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            name = ".".join(base + ([node.module] if node.module else []))
        else:
            name = node.module or ""
        if name == "__future__":
            return
        self._add(name, node.lineno, tuple(a.name for a in node.names if a.name != "*"))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if called == "import_module" and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self._add(node.args[0].value, node.lineno)
        self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_only += 1
            for stmt in node.body:
                self.visit(stmt)
            self.type_only -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)


@functools.cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    errors = []
    for name, path in modules().items():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            errors.append(f"{path.relative_to(ROOT)}:{exc.lineno}: {exc.msg}")
            continue
        collector = _Collector(name, path)
        collector.visit(tree)
        found.extend(collector.found)
    if errors:
        pytest.fail("cannot read the imports of:\n  " + "\n  ".join(errors), pytrace=False)
    return tuple(found)


def internal_imports() -> list[Import]:
    """Imports of sqlml modules, resolved to an existing module, without a module's imports of itself."""
    out = []
    for imp in imports():
        if imp.internal:
            target = imp.target if imp.exists else _existing(imp.target)
            if target is not None and target != imp.importer:
                out.append(Import(imp.importer, target, imp.path, imp.line, imp.lazy, imp.type_only, True, imp.exists))
    return out


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(_under(module, p) for p in prefixes):
            return rank
    return None


@functools.cache
def face_reaches() -> tuple[str, ...]:
    """Modules the package face imports: its import statements and the module names in its lazy map ``_LAZY``."""
    reached = {imp.target for imp in internal_imports() if imp.importer == PACKAGE_FACE}
    tree = ast.parse(modules()[PACKAGE_FACE].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets) and isinstance(node.value, ast.Dict):
            reached |= {v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return tuple(sorted(m for m in reached if m != PACKAGE_FACE))


def rank_as_imported(module: str) -> int | None:
    if module == PACKAGE_FACE:
        ranks = [r for r in map(layer_of, face_reaches()) if r is not None]
        return max(ranks, default=None)
    return layer_of(module)


def door_of(module: str) -> str | None:
    return next((d for d in FRONT_DOORS if _under(module, d)), None)


def _fail_if_any(title: str, rows: list[str]) -> None:
    """Fail with one line per offending import (no assertion rewrite: the list is the message)."""
    if rows:
        pytest.fail(f"{title} ({len(set(rows))}):\n  " + "\n  ".join(sorted(set(rows))), pytrace=False)


def _layer_name(rank: int | None) -> str:
    return "no layer" if rank is None else LAYERS[rank][0]


# --- the rules ---------------------------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in modules() if m != PACKAGE_FACE and layer_of(m) is None]
    _fail_if_any("modules in no layer: add them to LAYERS in tests/test_layering.py (and docs/architecture.md)", unplaced)


def test_every_sqlml_import_names_an_existing_module() -> None:
    stale = [f"{i.importer} -> {i.target}  ({i.where()})" for i in imports() if i.internal and not i.exists]
    _fail_if_any("imports of sqlml modules that do not exist (moved or renamed?)", stale)


def test_modules_import_only_their_own_or_lower_layers() -> None:
    bad = []
    for imp in internal_imports():
        if imp.importer == PACKAGE_FACE:
            continue
        mine, theirs = layer_of(imp.importer), rank_as_imported(imp.target)
        if mine is not None and theirs is not None and theirs > mine:
            above = [f"{m} ({_layer_name(layer_of(m))})" for m in face_reaches() if (layer_of(m) or 0) > mine]
            via = f" [the package face reaches {', '.join(above)}]" if imp.target == PACKAGE_FACE else ""
            bad.append(f"{imp.importer} ({_layer_name(mine)}) -> {imp.target} ({_layer_name(theirs)})  ({imp.where()}){via}")
    order = " < ".join(name for name, _ in LAYERS)
    _fail_if_any(f"imports of a higher layer (ranks: {order})", bad)


def test_models_import_nothing_from_engine() -> None:
    bad = [
        f"{imp.importer} -> {imp.target}  ({imp.where()})"
        for imp in internal_imports()
        if _under(imp.importer, "sqlml.models") and _under(imp.target, "sqlml.engine")
    ]
    _fail_if_any(
        "models/ imports engine/ (models/ is what a model is, engine/ how it runs fast: engine may import models, never the reverse)",
        bad,
    )


def test_front_doors_do_not_import_each_other() -> None:
    bad = []
    for imp in internal_imports():
        mine = door_of(imp.importer)
        reached = {door_of(m) for m in face_reaches()} if imp.target == PACKAGE_FACE else {door_of(imp.target)}
        for theirs in sorted(d for d in reached if d is not None):
            if mine is not None and theirs != mine and (mine, theirs) not in ALLOWED_DOOR_EDGES:
                via = " [through the package face]" if imp.target == PACKAGE_FACE else ""
                bad.append(f"{imp.importer} -> {imp.target}  ({imp.where()}){via}")
    allowed = "; ".join(f"{a} -> {b}: {why}" for (a, b), why in ALLOWED_DOOR_EDGES.items())
    _fail_if_any(f"front doors importing another front door (allowed only: {allowed})", bad)


def test_allowed_door_edges_name_front_doors() -> None:
    unknown = [f"{a} -> {b}" for a, b in ALLOWED_DOOR_EDGES if a not in FRONT_DOORS or b not in FRONT_DOORS]
    _fail_if_any("ALLOWED_DOOR_EDGES entries that are not front doors", unknown)


@pytest.mark.parametrize("library", sorted(THIRD_PARTY_OWNERS))
def test_third_party_library_imported_only_by_its_front_door(library: str) -> None:
    owners = THIRD_PARTY_OWNERS[library]
    bad = [
        f"{imp.importer} -> {library}  ({imp.where()})"
        for imp in imports()
        if not imp.internal and imp.target == library and not any(_under(imp.importer, o) for o in owners)
    ]
    _fail_if_any(f"imports of {library} outside {', '.join(owners)}", bad)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt not in within:
                continue
            if nxt == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(parent[chain[-1]])
                return [*reversed(chain), start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return [start, start]


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for imp in internal_imports():
        graph[imp.importer].add(imp.target)
        where.setdefault((imp.importer, imp.target), imp.where())
    cycles = set()
    for component in _strongly_connected(graph):
        members = set(component)
        if len(component) == 1 and component[0] not in graph.get(component[0], ()):
            continue
        for member in component:
            chain = _shortest_cycle(graph, member, members)[:-1]
            first = chain.index(min(chain))  # one spelling per cycle, whatever module it starts from
            chain = chain[first:] + chain[:first]
            cycles.add(tuple(chain))
    rows = []
    for chain in sorted(cycles):
        steps = [*chain, chain[0]]
        edges = "; ".join(f"{a} -> {b} ({where[(a, b)]})" for a, b in zip(steps, steps[1:]))
        rows.append(" -> ".join(steps) + f"\n      {edges}")
    _fail_if_any("import cycles", rows)


def test_package_face_imports_only_errors_at_module_level() -> None:
    bad = []
    for imp in imports():
        if imp.importer != PACKAGE_FACE or imp.lazy or imp.type_only:
            continue
        if imp.internal and imp.target not in PACKAGE_FACE_MAY_IMPORT:
            bad.append(f"{PACKAGE_FACE} -> {imp.target}  ({imp.where()})")
        elif not imp.internal and imp.target not in sys.stdlib_module_names:
            bad.append(f"{PACKAGE_FACE} -> {imp.target}  ({imp.where()}, third-party)")
    _fail_if_any(
        f"sqlml/__init__.py imports at module level more than {', '.join(PACKAGE_FACE_MAY_IMPORT)} (add the name to _LAZY instead)",
        bad,
    )


def test_import_sqlml_loads_no_heavy_or_front_door_library() -> None:
    code = (
        "import json, sys; import sqlml; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(NOT_LOADED_BY_IMPORT)!r})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"`import sqlml` loads {', '.join(loaded)}: import them on first use instead"
