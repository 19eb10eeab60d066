"""Hugging Face Hub side of RecolorPipeline: repo ids in ``from_pretrained``, and the files that let plain diffusers
load a saved or pushed pipeline.

Loading by repo id (``RecolorPipeline.from_pretrained("org/name")``) resolves through ``huggingface_hub``: the
cache first (no network when the snapshot is there and complete), then a download of the pipeline's files
unless offline (``HF_HUB_OFFLINE=1`` or ``local_files_only=True``); ``revision``, ``cache_dir``, ``token`` and
``force_download`` are passed on.

A saved folder follows diffusers' convention for custom code so that
``DiffusionPipeline.from_pretrained(folder_or_repo_id, trust_remote_code=True)`` loads it where recolor_hf is
installed: ``model_index.json`` names the pipeline as ``["pipeline", "RecolorPipeline"]`` with a root
``pipeline.py``, and each component as ``["recolor_components", class]`` with a ``recolor_components.py`` in its
folder. Both files only import the classes from the installed recolor_hf package (no model code travels with the
weights). ``RecolorPipeline.from_pretrained`` reads such a folder without running those files
(``from_remote_code``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import __version__

PIPELINE_MODULE = "pipeline"  # diffusers' default custom-pipeline file name (CUSTOM_PIPELINE_FILE_NAME)
COMPONENTS_MODULE = "recolor_components"
PIPELINE_CLASS = "RecolorPipeline"
# Keywords of from_pretrained that select what to download; passed to huggingface_hub, not to diffusers.
DOWNLOAD_KWARGS = ("revision", "cache_dir", "token", "force_download", "local_files_only")
INSTALL_HINT = "pip install recolor_hf"

_SHIM_HEADER = '''"""Written by recolor_hf {version} beside a saved RecolorPipeline, for diffusers' custom-code loading:

    from diffusers import DiffusionPipeline
    pipe = DiffusionPipeline.from_pretrained("<this repository or folder>", trust_remote_code=True)

It holds no model code: it imports {what} from the installed recolor_hf package ({hint}).
"""

try:
{imports}
except ImportError as err:  # recolor_hf missing, or too old to have these classes
    raise ImportError("this pipeline needs the recolor_hf package ({hint}): " + str(err)) from err
'''


def shim(imports: dict[str, str], what: str) -> str:
    """The text of a custom-code file importing ``{class name: module}`` from recolor_hf."""
    lines = "\n".join(f"    from {module} import {name}  # noqa: F401" for name, module in sorted(imports.items()))
    return _SHIM_HEADER.format(version=__version__, what=what, hint=INSTALL_HINT, imports=lines)


def is_repo_id(name) -> bool:
    """Whether ``name`` is a Hub repo id ("org/name") rather than a local path: a string (not a Path) naming no
    existing file or folder, of the form namespace/name that huggingface_hub accepts."""
    if not isinstance(name, str) or os.path.exists(name) or name.count("/") != 1 or name.startswith((".", "~")):
        return False
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def download_patterns(components) -> list[str]:
    """What ``from_pretrained`` needs of a Hub repository: the index, the custom-code files and every file of the
    component folders (configs, weights, their module files)."""
    return ["model_index.json", f"{PIPELINE_MODULE}.py", *(f"{name}/*" for name in components)]


def resolve(repo_id: str, components, hub_kwargs: dict, is_complete) -> Path:
    """The local snapshot folder of the Hub repository ``repo_id``.

    The cache first: a cached snapshot of the revision that ``is_complete(folder)`` accepts is used without
    network (``force_download=True`` skips this). Otherwise, unless offline (``HF_HUB_OFFLINE=1`` or
    ``local_files_only=True``: then the cached snapshot as it is, so that a missing component is named), the
    files are downloaded. A repository that is neither cached nor reachable is a ValueError saying which.
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    hub_kwargs = dict(hub_kwargs)
    offline = bool(hub_kwargs.pop("local_files_only", False)) or constants.HF_HUB_OFFLINE
    patterns = download_patterns(components)
    revision = hub_kwargs.get("revision") or "main"
    cache = hub_kwargs.get("cache_dir") or constants.HF_HUB_CACHE
    cached = None
    if not hub_kwargs.get("force_download"):
        try:
            cached = Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True, **hub_kwargs))
        except LocalEntryNotFoundError:
            cached = None
    if cached is not None and (offline or is_complete(cached)):
        return cached
    if offline:
        raise ValueError(
            f"no checkpoint folder at {repo_id}, and the Hugging Face repository {repo_id!r} (revision {revision}) "
            f"is not in the cache {cache}; offline (HF_HUB_OFFLINE=1 or local_files_only=True), so nothing is "
            "downloaded: download it once online, pass cache_dir=, or pass a local pipeline folder")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, **hub_kwargs))
    except RevisionNotFoundError:
        raise ValueError(f"the Hugging Face repository {repo_id!r} has no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise ValueError(
            f"no checkpoint folder at {repo_id}, and no Hugging Face repository {repo_id!r} that this token can "
            "read (a private or gated repository needs token=...)") from None
    except LocalEntryNotFoundError as err:  # the Hub cannot be reached and nothing is cached
        raise ValueError(f"no checkpoint folder at {repo_id}, and the Hugging Face repository {repo_id!r} is "
                         f"neither in the cache {cache} nor reachable: {err}") from None


def write_remote_code(folder: Path, classes: dict[str, type]) -> None:
    """Make the saved pipeline ``folder`` loadable by plain diffusers (module docstring): rewrite its
    model_index.json and write ``pipeline.py`` and each component's ``recolor_components.py``.
    ``classes``: {component name: its class}."""
    folder = Path(folder)
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["_class_name"] = [PIPELINE_MODULE, PIPELINE_CLASS]
    modules = {cls.__name__: cls.__module__ for cls in classes.values()}
    for name, cls in classes.items():
        index[name] = [COMPONENTS_MODULE, cls.__name__]
        (folder / name / f"{COMPONENTS_MODULE}.py").write_text(shim(modules, "the network classes"))
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    (folder / f"{PIPELINE_MODULE}.py").write_text(shim({PIPELINE_CLASS: "recolor_hf.pipeline"}, PIPELINE_CLASS))


def from_remote_code(config: dict, classes: dict[str, type]) -> dict:
    """A model_index dict with the custom-code names of ``write_remote_code`` mapped back to recolor_hf's own
    (``_class_name`` "RecolorPipeline", components [module, class]), so that RecolorPipeline loads the folder
    without running its custom-code files. Other entries are left as they are."""
    config = dict(config)
    if isinstance(config.get("_class_name"), (list, tuple)) and config["_class_name"][1] == PIPELINE_CLASS:
        config["_class_name"] = PIPELINE_CLASS
    by_name = {cls.__name__: cls.__module__ for cls in classes.values()}
    for name in classes:
        entry = config.get(name)
        if isinstance(entry, (list, tuple)) and entry[0] == COMPONENTS_MODULE and entry[1] in by_name:
            config[name] = [by_name[entry[1]], entry[1]]
    return config


def usage_snippet(repo_id: str) -> str:
    """The model card's usage code for a pushed pipeline."""
    return (f"# {INSTALL_HINT}  (the pipeline's code; trust_remote_code runs only its two import files)\n"
            "from diffusers import DiffusionPipeline\n\n"
            f'pipe = DiffusionPipeline.from_pretrained("{repo_id}", trust_remote_code=True)\n'
            'image = pipe(content="content.jpg", reference="reference.jpg").images[0]\n'
            'image.save("recoloured.png")')
