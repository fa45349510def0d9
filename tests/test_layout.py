"""The layout, read from the code's imports: what may import what, and no private names.

Every module in the product (jobs/, drafts/, videostudio/) stays clear of the Veo emulator,
which only the ``studio`` command starts, as a process, by naming it to ``python -m``; and
no module anywhere reaches for another module's underscore names.
"""

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("jobs", "drafts", "videostudio")
EVERYWHERE = (*PRODUCT, "tests", "bench")
EMULATOR = "jobs.veo.emulator"
EMULATOR_DIR = ROOT / "jobs" / "veo" / "emulator"
STUDIO_COMMAND = ROOT / "jobs" / "management" / "commands" / "studio.py"
# Django's own underscore names that its documentation tells callers to use.
ALLOWED_PRIVATE = frozenset({"_meta", "_default_manager"})


def modules(*folders):
    """Yield (relative path, dotted module name, tree) for each .py file below folders."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield relative, ".".join(parts), ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree, name, relative):
    """Yield the absolute name of every module an import in tree names."""
    package = name if relative.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            # `from jobs.veo import emulator` imports the module it names.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def is_private(name):
    """Return whether name is private to its module (dunders and Django's allowed ones aside)."""
    return name.startswith("_") and not name.startswith("__") and name not in ALLOWED_PRIVATE


def private_names_taken(tree):
    """Yield each private name the module imports, or reads off a name it imported."""
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imported.add(alias.asname)
                else:
                    # `import a.b` binds a, and a.b is the module reached through it.
                    parts = alias.name.split(".")
                    imported.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if is_private(alias.name):
                    yield alias.name
                imported.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        is_private_attribute = isinstance(node, ast.Attribute) and is_private(node.attr)
        if is_private_attribute and dotted(node.value) in imported:
            yield node.attr


def dotted(node):
    """Return `a.b.c` for a chain of names, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (owner := dotted(node.value)) is not None:
        return f"{owner}.{node.attr}"
    return None


def test_nothing_in_the_product_imports_the_emulator():
    offenders = [
        f"{relative} imports {module}"
        for relative, name, tree in modules(*PRODUCT)
        if not (ROOT / relative).is_relative_to(EMULATOR_DIR)
        for module in imported_modules(tree, name, relative)
        if module == EMULATOR or module.startswith(f"{EMULATOR}.")
    ]
    assert offenders == []


def test_the_studio_command_names_the_emulator_only_to_run_it_as_a_process():
    tree = ast.parse(STUDIO_COMMAND.read_text())
    strings = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert EMULATOR in strings
    assert "-m" in strings


def test_the_emulator_needs_no_django():
    offenders = [
        f"{relative} imports {module}"
        for relative, name, tree in modules("jobs/veo/emulator")
        for module in imported_modules(tree, name, relative)
        if module.split(".")[0] in ("django", "drafts", "videostudio")
        or (module.startswith("jobs.") and not module.startswith(f"{EMULATOR}"))
    ]
    assert offenders == []


@pytest.mark.parametrize("folder", EVERYWHERE)
def test_no_module_takes_another_modules_private_names(folder):
    taken = {
        (str(relative), private)
        for relative, _name, tree in modules(folder)
        for private in private_names_taken(tree)
    }
    assert sorted(taken) == []


# What the design card puts at the top level (and the files every checkout carries).
TOP_LEVEL = frozenset(
    {
        *("manage.py", "pyproject.toml", "uv.lock", "README.md", "Procfile", ".gitignore"),
        *(".ci", "videostudio", "jobs", "drafts", "templates", "static", "tests"),
        *("bench", "deploy"),
    }
)
README_PATH = re.compile(r"(?<![\w.])((?:[\w.-]+/)+(?:[\w.-]+\.(?:py|json))?)")


def readme_layout():
    """Return the paths the README's layout block names (directories end with a slash)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 1)[1].split("```", 1)[0]
    return {match for line in block.splitlines() for match in README_PATH.findall(line)}


def test_the_top_level_is_the_design_cards():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    assert {path.split("/", 1)[0] for path in tracked} <= TOP_LEVEL


def test_every_path_the_readme_layout_names_exists():
    assert sorted(path for path in readme_layout() if not (ROOT / path).exists()) == []


def test_the_readme_layout_names_every_module_of_the_product():
    named = readme_layout()
    directories = {path for path in named if path.endswith("/")}
    unnamed = [
        str(relative)
        for relative, _name, _tree in modules(*PRODUCT)
        if relative.name != "__init__.py"
        and str(relative) not in named
        and not any(str(relative).startswith(folder) for folder in directories)
    ]
    assert unnamed == []


STORAGE_MODULE = Path("jobs/storage.py")


def test_only_the_storage_module_asks_where_a_stored_file_is_on_disk():
    """Media may live in a bucket: outside jobs/storage.py, no product code calls a
    storage's .path(), nor reads MEDIA_ROOT (the emulator, Google's stand-in, keeps its
    own files)."""
    offenders = []
    for relative, _name, tree in modules(*PRODUCT):
        if relative == STORAGE_MODULE or (ROOT / relative).is_relative_to(EMULATOR_DIR):
            continue
        for node in ast.walk(tree):
            calls_path = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "path"
            )
            if calls_path or (isinstance(node, ast.Attribute) and node.attr == "MEDIA_ROOT"):
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []
