"""The floor plan holds (docs/architecture.md): no import circles among desk's modules,
function-local imports counted; nothing outside desk/views imports a view; blueprints and
commands are registered by plain imports; areas stay small."""
import ast
from pathlib import Path

DESK = Path(__file__).resolve().parents[2] / "desk"
MAX_LINES = 400
MAX_TOP_LEVEL_MODULES = 8


def _modules() -> dict[str, Path]:
    found = {}
    for path in DESK.rglob("*.py"):
        if "migrations" in path.parts:
            continue  # Alembic scripts are loaded by Alembic, not imported
        parts = path.relative_to(DESK.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, modules: dict) -> list[tuple[str, int, bool]]:
    """(imported desk module, line, function-local) for every import that runs."""
    is_package = path.name == "__init__.py"
    found = []

    def visit(node, local):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # never runs: annotations only
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, inner) for a in child.names
                             if a.name.split(".")[0] == "desk")
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    package = package[:len(package) - child.level + 1]
                    base = ".".join(package + ([base] if base else []))
                if base.split(".")[0] == "desk":
                    for alias in child.names:
                        target = f"{base}.{alias.name}"
                        found.append((target if target in modules else base, child.lineno, inner))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _graph():
    modules = _modules()
    return modules, {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, result, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        result.append(sorted(component))
    return result


def test_no_import_circles_counting_function_local_imports():
    _modules_, graph = _graph()
    edges = {name: {target for target, _line, _local in imports if target != name}
             for name, imports in graph.items()}
    assert _cycles(edges) == []


def test_function_local_imports_give_their_reason():
    """A reason is a comment on the import or just above its block of imports."""
    modules, graph = _graph()
    unexplained = []
    for name, imports in graph.items():
        lines = modules[name].read_text(encoding="utf-8").splitlines()
        for target, line, local in imports:
            first = line - 1
            while first > 0 and lines[first - 1].strip().startswith(("from ", "import ")):
                first -= 1
            reason = "#" in lines[line - 1] or (first > 0 and lines[first - 1].strip().startswith("#"))
            if local and not reason:
                unexplained.append(f"{name}:{line} imports {target}")
    assert unexplained == []


def test_only_views_import_views():
    _modules_, graph = _graph()
    offenders = [f"{name} imports {target}" for name, imports in graph.items()
                 for target, _line, _local in imports
                 if target.startswith("desk.views") and not name.startswith("desk.views")
                 and name != "desk"]
    assert offenders == []


def test_blueprints_and_commands_are_not_loaded_by_name():
    loaders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = getattr(func, "attr", None) or getattr(func, "id", None)
                if called in ("import_module", "__import__", "import_string"):
                    first = node.args[0] if node.args else None
                    literal = isinstance(first, ast.Constant) and str(first.value).startswith("workers.")
                    if not literal:  # desk never imports workers; it may name them
                        loaders.append(f"{name}:{node.lineno}")
    assert loaders == []


def test_areas_stay_small():
    top = sorted(p.name for p in DESK.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    long = {str(path.relative_to(DESK.parent)): n for path in DESK.rglob("*.py")
            if "migrations" not in path.parts
            and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_area_packages_import_nothing_at_their_door():
    """Importing `desk.sla.calendar` must not load the rest of the SLA: an area's __init__
    holds its docstring only (the registration packages, views and commands, excepted)."""
    registries = {"desk", "desk.views", "desk.views.api", "desk.commands"}
    modules, graph = _graph()
    heavy = [name for name, path in modules.items()
             if path.name == "__init__.py" and name not in registries and graph[name]]
    assert heavy == []


# docs/architecture.md, Rules between areas: each area imports only the core and the areas
# before it; the entry points (the app factory, the CLI, WSGI) and views, commands and the
# demo sit on top.
LAYERS = ["core", "accounts", "notify", "channels", "customers", "inbox", "intake", "sla",
          "routing", "escalation", "replies", "feedback", "reports", "people"]
TOP = {"desk", "cli", "__main__", "wsgi", "views", "commands", "demo"}


def test_areas_import_only_the_areas_before_them():
    _modules_, graph = _graph()

    def area(name: str) -> str:
        return name.split(".")[1] if "." in name else "desk"
    backwards = sorted({f"{area(name)} -> {area(target)} ({name} imports {target})"
                        for name, imports in graph.items() for target, _line, _local in imports
                        if area(name) in LAYERS and area(target) != area(name)
                        and (area(target) in TOP
                             or LAYERS.index(area(target)) > LAYERS.index(area(name)))})
    assert backwards == []
