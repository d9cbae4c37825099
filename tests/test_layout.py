"""The package's shape: no import cycle, no block written twice, one version number."""

from __future__ import annotations

import ast
import keyword
import re
from pathlib import Path

import recbole_ext
from tests.helpers import REPO_ROOT

PACKAGE = Path(recbole_ext.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """recbole_ext modules ``path`` imports anywhere: functions and ``if __name__ == "__main__"`` blocks too.

    ``from package import module`` imports ``module``; ``from package import name`` imports ``package``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            names = submodules + ([base] if len(submodules) < len(node.names) else [])
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != this and name != "recbole_ext":
                found.add(name)
    return found


def test_no_import_cycle():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imports_of(path, set(files)) for name, path in files.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


_TOKEN = re.compile(r"""("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|(\b\d[\d_.eE+-]*\b)|([A-Za-z_]\w*)""")


def code_shape(line: str) -> str:
    """``line`` with every string, number and name (not keyword) replaced by one letter: its shape.

    >>> code_shape('x = f(y, "a", 3) if y else None')
    'I = I(I, S, N) if I else None'
    """
    def letter(match: re.Match) -> str:
        if match.group(1):
            return "S"
        if match.group(2):
            return "N"
        return match.group(3) if keyword.iskeyword(match.group(3)) else "I"
    return _TOKEN.sub(letter, line)


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, shape) of the lines of ``path`` that hold code: no blank, comment, import or
    punctuation-only line."""
    found = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.split("  #")[0].strip()
        if (not text or text.startswith(("#", "import ", "from ")) or len(re.sub(r"[\W_]", "", text)) < 3):
            continue
        found.append((number, code_shape(text)))
    return found


def test_no_block_of_six_lines_stands_twice():
    """No six code lines alike but for names and values stand in two places of the package (write a
    function instead); runs of one repeated shape (tables, argument lists) do not count."""
    places: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    twice = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = code_lines(path)
        for i in range(len(lines) - 5):
            block = tuple(shape for _, shape in lines[i:i + 6])
            if len(set(block)) < 4:
                continue
            here = (str(path.relative_to(PACKAGE)), lines[i][0])
            twice += [f"{there[0]}:{there[1]} ~ {here[0]}:{here[1]}" for there in places.get(block, [])
                      if there[0] != here[0] or here[1] - there[1] > 20]
            places.setdefault(block, []).append(here)
    assert not twice, "the same six lines stand twice:\n" + "\n".join(twice)


def test_every_module_has_its_test_file():
    """recbole_ext/a/b.py is tested in tests/a/test_b.py (package __init__ files: in their package's tests)."""
    missing = [f"tests/{path.parent.relative_to(PACKAGE) / ('test_' + path.name)}".replace("/./", "/")
               for path in sorted(PACKAGE.rglob("*.py")) if path.name != "__init__.py"
               and not (REPO_ROOT / "tests" / path.parent.relative_to(PACKAGE) / f"test_{path.name}").is_file()]
    assert not missing, f"modules without their test file: {missing}"


COMMANDS = {"recbole_ext.cli", "recbole_ext.tuning", "recbole_ext.bench", "recbole_ext.split",
            "recbole_ext.recommend", "recbole_ext.convert", "recbole_ext.evaluate"}


def test_a_run_flows_downward():
    """Commands on top, then training (a run), then what a run is made of (configuration, protocols,
    models, data, basics): nothing imports a command but a command, nothing below training imports it."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    upward = []
    for name, path in sorted(files.items()):
        imported = imports_of(path, set(files))
        if name not in COMMANDS:
            upward += [f"{name} -> {other}" for other in sorted(imported & COMMANDS)]
        if name not in COMMANDS and not name.startswith("recbole_ext.training"):
            upward += [f"{name} -> {other}" for other in sorted(imported) if other.startswith("recbole_ext.training")]
    assert not upward, "imports that climb back up: " + ", ".join(upward)


def test_one_version_number():
    setup_text = (PACKAGE.parent / "setup.py").read_text(encoding="utf-8")
    assert not re.search(r'version="\d', setup_text)  # setup.py reads recbole_ext.__version__
    version = re.search(r'^__version__ = "([^"]+)"', (PACKAGE / "__init__.py").read_text(), re.M)
    assert version and version.group(1) == recbole_ext.__version__


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    text = path.read_text()
    found = {github_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}
    return found | set(re.findall(r'<a id="([^"]+)"', text))


def test_every_relative_link_of_the_readme_and_docs_resolves():
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links inside code blocks are not links
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://|mailto:", target):
                continue
            path_part, _, anchor = target.partition("#")
            resolved = (page.parent / path_part).resolve() if path_part else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors_of(resolved):
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_readme_is_a_front_door_and_nothing_points_at_shared():
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 200
    files = [REPO_ROOT / "README.md", REPO_ROOT / "setup.py", REPO_ROOT / "run.py",
             *(REPO_ROOT / "docs").rglob("*.md"), *(REPO_ROOT / "recbole_ext").rglob("*.py"),
             *(REPO_ROOT / "recbole_ext").rglob("*.yaml"),
             *(path for path in (REPO_ROOT / "benchmarks").rglob("*.py")
               if "results" not in path.relative_to(REPO_ROOT / "benchmarks").parts)]  # results/: ignored outputs
    pointing = [str(f.relative_to(REPO_ROOT)) for f in files
                if re.search(r"shared/(docs|data)|SEEDS\.md|RECBOLE_NOTES|GPU\.md", f.read_text())]
    assert not pointing, f"these files send readers to ../shared, which users do not have: {pointing}"
