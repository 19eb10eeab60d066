"""recolor_hf installs as a library: its wheel (built offline from pyproject.toml) carries every module, declares
the packages the code imports (core, or the extra of the part that imports them) and the ``recolor`` command;
requirements.txt pins exactly those bounds and installs on a Space; the README is a complete Space config; an
installed copy away from the repository says where the shipped checkpoint is and how to pass another.
"""

import ast
import configparser
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import recolor_hf

ROOT = Path(__file__).resolve().parent.parent
WHEEL_SOURCES = ("pyproject.toml", "README.md", "recolor_hf")
LOCAL_MODULE_DIRS = (ROOT, ROOT / "train", ROOT / "eval", ROOT / "tests")
LIBRARY_ENTRIES = (ROOT / "recolor_hf" / "__init__.py", ROOT / "recolor_hf" / "cli.py")
TRAINING_SOURCES = ("train/*.py", "eval/*.py", "recolor_hf/**/*.py")
REQUIREMENT = re.compile(r"([A-Za-z0-9._-]+)\s*(?:[<>=!~]=?\s*([\w.+]+))?")
SPACE_KEYS = ("title", "short_description", "sdk", "sdk_version", "python_version", "app_file")
SHORT_DESCRIPTION_MAX = 60  # characters, Hugging Face Spaces' limit


def normalize(name: str) -> str:
    """PEP 503 form of a distribution name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the sources (the build leaves the repository untouched), built without network."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in WHEEL_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                            "--quiet", "-w", str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (path,) = out.glob("recolor_hf-*.whl")
    return path


def dist_info(wheel: Path, name: str) -> str:
    """Text of the file ``name`` in the wheel's .dist-info folder."""
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [m for m in archive.namelist() if m.endswith(f".dist-info/{name}")]
        return archive.read(member).decode()


def parse_requirement(line: str) -> tuple[str, str | None]:
    """(normalized name, version of its first bound) of a requirement such as ``torch>=2.13.0; extra == "x"``."""
    match = REQUIREMENT.match(line.strip())
    return normalize(match.group(1)), match.group(2)


def requirement_lines(name: str) -> list[str]:
    """The requirement lines of the file ``name`` at the repository root, comments and blank lines left out."""
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines())
    return [line for line in lines if line]


def declared_requirements(wheel: Path) -> dict[str | None, dict[str, str | None]]:
    """{extra (None = core dependencies): {normalized name: lower bound}} of the wheel's Requires-Dist."""
    by_extra: dict[str | None, dict[str, str | None]] = {None: {}}
    for line in Parser().parsestr(dist_info(wheel, "METADATA")).get_all("Requires-Dist", []):
        name, version = parse_requirement(line)
        extra = re.search(r"""extra\s*==\s*["']([\w-]+)["']""", line)
        by_extra.setdefault(extra and extra.group(1), {})[name] = version
    return by_extra


def version_tuple(version: str) -> tuple[int, ...]:
    """"6.31.0" -> (6, 31, 0)."""
    return tuple(int(part) for part in version.split("."))


def parse_imports(path: Path) -> tuple[set[str], set[Path]]:
    """(third-party top-level modules, recolor_hf source files) that ``path`` imports.

    Imports inside ``try`` blocks are optional (e.g. ``lpips``) and left out.
    """
    tree = ast.parse(path.read_text())
    package = path.relative_to(ROOT).parent.parts  # what a relative import is relative to
    optional = {id(node) for block in ast.walk(tree) if isinstance(block, ast.Try)
                for stmt in block.body for node in ast.walk(stmt)}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ((node.module,) if node.module else ()))
            modules |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    third_party = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names) - {"recolor_hf"}
    third_party = {m for m in third_party
                   if not any((d / f"{m}.py").is_file() or (d / m).is_dir() for d in LOCAL_MODULE_DIRS)}
    files = set()
    for module in modules:
        parts = module.split(".")
        if parts[0] == "recolor_hf":
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                stem = ROOT.joinpath(*parts[:depth])
                files |= {f for f in (stem.with_suffix(".py"), stem / "__init__.py") if f.is_file()}
    return third_party, files


def imports_reachable_from(*entries: Path) -> set[str]:
    """Third-party top-level modules imported by ``entries`` and the recolor_hf modules they pull in."""
    seen, todo, third_party = set(), list(entries), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        found, files = parse_imports(path)
        third_party |= found
        todo += files - seen
    return third_party


def distributions(modules: set[str]) -> set[str]:
    """Normalized names of the installed distributions that provide ``modules`` (all must be installed)."""
    providers = importlib.metadata.packages_distributions()
    missing = modules - providers.keys()
    assert not missing, f"imported but not installed: {sorted(missing)}"
    return {normalize(dist) for module in modules for dist in providers[module]}


def test_wheel_declares_version_command_and_modules(wheel):
    metadata = Parser().parsestr(dist_info(wheel, "METADATA"))
    assert metadata["Name"] == "recolor_hf" and metadata["Version"] == recolor_hf.__version__
    assert set(metadata.get_all("Provides-Extra")) == {"app", "train", "dev"}
    entry_points = configparser.ConfigParser()
    entry_points.read_string(dist_info(wheel, "entry_points.txt"))
    assert dict(entry_points["console_scripts"]) == {"recolor": "recolor_hf.cli:main"}
    with zipfile.ZipFile(wheel) as archive:
        shipped = {m for m in archive.namelist() if m.endswith(".py")}
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "recolor_hf").rglob("*.py")}
    assert sources <= shipped, f"modules missing from the wheel: {sorted(sources - shipped)}"


def test_wheel_declares_what_the_code_imports(wheel):
    declared = {extra: set(names) for extra, names in declared_requirements(wheel).items()}
    core = declared[None]
    assert {"torch", "diffusers", "huggingface-hub", "safetensors", "numpy", "pillow"} <= core
    parts = {  # who imports, and what may provide it
        "library (import recolor_hf, recolor)": (imports_reachable_from(*LIBRARY_ENTRIES), core),
        "app.py": (imports_reachable_from(ROOT / "app.py"), core | declared["app"]),
        "train/, eval/ and the rest of recolor_hf": (
            imports_reachable_from(*(f for pattern in TRAINING_SOURCES for f in ROOT.glob(pattern))),
            core | declared["train"]),
        "tests": (imports_reachable_from(*ROOT.glob("tests/*.py")), set().union(*declared.values())),
    }
    for part, (modules, allowed) in parts.items():
        undeclared = distributions(modules) - allowed
        assert not undeclared, f"{part} imports {sorted(undeclared)}, not declared in pyproject.toml"


def test_requirements_txt_pins_what_pyproject_declares(wheel):
    declared = declared_requirements(wheel)
    runtime = {**declared[None], **declared["app"], **declared["train"]}
    lines = requirement_lines("requirements.txt")
    # A Space installs requirements.txt alone, before the repository is there: no local paths, no options.
    assert not [line for line in lines if line.startswith(("-", ".", "/", "file:"))]
    assert dict(map(parse_requirement, lines)) == runtime  # each lower bound is the tested version


def test_readme_front_matter_is_a_space_config():
    _, block, _ = (ROOT / "README.md").read_text().split("---\n", 2)
    config = dict(line.split(":", 1) for line in block.splitlines())
    config = {key.strip(): value.strip().strip('"') for key, value in config.items()}
    assert set(SPACE_KEYS) <= config.keys()
    assert config["sdk"] == "gradio" and (ROOT / config["app_file"]).is_file()
    assert 0 < len(config["short_description"]) <= SHORT_DESCRIPTION_MAX
    gradio_floor = dict(map(parse_requirement, requirement_lines("requirements.txt")))["gradio"]
    assert version_tuple(config["sdk_version"]) >= version_tuple(gradio_floor)
    python_floor = re.search(r'requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert version_tuple(config["python_version"]) >= version_tuple(python_floor)


def test_installed_without_repository_names_the_missing_checkpoint(wheel, tmp_path):
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # a pure-Python wheel installs by unpacking
    script = ("import recolor_hf; from recolor_hf.cli import main\n"
              "print('file', recolor_hf.__file__)\n"
              "print('help status', main(['--help']))\n"
              "try:\n    recolor_hf.RecolorPipeline.from_pretrained(recolor_hf.DEFAULT_CHECKPOINT)\n"
              "except ValueError as err:\n    print('error', err)\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert f"file {site / 'recolor_hf' / '__init__.py'}" in run.stdout  # the installed copy, not the repository's
    assert "help status 0" in run.stdout and "--checkpoint CHECKPOINT" in run.stdout
    error = run.stdout.split("error ", 1)[1]
    assert f"no checkpoint folder at {site / 'checkpoints' / 'recolor-small'}" in error
    assert "checkpoints/recolor-small" in error and "pip install -e ." in error
    assert "RecolorPipeline.from_pretrained(path)" in error and "--checkpoint DIR" in error
