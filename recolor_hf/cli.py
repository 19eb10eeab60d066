"""The ``recolor`` command: re-colour photos like a reference photo with a trained ``RecolorPipeline``.

Three modes: one CONTENT file -> OUT file; a CONTENT folder -> every image in it, re-coloured like the one
reference, into the OUT folder; ``--pairs pairs.csv`` -> one (content, reference[, output]) job per row.
``--lut look.cube`` applies a 3D LUT instead of the model (file or folder mode); ``--export-lut look.cube``
also fits a LUT to a single file's transfer (``recolor_hf.lut``).
A CONTENT video (``video.VIDEO_EXTENSIONS``) is re-coloured frame by frame without flicker (``recolor_hf.video``);
one that decodes to fewer frames than its container declares (cut short) fails unless ``--allow-partial-video``.
Under ``accelerate launch`` the jobs are split between the processes, each output is written by exactly one, and
the main process prints one summary of all of them.
Outputs are never written over an input, nor over an existing file without ``--overwrite``, and are written
atomically (temporary files a killed run left behind are removed when the same output is next written). In CSV
mode every output stays inside the ``-o`` folder unless ``--allow-outside-output`` is given. Outputs keep the
content's ICC profile and EXIF (minus the orientation, which is applied). Exit status: 0 all written (or skipped
because they exist), 1 some image failed, 2 usage error.
torch and diffusers are imported only when a command needs them, so ``--help`` and usage errors
answer at once.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, NamedTuple

import recolor_hf
from .atomic import atomic_file, remove_stale_temporaries
from .fallback import FALLBACKS
from .media import DEFAULT_SMOOTHING, VIDEO_FORMATS, check_smoothing, is_video
from .strength import check_alpha

if TYPE_CHECKING:
    import PIL.Image

    from .pipeline import RecolorPipeline

VideoRecolor = Callable[[Path, Path, BinaryIO, str], None]  # (video, reference, file, muxer)
Recolor = Callable[["PIL.Image.Image", Path], "PIL.Image.Image"]  # (content image, reference or LUT path) -> result

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
           ".bmp": "BMP"}
SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}}


class UsageError(Exception):
    """A problem with the command line or its inputs, found before any image is processed (exit status 2)."""


class Job(NamedTuple):
    """One image to re-colour."""

    content: Path
    reference: Path  # reference image, or the .cube file with --lut
    output: Path | None  # None: --export-lut without -o writes only the LUT


def alpha_arg(text: str) -> float:
    """argparse type for --alpha: a number in [0, 2]."""
    try:
        return check_alpha(float(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def smoothing_arg(text: str) -> float:
    """argparse type for --smoothing: a number in [0, 1)."""
    try:
        return check_smoothing(float(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive_int(text: str) -> int:
    """argparse type for --max-pixels."""
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


EPILOG = """examples:
  recolor photo.jpg --reference look.jpg -o out.jpg
  recolor photos/ --reference look.jpg -o recoloured/ --ext png
  recolor --pairs pairs.csv -o recoloured/
  recolor photo.jpg --reference look.jpg --export-lut look.cube
  recolor photos/ --lut look.cube -o graded/
  recolor clip.mp4 --reference look.jpg -o out.mp4
  accelerate launch --multi_gpu --num_processes 2 -m recolor_hf photos/ --reference look.jpg -o out/
exit status: 0 all written or skipped, 1 some image failed, 2 usage error"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="recolor",
        description="Re-colour photos like a reference photo (exemplar-based re-colorization).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("content", nargs="?", type=Path, help="image file, or folder of images")
    parser.add_argument("--reference", "-r", type=Path, help="reference image whose colours to take")
    parser.add_argument("--output", "-o", type=Path,
                        help="output file (single CONTENT file) or folder (folder / CSV mode)")
    parser.add_argument("--pairs", type=Path,
                        help="CSV with columns content,reference[,output]: inputs relative to the CSV's folder, "
                             "outputs relative to the -o folder")
    parser.add_argument("--allow-outside-output", action="store_true",
                        help="CSV mode: allow output paths outside the -o folder (absolute or with ..)")
    parser.add_argument("--lut", type=Path, help="apply this .cube 3D LUT instead of a reference (no model)")
    parser.add_argument("--export-lut", type=Path, metavar="FILE.cube",
                        help="single CONTENT file: also fit a 33x33x33 3D LUT to the transfer and write it "
                             "(-o is then optional); prints the fit error")
    parser.add_argument("--alpha", type=alpha_arg, default=1.0,
                        help="strength in [0, 2]: 0 keeps the content, 1 is the prediction (default 1)")
    parser.add_argument("--fallback", choices=FALLBACKS, default="global",
                        help="what content the reference lacks becomes: global = the reference's overall colours "
                             "(different scenes or light), look = the look the matched content shows (one scene "
                             "or shoot under one look), keep = unchanged (default %(default)s)")
    parser.add_argument("--content-mask", "--source-mask", dest="content_mask", type=Path,  # the old name still works
                        help="mask image of a content region (alpha > 0 when it has alpha, else non-black)")
    parser.add_argument("--reference-mask", type=Path,
                        help="mask image of the reference region whose colours that content region takes")
    parser.add_argument("--checkpoint", type=Path, default=recolor_hf.DEFAULT_CHECKPOINT,
                        help="pipeline folder (default: the shipped checkpoint, %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    parser.add_argument("--recursive", action="store_true", help="folder mode: include sub-folders")
    parser.add_argument("--ext", choices=sorted(f[1:] for f in FORMATS),
                        help="extension of generated output names (folder / CSV mode; default: the input's)")
    parser.add_argument("--smoothing", type=smoothing_arg, default=DEFAULT_SMOOTHING,
                        help="video: weight in [0, 1) of the past frames in the moving average of the colour "
                             "transfer; 0 re-colours each frame on its own (default %(default)s)")
    parser.add_argument("--allow-partial-video", action="store_true",
                        help="video: keep the output of a video that decodes to fewer frames than its container "
                             "declares (a truncated file), with a warning, instead of failing it")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="default: cuda when available (each process's own GPU under accelerate), else cpu")
    parser.add_argument("--max-pixels", type=positive_int,
                        help="refuse images of more than this many pixels, checked on the file's header before "
                             "decoding (the pipeline's max_pixels; default: the checkpoint's)")
    return parser


def output_name(content: Path, ext: str | None) -> str:
    """Input stem + the input's extension, or ``ext``."""
    return content.stem + (f".{ext}" if ext else content.suffix)


def folder_jobs(folder: Path, reference: Path, out: Path, ext: str | None, recursive: bool) -> list[Job]:
    """One job per image in ``folder`` (sorted), keeping sub-folders; when ``out`` is inside ``folder``, the files
    in it (earlier outputs) are left out. ``out`` may not be ``folder`` itself: outputs would mix with the inputs."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; in folder mode -o must be a folder")
    out_resolved = out.resolve()
    if out_resolved == folder.resolve():
        raise UsageError(f"-o {out} is the input folder: the outputs would mix with the inputs (and an output "
                         "named like its input is refused); give another output folder, e.g. a sub-folder")
    inside = folder.resolve() in out_resolved.parents
    contents = sorted(p for p in folder.glob("**/*" if recursive else "*")
                      if p.is_file() and p.suffix.lower() in FORMATS
                      and not (inside and out_resolved in p.resolve().parents))
    if not contents:
        raise UsageError(f"no images ({', '.join(FORMATS)}) in {folder}")
    return [Job(p, reference, out / p.relative_to(folder).parent / output_name(p, ext)) for p in contents]


def csv_jobs(pairs: Path, out: Path, ext: str | None, allow_outside: bool = False) -> list[Job]:
    """One job per CSV row: inputs are relative to the CSV's folder, an output to ``out`` (a row without one goes
    to ``out`` / content stem + extension). An output that resolves outside ``out`` is refused unless
    ``allow_outside``."""
    if not pairs.is_file():
        raise UsageError(f"no such CSV file: {pairs}")
    base = pairs.parent
    out_resolved = out.resolve()
    jobs = []
    for line, row in csv_rows(pairs):
        if not row["content"] or not row["reference"]:
            raise UsageError(f"{pairs} line {line}: empty content or reference")
        content = base / row["content"]
        output = out / row["output"] if row.get("output") else out / output_name(content, ext)
        if not allow_outside and out_resolved not in output.resolve().parents:
            raise UsageError(f"{pairs} line {line}: output {row['output']!r} is outside the output folder {out}; "
                             f"pass --allow-outside-output to write there")
        jobs.append(Job(content, base / row["reference"], output))
    if not jobs:
        raise UsageError(f"{pairs} has no rows")
    return jobs


def csv_rows(pairs: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row with its cells stripped) of each row of a --pairs CSV with the columns content and
    reference (a ``source`` column, the old name of ``content``, is read as it); a UsageError naming the file (and
    the line) for missing columns, text that is not UTF-8, a row the csv module refuses (e.g. a field over its limit
    of 131,072 characters) or a NUL byte, which no path holds."""
    rows = []
    with open(pairs, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        try:
            columns = [c.strip() for c in reader.fieldnames or []]
            if "source" in columns and "content" not in columns:  # a CSV written for the column's old name
                reader.fieldnames = columns = ["content" if c == "source" else c for c in columns]
            if not {"content", "reference"} <= set(columns):
                raise UsageError(f"{pairs} needs the columns content,reference[,output]; found {','.join(columns)}")
            for row in reader:
                cells = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                if any("\0" in value for value in cells.values()):
                    raise UsageError(f"{pairs} line {reader.line_num}: a field holds a NUL byte")
                rows.append((reader.line_num, cells))
        except csv.Error as err:  # raised before line_num counts the line it is reading
            raise UsageError(f"{pairs} line {reader.line_num + 1}: not a readable CSV row ({err})") from None
        except UnicodeDecodeError:
            raise UsageError(f"{pairs} is not UTF-8 text") from None
    return rows


def plan_jobs(args: argparse.Namespace) -> list[Job]:
    """The jobs the command line asks for, or a UsageError."""
    if args.lut and (args.reference or args.pairs or args.content_mask or args.reference_mask or args.export_lut):
        raise UsageError("--lut replaces the reference: give CONTENT --lut FILE.cube -o OUT, without --reference, "
                         "--pairs, masks or --export-lut")
    look = args.lut or args.reference  # where the colours come from
    if args.pairs:
        if args.content or args.reference:
            raise UsageError("give either CONTENT --reference REF or --pairs CSV, not both")
        if args.output is None:
            raise UsageError("--pairs needs -o FOLDER: the outputs are written inside it")
        jobs = csv_jobs(args.pairs, args.output, args.ext, args.allow_outside_output)
    else:
        if args.content is None or look is None or (args.output is None and args.export_lut is None):
            raise UsageError("give CONTENT, --reference REF (or --lut FILE.cube) and -o OUT (or --pairs CSV)")
        if not look.is_file():
            raise UsageError(f"no {'LUT file' if args.lut else 'reference image'} at {look}")
        if args.content.is_dir():
            if args.output is None:
                raise UsageError("folder mode needs -o FOLDER")
            jobs = folder_jobs(args.content, look, args.output, args.ext, args.recursive)
        elif args.content.is_file():
            out = args.output / args.content.name if args.output is not None and args.output.is_dir() else args.output
            jobs = [Job(args.content, look, out)]
        else:
            raise UsageError(f"no such file or folder: {args.content}")
    for job in jobs:
        kind, formats = ("a video", VIDEO_FORMATS) if is_video(job.content) else ("an image", FORMATS)
        if job.output is not None and job.output.suffix.lower() not in formats:
            raise UsageError(f"cannot write {job.output}: {kind} output needs one of the extensions "
                             f"{', '.join(formats)}")
    if (args.content_mask is None) != (args.reference_mask is None):
        raise UsageError("--content-mask and --reference-mask must be given together")
    if args.content_mask and (len(jobs) != 1 or is_video(jobs[0].content)):
        raise UsageError("masks work with a single CONTENT image only")
    if (args.lut or args.export_lut) and any(is_video(job.content) for job in jobs):
        raise UsageError("--lut and --export-lut work on images; for a video use ffmpeg's lut3d filter")
    if args.export_lut:
        check_export_path(args.export_lut, args.pairs is None and args.content.is_file(), args.overwrite)
        if jobs[0].output is not None and jobs[0].output.exists() and not args.overwrite:
            raise UsageError(f"{jobs[0].output} exists (pass --overwrite to replace it, or leave out -o to write "
                             "only the LUT)")
    return jobs


def check_export_path(path: Path, single_file: bool, overwrite: bool) -> None:
    """--export-lut: one transfer, a .cube name, and no existing file replaced without --overwrite."""
    if not single_file:
        raise UsageError("--export-lut works with a single CONTENT file and --reference REF")
    if path.suffix.lower() != ".cube":
        raise UsageError(f"cannot write {path}: a LUT file must end in .cube")
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists (pass --overwrite to replace it)")


def load_pipeline(checkpoint: Path, device: str | None, max_pixels: int | None) -> RecolorPipeline:
    """Load the pipeline folder onto the device, with the optional input size limit."""
    import torch
    from diffusers.utils import logging as diffusers_logging

    from .pipeline import RecolorPipeline

    diffusers_logging.disable_progress_bar()  # the component-loading bar is noise next to the batch's own
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available")
    pipe = RecolorPipeline.from_pretrained(checkpoint)
    if max_pixels:
        pipe.register_to_config(max_pixels=max_pixels)
    return pipe.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def load_guide(job: Job, content_mask: Path, reference_mask: Path, max_pixels: int) -> Callable:
    """The masks (``image_io.mask_from_image``: alpha > 0 when present, else non-black) as a ``guide`` for
    ``job``: the content region takes the reference region's colours; each mask must have its image's aspect
    ratio."""
    from .guidance import Guidance  # only needed, and only imported, when masks are given
    from .image_io import load_image, load_mask

    masks = [load_mask(path, name, max_pixels) for path, name in ((content_mask, "content mask"), (reference_mask, "reference mask"))]
    sizes = [load_image(path, name, max_pixels).size for path, name in ((job.content, "content"),
                                                                         (job.reference, "reference"))]
    return Guidance(content_mask=masks[0], reference_mask=masks[1]).as_guide(*sizes)


def model_recolor(pipe: RecolorPipeline, alpha: float, guide: Callable | None, fallback: str = "global") -> Recolor:
    """The pipeline as a ``Recolor`` (at strength ``alpha``, with ``guide`` and ``fallback``); the last reference is
    decoded once for a run of jobs using it."""
    from .image_io import load_image

    references: dict[Path, PIL.Image.Image] = {}

    def recolor(content: PIL.Image.Image, reference: Path) -> PIL.Image.Image:
        if reference not in references:
            references.clear()
            references[reference] = load_image(reference, f"reference {reference}", pipe.config.max_pixels)
        return pipe(content=content, reference=references[reference], alpha=alpha, guide=guide,
                    fallback=fallback).images[0]

    return recolor


def lut_recolor(path: Path) -> Recolor:
    """The .cube file at ``path`` as a ``Recolor`` (read once; a ValueError if it is not a LUT)."""
    from .lut import apply_lut, read_cube

    look = read_cube(path)
    return lambda content, _: apply_lut(content, look)


def exporting(recolor: Recolor, path: Path) -> Recolor:
    """``recolor``, then fit a 3D LUT to its content -> result transfer, write it to ``path`` and print its fit
    error (mean ΔE00 between the LUT applied to the content and the result)."""
    from .lut import LUT_SIZE, export_cube

    def recolor_and_export(content: PIL.Image.Image, reference: Path) -> PIL.Image.Image:
        result = recolor(content, reference)
        error = export_cube(content, result, path)
        print(f"wrote {path}: {LUT_SIZE}x{LUT_SIZE}x{LUT_SIZE} 3D LUT; fit error {error:.2f} mean ΔE00 "
              "(the LUT applied to the content vs the model's output)")
        return result

    return recolor_and_export


def save_atomic(image: PIL.Image.Image, path: Path, metadata: dict | None = None) -> None:
    """Save ``image`` through ``atomic_file``, in the format of ``path``'s extension.

    ``metadata``: extra save arguments, e.g. ``icc_profile`` and ``exif`` (formats without them ignore them).
    """
    image_format = FORMATS[path.suffix.lower()]
    with atomic_file(path) as f:
        image.save(f, format=image_format, **SAVE_OPTIONS.get(image_format, {}), **(metadata or {}))


def model_video(pipe: RecolorPipeline, alpha: float, smoothing: float, progress: bool,
                allow_partial: bool = False, fallback: str = "global") -> VideoRecolor:
    """The pipeline's video mode (``recolor_hf.video``) as a ``VideoRecolor``; with ``allow_partial`` a truncated
    video is kept and its ``TruncatedVideoWarning`` printed as a ``warning:`` line."""
    from tqdm import tqdm

    from .image_io import load_image
    from .video import TruncatedVideoWarning, recolor_video

    def recolor(video: Path, reference: Path, file: BinaryIO, muxer: str) -> None:
        image = load_image(reference, f"reference {reference}", pipe.config.max_pixels)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncatedVideoWarning)
            recolor_video(pipe, video, image, file, alpha, smoothing, muxer, progress, allow_partial, fallback)
        for warning in caught:  # others are shown as they would have been
            if warning.category is TruncatedVideoWarning:
                tqdm.write(f"warning: {video}: {warning.message}", file=sys.stderr)
            else:
                warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)

    return recolor


def run_jobs(recolor: Recolor, jobs: list[Job], overwrite: bool, protected: set[Path], limit: int,
             video: VideoRecolor | None = None, claimed: set[Path] | None = None,
             progress: bool = True) -> dict[str, int]:
    """Re-colour every job (content images up to ``limit`` pixels; videos with ``video``), reporting each failure
    on stderr and going on; returns the counts.

    ``claimed``: resolved outputs of earlier jobs of the batch that other processes handle (not written again);
    ``progress``: show progress bars (only the main process does).
    """
    from tqdm import tqdm

    from .image_io import load_image

    counts = {"written": 0, "failed": 0, "skipped (exists)": 0}
    claimed = set() if claimed is None else set(claimed)
    for job in tqdm(jobs, desc="recolor", unit="image", disable=len(jobs) <= 1 or not progress):
        target = job.output.resolve() if job.output is not None else None
        try:
            if target in protected:
                raise ValueError(f"refusing to write {job.output}: it is one of the inputs")
            if target in claimed:
                raise ValueError(f"{job.output} is also the output of an earlier image in this batch")
            claimed.add(target)
            if job.output is not None:
                remove_stale_temporaries(job.output)
            if job.output is not None and job.output.exists() and not overwrite:
                tqdm.write(f"skipped {job.content}: {job.output} exists (pass --overwrite to replace it)",
                           file=sys.stderr)
                counts["skipped (exists)"] += 1
                continue
            if is_video(job.content):
                with atomic_file(job.output) as f:
                    video(job.content, job.reference, f, VIDEO_FORMATS[job.output.suffix.lower()])
            else:
                content = load_image(job.content, "content", limit)
                result = recolor(content, job.reference)
                if job.output is not None:
                    save_atomic(result, job.output, content.info)  # the content's ICC profile and EXIF
            counts["written"] += 1
        except (ValueError, OSError, MemoryError, RuntimeError) as err:  # RuntimeError: torch out of memory
            tqdm.write(f"error: {job.content}: {err}", file=sys.stderr)
            counts["failed"] += 1
    return counts


def summary(counts: dict[str, int]) -> str:
    """The batch summary line, e.g. ``8 written, 0 failed, 0 skipped (exists)``."""
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def launched_processes(device: str | None):
    """Accelerate's ``PartialState`` when this is one of several processes (``accelerate launch``, torchrun: the
    launcher sets WORLD_SIZE), else None; a plain run does not import accelerate. The processes talk over gloo
    on CPU (``device`` cpu, or no CUDA), else over NCCL with one GPU each."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    try:
        from accelerate import PartialState
    except ImportError:
        raise UsageError("started as one of several processes, but accelerate is not installed "
                         "(pip install accelerate)") from None
    import torch

    return PartialState(cpu=device == "cpu" or not torch.cuda.is_available())


def split_jobs(jobs: list[Job], state) -> tuple[list[Job], set[Path]]:
    """This process's share of ``jobs`` (``PartialState.split_between_processes``: consecutive slices) and the
    resolved outputs of the jobs before it, which other processes write."""
    with state.split_between_processes(list(range(len(jobs)))) as mine:
        start = mine[0] if mine else len(jobs)
        return [jobs[i] for i in mine], {job.output.resolve() for job in jobs[:start] if job.output is not None}


def main(argv: list[str] | None = None) -> int:
    """Run ``recolor``; returns the exit status (0 all written or skipped, 1 some image failed, 2 usage error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help and on bad arguments; return the status instead
        return int(stop.code or 0)
    try:
        state = launched_processes(args.device)
        jobs = plan_jobs(args)
        device = args.device
        if state is not None and state.device.type == "cuda" and device != "cpu":
            device = str(state.device)  # this process's own GPU
        progress = state is None or state.is_main_process
        video = None
        if args.lut:
            from .image_io import DEFAULT_MAX_PIXELS

            recolor, limit = lut_recolor(args.lut), args.max_pixels or DEFAULT_MAX_PIXELS
        else:
            pipe = load_pipeline(args.checkpoint, device, args.max_pixels)
            limit = pipe.config.max_pixels
            guide = load_guide(jobs[0], args.content_mask, args.reference_mask, limit) if args.content_mask else None
            recolor = model_recolor(pipe, args.alpha, guide, args.fallback)
            video = model_video(pipe, args.alpha, args.smoothing, progress, args.allow_partial_video, args.fallback)
        if args.export_lut:
            recolor = exporting(recolor, args.export_lut)
    except (UsageError, ValueError, OSError, ImportError) as err:  # also a bad checkpoint file, a missing package
        print(f"recolor: error: {err}", file=sys.stderr)
        return 2
    protected = {p.resolve() for job in jobs for p in (job.content, job.reference)}
    protected |= {p.resolve() for p in (args.pairs, args.content_mask, args.reference_mask) if p}
    if state is None:
        counts = run_jobs(recolor, jobs, args.overwrite, protected, limit, video)
        print(summary(counts))
        return 1 if counts["failed"] else 0
    mine, claimed = split_jobs(jobs, state)
    counts = run_jobs(recolor, mine, args.overwrite, protected, limit, video, claimed, progress)
    import torch.distributed

    gathered = [None] * state.num_processes
    torch.distributed.all_gather_object(gathered, counts)  # PartialState set up the process group
    totals = {what: sum(c[what] for c in gathered) for what in counts}
    if state.is_main_process:
        print(f"{summary(totals)} across {state.num_processes} processes")
    return 1 if totals["failed"] else 0
