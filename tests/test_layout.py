"""The layout rules, read from the sources with `ast` (nothing of the project is imported), so they hold as it grows:
- imports point one way: models <- pipeline <- monitoring and profiling; monitoring <- feedback <- rollout, runners
  <- kfx; components and serving stand alone;
- no import cycle between modules of the project, imports inside functions included;
- every third-party import is a distribution setup.py declares, not one that merely comes with another.
"""

import ast
import dataclasses
import functools
import importlib.metadata
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "models", "pipeline", "components", "monitoring", "serving", "feedback", "rollout", "runners", "profiling", "kfx",
    "bench",
)  # fmt: skip
# Which of our other packages each one may import.
ALLOWED = {
    "models": set(),
    "pipeline": {"models", "components"},
    "components": set(),
    "serving": set(),
    "monitoring": {"pipeline", "models", "components", "serving"},
    "profiling": {"pipeline", "models", "components"},  # kfx init and config check --data: read configs and data
    "rollout": {"feedback", "monitoring", "pipeline", "models", "components", "serving"},
    "runners": {"monitoring", "pipeline", "models", "components", "serving"},
    "feedback": {"monitoring", "pipeline", "serving"},  # issue 15's contract
    "kfx": set(PACKAGES) - {"kfx", "bench"},
    "bench": set(PACKAGES) - {"bench"},
}
# Single modules a package may import beyond ALLOWED: TF Serving's version layout is one helper, in serving/.
ALLOWED_MODULES = {"components": {"serving.versions"}}


@dataclasses.dataclass(frozen=True)
class Import:
    """One import statement's target: the module it loads, where it is written."""

    module: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


@functools.cache
def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages (a package is its __init__.py)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _resolve(node: ast.ImportFrom, module: str, path: Path) -> str:
    """The absolute module a `from` import names (relative ones resolved against `module`)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


@functools.cache
def _imports() -> dict[str, list[Import]]:
    """Module -> every module it imports, at any depth of its code (functions, TYPE_CHECKING blocks included).

    `from a import b` counts as importing `a.b`, or `a` when `a` is ours and `a.b` is not one of our modules.
    """
    modules = _modules()
    result = {}
    for module, path in modules.items():
        found = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(alias.name, path, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(node, module, path)
                ours = _package(source) in PACKAGES
                for alias in node.names:
                    target = f"{source}.{alias.name}"
                    found.append(Import(source if ours and target not in modules else target, path, node.lineno))
        result[module] = found
    return result


def _package(module: str) -> str:
    return module.split(".")[0]


def test_the_reader_sees_every_import_of_a_module():
    """The control: module-level, `from` and in-function imports of a module are all read, resolved."""
    store = {i.module for i in _imports()["monitoring.store"]}
    assert {"monitoring.kfp_metadata", "ml_metadata.metadata_store", "subprocess"} <= store  # subprocess: in a function


def _against_layout(module: str, imported: str) -> bool:
    package, other = _package(module), _package(imported)
    if other not in PACKAGES or other == package or other in ALLOWED[package]:
        return False
    return imported not in ALLOWED_MODULES.get(package, ())


def test_the_layout_rule_tells_allowed_from_not():
    """The control: an import against the direction, into a package that stands alone, and the one exception."""
    against = [("models.trainer", "pipeline.config"), ("pipeline.drift", "monitoring.store"),
               ("serving.client", "models.signatures"), ("components.x", "serving.tensors")]  # fmt: skip
    allowed = [("components.x", "serving.versions"), ("kfx.cli", "runners.cpus"),
               ("monitoring.skew", "models.signatures"), ("models.model", "keras")]  # fmt: skip
    assert all(_against_layout(*pair) for pair in against) and not any(_against_layout(*pair) for pair in allowed)


def test_imports_point_one_way():
    violations = [
        f"{imported.where()}: {_package(module)}/ imports {imported.module}"
        for module, imports in _imports().items()
        for imported in imports
        if _against_layout(module, imported.module)
    ]
    assert not violations, "imports against the layout:\n" + "\n".join(violations)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for child in graph[todo.pop()] - seen:
            seen.add(child)
            todo.append(child)
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that reach one another through imports (a strongly connected component)."""
    reach = {node: _reachable(graph, node) for node in graph}
    groups = {
        frozenset({node} | {other for other in reach[node] if node in reach[other]})
        for node in graph
        if node in reach[node]
    }
    return sorted(sorted(group) for group in groups)


def test_the_cycle_finder_finds_a_cycle():
    """The control: two cycles, one through a module on an acyclic branch's way, are found, and only they."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"f"}, "f": {"e"}, "g": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e", "f"]]


def test_no_import_cycles():
    modules = _imports()
    graph = {
        module: {i.module for i in imports if i.module in modules} - {module} for module, imports in modules.items()
    }
    described = []
    for cycle in _cycles(graph):
        edges = [
            f"  {i.where()}: {module} imports {i.module}"
            for module in cycle
            for i in modules[module]
            if i.module in cycle
        ]
        described.append(" <-> ".join(cycle) + "\n" + "\n".join(edges))
    assert not described, "import cycles:\n" + "\n".join(described)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """The distributions setup.py declares: install_requires and every extra."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    keywords = {
        k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("install_requires", "extras_require")
    }
    requirements = keywords.get("install_requires", []) + [
        r for e in keywords.get("extras_require", {}).values() for r in e
    ]
    return {_normalized(re.match(r"[A-Za-z0-9._-]+", r.strip()).group(0)) for r in requirements}


@functools.cache
def _top_level_distributions() -> dict[str, list[str]]:
    """Top-level module -> the installed distributions providing it.

    Python 3.10's packages_distributions() reads top_level.txt only, which wheels not built by setuptools (Jinja2,
    numpy, pydantic, orjson) lack; their file lists name their top-level modules instead.
    """
    found = {name: list(dists) for name, dists in importlib.metadata.packages_distributions().items()}
    for dist in importlib.metadata.distributions():
        if dist.read_text("top_level.txt") is not None:
            continue
        tops = {
            f.parts[0] if len(f.parts) > 1 else f.name.split(".")[0]
            for f in dist.files or []
            if f.suffix in (".py", ".so")
            and not f.parts[0].endswith((".dist-info", ".data", ".libs"))
            and ".." not in f.parts
        }
        for top in tops:
            found.setdefault(top, []).append(dist.metadata["Name"])
    return found


@functools.cache
def _files(distribution: str) -> frozenset[str]:
    return frozenset(str(f) for f in importlib.metadata.files(distribution) or [])


@functools.cache
def _distributions_of(name: str) -> frozenset[str]:
    """The distributions providing a dotted import: those of its top-level module, narrowed for a namespace package
    shared by several (`google`, `tfx`, `kfp`) to those shipping the longest part of the name that is a module."""
    parts = name.split(".")
    candidates = _top_level_distributions().get(parts[0], [])
    for length in range(len(parts), 1, -1) if len(candidates) > 1 else ():
        path = "/".join(parts[:length])
        shipping = [
            d
            for d in candidates
            if f"{path}.py" in _files(d)
            or f"{path}/__init__.py" in _files(d)
            or any(f.startswith(f"{path}.") and f.endswith(".so") for f in _files(d))
        ]
        if shipping:
            candidates = shipping
            break
    return frozenset(_normalized(d) for d in candidates)


def test_imports_map_to_the_distributions_that_ship_them():
    """The control: a name unlike its distribution, one without top_level.txt, and namespace packages."""
    assert _distributions_of("yaml") == {"pyyaml"} and _distributions_of("jinja2") == {"jinja2"}
    assert _distributions_of("google.protobuf.message") == {"protobuf"}
    assert _distributions_of("tfx.components") == {"tfx"} and _distributions_of("tfx.types") == {"ml-pipelines-sdk"}


def test_third_party_imports_are_declared_in_setup_py():
    declared = _declared()
    undeclared: dict[str, list[str]] = {}
    for imports in _imports().values():
        for imported in imports:
            top = imported.module.split(".")[0]
            if not top or top in PACKAGES or top in sys.stdlib_module_names:
                continue
            provided = _distributions_of(imported.module)
            if provided & declared:
                continue
            name = ", ".join(sorted(provided)) or f"{top} (no installed distribution provides it)"
            undeclared.setdefault(name, []).append(imported.where())
    listed = [f"{name}: {', '.join(sorted(set(places)))}" for name, places in sorted(undeclared.items())]
    assert not listed, "imported but not declared in setup.py (install_requires or extras):\n" + "\n".join(listed)


def test_test_files_have_unique_names():
    """pytest imports test files by their basename (the tests folders are not packages): two files of one name stop
    the whole session at collection."""
    names = [path.name for path in (REPO / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
