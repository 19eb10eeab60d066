"""A transfer as a 3D colour look-up table (``.cube``), for Resolve, Premiere, Lightroom, ffmpeg ``lut3d``, OBS.

The model's result is spatially varying; a 3D LUT is one colour -> colour function, so ``fit_lut`` finds its best
global approximation from (content pixel, output pixel) pairs: the LUT values L on the n x n x n lattice minimise

    mean_i |trilinear(L, s_i) - o_i|^2  +  SMOOTHNESS * mean_edges |grad (L - identity)|^2

over a seeded sample of pixels. The second term fills the colours the photo does not contain: there the shift
L - identity is a smooth (harmonic) blend of the shifts of the nearest colours the photo does contain, so
unseen colours get a bounded version of the look and never run off to extreme values. The system is sparse and
symmetric positive definite; scipy's conjugate gradients solves it.

A LUT is a ``Lut``: a 3D table, a 1D table (one curve per channel) or a 1D shaper followed by a 3D table, each
with its input domain. ``read_cube`` / ``write_cube`` read and write Iridas / Resolve ``.cube`` text (keywords
``TITLE``, ``LUT_1D_SIZE``, ``LUT_3D_SIZE``, ``DOMAIN_MIN`` / ``DOMAIN_MAX``, ``LUT_1D_INPUT_RANGE`` /
``LUT_3D_INPUT_RANGE``, ``#`` comments); every malformed file is a ValueError naming the file, the line and the
problem, and sizes are bounded before anything is allocated. Images are mapped at full resolution by Pillow's
``Color3DLUT`` filter (trilinear, the interpolation the fit assumes); any LUT is applied through its 3D
equivalent on [0, 1]^3.
"""

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, TextIO

import numpy as np
import PIL.Image
from PIL import ImageFilter

from .atomic import atomic_file
from .image_io import load_image, to_float

LUT_SIZE = 33  # lattice points per axis: the common size of grading LUTs (Resolve, ffmpeg, OBS)
PIL_MAX_SIZE = 65  # Pillow's Color3DLUT takes 2..65 points per axis; larger or non-3D LUTs are resampled to this
FIT_SAMPLES = 2**16  # pixels the fit sees (seeded sample; all of them for smaller images)
ERROR_SAMPLES = 2**18  # pixels the fit error is measured on (an independent sample)
SMOOTHNESS = 1e-3  # weight of the smoothness of L - identity, gradient per unit of colour, against the data term
SOLVER_TOLERANCE = 1e-6  # relative residual of conjugate gradients
SOLVER_MAX_ITERATIONS = 5000
FIT_SEED, ERROR_SEED = 0, 1
MAX_3D_SIZE = 256  # largest LUT_3D_SIZE read or made (256^3 rows): checked before the table is allocated
MAX_1D_SIZE = 65536  # largest LUT_1D_SIZE
MAX_LINE_CHARS = 4096  # a longer .cube line is refused as it is read, so a file without line breaks is never held
DECIMALS = 7  # decimals of the written values (as Resolve writes them)
CUBE_KEYWORDS = ("TITLE", "LUT_1D_SIZE", "LUT_3D_SIZE", "DOMAIN_MIN", "DOMAIN_MAX", "LUT_1D_INPUT_RANGE",
                 "LUT_3D_INPUT_RANGE")
DOMAIN_KEYWORDS = ("DOMAIN_MIN", "DOMAIN_MAX")  # Iridas: the domain of a file's only table
ROW_CHUNK = 1024  # rows first allocated for a .cube table, doubled as needed
SHOWN_CHARS = 40  # of a bad value quoted in an error message


def unit_domain() -> np.ndarray:
    """The default input domain of a table, [0, 1] in every channel: rows min, max."""
    return np.array([[0.0] * 3, [1.0] * 3])


@dataclass(eq=False)
class Lut:
    """A colour LUT: an optional 1D ``shaper`` (a curve per channel), then an optional 3D ``table``; not neither.

    ``table`` (n, n, n, 3) is indexed [r, g, b] and sampled on ``domain``; ``shaper`` (m, 3) on ``shaper_domain``;
    a domain is (2, 3): the min row, then the max row. Inputs outside a domain are clamped to it. Checked on
    creation (a ValueError naming the problem): sizes from 2 to ``MAX_3D_SIZE`` / ``MAX_1D_SIZE``, finite values,
    min below max in every channel of a domain, a title and comments of one line each.
    """

    table: np.ndarray | None = None
    shaper: np.ndarray | None = None
    domain: np.ndarray = field(default_factory=unit_domain)
    shaper_domain: np.ndarray = field(default_factory=unit_domain)
    title: str = ""
    comments: tuple[str, ...] = ()

    def __post_init__(self):
        if self.table is None and self.shaper is None:
            raise ValueError("a LUT needs a 3D table, a 1D table or both")
        if self.table is not None:
            self.table = checked_table(self.table, 3, MAX_3D_SIZE)
        if self.shaper is not None:
            self.shaper = checked_table(self.shaper, 1, MAX_1D_SIZE)
        self.domain = checked_domain(self.domain, "3D")
        self.shaper_domain = checked_domain(self.shaper_domain, "1D")
        self.comments = tuple(self.comments)
        for text in (self.title, *self.comments):
            if "\n" in text or "\r" in text:
                raise ValueError(f"a LUT title or comment must be one line, got {text!r}")

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """Colours (..., 3) -> float64 (..., 3): through the shaper (linear), then the 3D table (trilinear)."""
        shape, rgb = np.shape(rgb), np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
        if self.shaper is not None:
            low, high = self.shaper_domain
            nodes = np.linspace(low, high, len(self.shaper))  # (m, 3): each channel's sample positions
            rgb = np.stack([np.interp(rgb[:, c], nodes[:, c], self.shaper[:, c]) for c in range(3)], axis=1)
        if self.table is not None:
            low, high = self.domain
            rgb = trilinear_weights((rgb - low) / (high - low), len(self.table)) @ self.table.reshape(-1, 3)
        return rgb.reshape(shape)


def checked_table(values, axes: int, largest: int) -> np.ndarray:
    """``values`` as float64 of shape (n,) * ``axes`` + (3,), n from 2 to ``largest``, all finite."""
    values = np.asarray(values, dtype=np.float64)
    size = values.shape[0] if values.ndim else 0
    if values.shape != (size,) * axes + (3,) or not 2 <= size <= largest:
        raise ValueError(f"a {axes}D LUT table has shape ({'n, ' * axes}3) with n from 2 to {largest}, "
                         f"got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"the {axes}D table has values that are not finite numbers")
    return values


def checked_domain(domain, name: str) -> np.ndarray:
    """``domain`` as float64 (2, 3) rows min, max: finite, min below max in every channel."""
    domain = np.asarray(domain, dtype=np.float64)
    if domain.shape != (2, 3) or not np.isfinite(domain).all():
        raise ValueError(f"the {name} domain must be two rows (min, max) of 3 finite numbers, got {domain.tolist()}")
    if not (domain[0] < domain[1]).all():
        raise ValueError(f"degenerate {name} domain: min {domain[0].tolist()} must be below max "
                         f"{domain[1].tolist()} in every channel")
    return domain


def lattice(size: int) -> np.ndarray:
    """The identity LUT: (size**3, 3) RGB in [0, 1], node (r, g, b) at row r * size**2 + g * size + b."""
    axis = np.linspace(0.0, 1.0, size)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def trilinear_weights(rgb: np.ndarray, size: int):
    """Trilinear interpolation on the lattice as a sparse matrix: rgb (N, 3) in [0, 1] -> (N, size**3), so that
    ``weights @ values`` ((size**3, 3), ``lattice`` order) samples the LUT at each colour."""
    import scipy.sparse

    scaled = np.clip(rgb, 0.0, 1.0) * (size - 1)
    low = np.minimum(scaled.astype(np.int64), size - 2)
    frac = scaled - low
    rows, cols, vals = [], [], []
    for corner in np.ndindex(2, 2, 2):
        step = np.array(corner)
        vals.append(np.prod(np.where(step, frac, 1.0 - frac), axis=1))
        node = low + step
        cols.append((node[:, 0] * size + node[:, 1]) * size + node[:, 2])
        rows.append(np.arange(len(rgb)))
    return scipy.sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(len(rgb), size**3))


def lattice_gradient(size: int):
    """Forward differences along r, g and b, per unit of colour: sparse (3 size**2 (size - 1), size**3)."""
    import scipy.sparse

    step = scipy.sparse.diags([-1.0, 1.0], [0, 1], shape=(size - 1, size)) * (size - 1)
    eye = scipy.sparse.identity(size)
    axes = [(step, eye, eye), (eye, step, eye), (eye, eye, step)]
    return scipy.sparse.vstack([scipy.sparse.kron(scipy.sparse.kron(a, b), c) for a, b, c in axes]).tocsr()


def pixel_pairs(content, output, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Content and output images of one size (anything ``load_image`` takes) -> up to ``count`` seeded
    corresponding pixels, each (N, 3) uint8."""
    content, output = np.asarray(load_image(content, "content")), np.asarray(load_image(output, "output"))
    if content.shape != output.shape:
        raise ValueError(f"content and output sizes differ: {content.shape[1::-1]} vs {output.shape[1::-1]}")
    content, output = content.reshape(-1, 3), output.reshape(-1, 3)
    if len(content) > count:
        index = np.random.default_rng(seed).choice(len(content), count, replace=False)
        content, output = content[index], output[index]
    return content, output


def fit_lut(content, output, size: int = LUT_SIZE, title: str = "recolor_hf look") -> Lut:
    """Fit a ``size``^3 LUT mapping ``content`` to ``output`` (one size; paths, PIL images, (H, W, 3) arrays...).

    Returns a 3D ``Lut`` (table (size, size, size, 3) indexed [r, g, b], values in [0, 1]).
    """
    import scipy.sparse
    import scipy.sparse.linalg
    from threadpoolctl import threadpool_limits

    if not 2 <= size <= PIL_MAX_SIZE:
        raise ValueError(f"LUT size must be in [2, {PIL_MAX_SIZE}], got {size}")
    colours, targets = (to_float(pixels, np.float64) for pixels in pixel_pairs(content, output, FIT_SAMPLES, FIT_SEED))
    weights = trilinear_weights(colours, size)
    gradient = lattice_gradient(size)
    smooth = (gradient.T @ gradient) * (SMOOTHNESS / gradient.shape[0])
    system = ((weights.T @ weights) / len(colours) + smooth).tocsr()
    identity = lattice(size)
    rhs = (weights.T @ targets) / len(colours) + smooth @ identity  # the smoothness pulls L - identity flat
    jacobi = scipy.sparse.diags(1.0 / system.diagonal())
    table = np.empty_like(identity)
    with threadpool_limits(limits=1, user_api="blas"):  # vectors of 36k values: threads only add contention
        for channel in range(3):
            table[:, channel], info = scipy.sparse.linalg.cg(
                system, rhs[:, channel], x0=identity[:, channel], rtol=SOLVER_TOLERANCE,
                maxiter=SOLVER_MAX_ITERATIONS, M=jacobi)
            if info != 0:
                raise RuntimeError(f"the LUT fit did not converge in {SOLVER_MAX_ITERATIONS} iterations")
    return Lut(np.clip(table, 0.0, 1.0).reshape(size, size, size, 3), title=title)


def lut_filter(lut: Lut) -> ImageFilter.Color3DLUT:
    """A ``Lut`` -> Pillow's 3D LUT filter over [0, 1]^3 (a 3D table alone is sampled at its own size when Pillow
    takes it, everything else on a ``PIL_MAX_SIZE`` lattice)."""
    size = min(len(lut.table), PIL_MAX_SIZE) if lut.shaper is None else PIL_MAX_SIZE
    table = lut.apply(lattice(size)).reshape(size, size, size, 3)
    return ImageFilter.Color3DLUT(size, table.transpose(2, 1, 0, 3))  # Pillow: [b, g, r], red changes fastest


def apply_lut(image, lut: Lut) -> PIL.Image.Image:
    """Map every pixel of ``image`` (anything ``load_image`` takes, any size) through ``lut``: RGB PIL image."""
    return load_image(image).filter(lut_filter(lut))


def fit_error(content, output, lut: Lut) -> float:
    """Mean ΔE00 between the LUT applied to ``content`` and ``output``, on a seeded sample of ``ERROR_SAMPLES``
    pixels (all pixels of smaller images), independent of the fit's sample."""
    from .metrics import ciede2000  # scikit-image: only for the fit error, not for reading or applying a LUT

    colours, targets = pixel_pairs(content, output, ERROR_SAMPLES, ERROR_SEED)
    return ciede2000(np.asarray(apply_lut(colours[:, None], lut)), targets[:, None])  # pixels as (N, 1, 3) images


def read_cube(path: str | os.PathLike) -> Lut:
    """Read a ``.cube`` file (Iridas or Resolve; 3D, 1D or shaper + 3D) as a ``Lut``; a ValueError names the file
    and the problem when it is missing or not a well-formed LUT (``parse_cube``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such LUT file: {path}")
    try:
        with open(path, encoding="utf-8-sig") as f:
            return parse_cube(f)
    except UnicodeDecodeError:  # a ValueError too, whose message names neither the file nor the problem
        raise ValueError(f"{path} is not a readable .cube LUT (not UTF-8 text)") from None
    except ValueError as err:
        raise ValueError(f"{path} is not a readable .cube LUT ({err})") from None


@dataclass
class CubeHeader:
    """The keywords of a .cube file: sizes (0 when that table is absent), domains, title."""

    size_1d: int
    size_3d: int
    domain_1d: np.ndarray
    domain_3d: np.ndarray
    title: str

    @property
    def rows(self) -> int:
        """The number of table rows the sizes declare: the 1D table's, then the 3D table's."""
        return self.size_1d + self.size_3d**3

    def declared(self) -> str:
        """The sizes as the file gives them, e.g. ``LUT_1D_SIZE 10 and LUT_3D_SIZE 5``."""
        sizes = [f"LUT_{n}D_SIZE {size}" for n, size in ((1, self.size_1d), (3, self.size_3d)) if size]
        return " and ".join(sizes)

    def lut(self, rows: np.ndarray, comments: list[str]) -> Lut:
        """The ``Lut`` of the table rows (1D rows first; 3D rows with red changing fastest)."""
        n = self.size_3d
        table = rows[self.size_1d:].reshape(n, n, n, 3).transpose(2, 1, 0, 3) if n else None  # [b, g, r] -> [r, g, b]
        return Lut(table, rows[:self.size_1d] if self.size_1d else None, self.domain_3d, self.domain_1d, self.title,
                   tuple(comments))


def parse_cube(f: TextIO) -> Lut:
    """Parse .cube text: keywords (``CUBE_KEYWORDS``, each once), then the table rows of 3 finite numbers, exactly as
    many as the sizes declare; ``#`` comments anywhere. Anything else is a ValueError naming the line."""
    keywords: dict[str, tuple[int, str]] = {}  # keyword -> (line number, the rest of its line)
    comments: list[str] = []
    header, rows, count = None, np.empty((0, 3)), 0
    for number, line in cube_lines(f):
        if line.startswith("#"):
            comments.append(line[1:].strip())
        elif not is_row(line):
            if header is not None:
                raise ValueError(f"line {number}: keyword {shown(line.split()[0])} after the table rows")
            add_keyword(keywords, line, number)
        else:
            header = header or cube_header(keywords)  # the header is complete: its sizes are checked here
            if count == header.rows:
                raise ValueError(f"line {number}: more than the {header.rows} table rows expected "
                                 f"({header.declared()})")
            if count == len(rows):  # grown as rows come: a declared size alone allocates nothing
                rows = np.concatenate([rows, np.empty((min(max(count, ROW_CHUNK), header.rows - count), 3))])
            rows[count] = row_values(line, number)
            count += 1
    header = header or cube_header(keywords)
    if count < header.rows:
        raise ValueError(f"{header.rows} table rows expected ({header.declared()}), found {count}")
    return header.lut(rows, comments)


def cube_lines(f: TextIO) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a text file, stripped, with their numbers; a line over ``MAX_LINE_CHARS`` is a
    ValueError as soon as that much of it is read."""
    for number, line in enumerate(iter(lambda: f.readline(MAX_LINE_CHARS + 2), ""), start=1):
        if len(line.rstrip("\n")) > MAX_LINE_CHARS:
            raise ValueError(f"line {number} is longer than {MAX_LINE_CHARS} characters")
        if line.strip():
            yield number, line.strip()


def shown(text: str) -> str:
    """``text`` quoted for an error message, shortened to ``SHOWN_CHARS``."""
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "...")


def is_row(line: str) -> bool:
    """Whether a line is table data (it starts with a number, finite or not) rather than a keyword."""
    try:
        float(line.split(maxsplit=1)[0])
    except ValueError:
        return False
    return True


def finite_numbers(text: str, count: int) -> list[float] | None:
    """``count`` finite numbers separated by white space, or None."""
    try:
        values = [float(token) for token in text.split()]
    except ValueError:
        return None
    return values if len(values) == count and all(map(math.isfinite, values)) else None


def row_values(line: str, number: int) -> list[float]:
    """The 3 numbers of a table row."""
    values = finite_numbers(line, 3)
    if values is None:
        raise ValueError(f"line {number}: a table row is 3 finite numbers, got {shown(line)}")
    return values


def add_keyword(keywords: dict[str, tuple[int, str]], line: str, number: int) -> None:
    """Record a keyword line: a known keyword, given once."""
    name, rest = (line.split(maxsplit=1) + [""])[:2]
    if name not in CUBE_KEYWORDS:
        raise ValueError(f"line {number}: unknown keyword {shown(name)} (known: {', '.join(CUBE_KEYWORDS)})")
    if name in keywords:
        raise ValueError(f"line {number}: {name} is given twice (first on line {keywords[name][0]})")
    keywords[name] = (number, rest)


def cube_header(keywords: dict[str, tuple[int, str]]) -> CubeHeader:
    """The sizes, domains and title of the keywords; a ValueError for a bad or contradictory value."""
    size_1d = size_value(keywords, "LUT_1D_SIZE", MAX_1D_SIZE)
    size_3d = size_value(keywords, "LUT_3D_SIZE", MAX_3D_SIZE)
    if not size_1d and not size_3d:
        raise ValueError("no LUT_1D_SIZE or LUT_3D_SIZE line before the table")
    for n, size in ((1, size_1d), (3, size_3d)):
        if f"LUT_{n}D_INPUT_RANGE" in keywords and not size:
            raise ValueError(f"LUT_{n}D_INPUT_RANGE is given without LUT_{n}D_SIZE")
    only = not (size_1d and size_3d)  # DOMAIN_MIN / DOMAIN_MAX are the domain of the file's only table
    if not only and keywords.keys() & set(DOMAIN_KEYWORDS):
        raise ValueError("DOMAIN_MIN / DOMAIN_MAX with both a 1D and a 3D table: a shaper + 3D file gives "
                         "LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE")
    return CubeHeader(size_1d, size_3d, domain_value(keywords, "LUT_1D_INPUT_RANGE", only and not size_3d),
                      domain_value(keywords, "LUT_3D_INPUT_RANGE", only and bool(size_3d)), title_value(keywords))


def size_value(keywords: dict[str, tuple[int, str]], name: str, largest: int) -> int:
    """The whole number of a ``LUT_nD_SIZE`` line, from 2 to ``largest``; 0 when there is none."""
    if name not in keywords:
        return 0
    number, text = keywords[name]
    if not re.fullmatch("[0-9]{1,9}", text) or not 2 <= int(text) <= largest:
        raise ValueError(f"line {number}: {name} must be a whole number from 2 to {largest}, got {shown(text)}")
    return int(text)


def numbers_value(keywords: dict[str, tuple[int, str]], name: str, count: int) -> list[float]:
    """The ``count`` finite numbers of a keyword's line."""
    number, text = keywords[name]
    values = finite_numbers(text, count)
    if values is None:
        raise ValueError(f"line {number}: {name} needs {count} finite numbers, got {shown(text)}")
    return values


def domain_value(keywords: dict[str, tuple[int, str]], range_name: str, with_domain: bool) -> np.ndarray:
    """A table's domain: its input range ``range_name`` (min max, for every channel), or with ``with_domain`` the
    DOMAIN_MIN / DOMAIN_MAX lines (3 numbers each), else [0, 1]; not both."""
    domain = unit_domain()
    given = [name for name in DOMAIN_KEYWORDS if name in keywords] if with_domain else []
    if given and range_name in keywords:
        raise ValueError(f"both {range_name} and {' / '.join(given)} give the domain of the table")
    for name in given:
        domain[DOMAIN_KEYWORDS.index(name)] = numbers_value(keywords, name, 3)
    if range_name in keywords:
        domain[:] = np.array(numbers_value(keywords, range_name, 2))[:, None]
    return domain


def title_value(keywords: dict[str, tuple[int, str]]) -> str:
    """The quoted text of the TITLE line; empty when there is none."""
    if "TITLE" not in keywords:
        return ""
    number, text = keywords["TITLE"]
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f'line {number}: TITLE needs a text in double quotes, got {shown(text)}')
    return text[1:-1]


def write_cube(lut: Lut, path: str | os.PathLike, comments: list[str] = ()) -> None:
    """Write ``lut`` to ``path`` as a ``.cube`` (Iridas; Resolve's for a shaper + 3D LUT), atomically
    (``atomic.atomic_file``), with optional ``# comment`` lines."""
    lut = replace(lut, comments=tuple(comments))  # checks the comments, one line each
    with atomic_file(Path(path)) as f:
        f.write(cube_text(lut).encode())


def cube_text(lut: Lut) -> str:
    """The .cube text of ``lut``: title, comments, sizes, domains that are not [0, 1], then the rows (the 1D
    table's, then the 3D table's with red changing fastest)."""
    lines = [f'TITLE "{lut.title}"'] if lut.title else []
    lines += [f"# {comment}" for comment in lut.comments]
    rows = []
    if lut.shaper is not None:
        lines.append(f"LUT_1D_SIZE {len(lut.shaper)}")
        rows.append(lut.shaper)
    if lut.table is not None:
        lines.append(f"LUT_3D_SIZE {len(lut.table)}")
        rows.append(lut.table.transpose(2, 1, 0, 3).reshape(-1, 3))  # [r, g, b] -> red changing fastest
    lines += domain_lines(lut)
    lines += [numbers_text(row) for row in np.concatenate(rows)]
    return "\n".join(lines) + "\n"


def numbers_text(values: np.ndarray) -> str:
    """Numbers as written in a .cube: ``DECIMALS`` decimals, separated by spaces."""
    return " ".join(f"{value:.{DECIMALS}f}" for value in values)


def domain_lines(lut: Lut) -> list[str]:
    """The header lines of the domains that are not [0, 1]: DOMAIN_MIN / DOMAIN_MAX for a single table,
    LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE (one range for all channels) for a shaper + 3D LUT."""
    if lut.table is None or lut.shaper is None:
        domain = lut.domain if lut.shaper is None else lut.shaper_domain
        return [] if (domain == unit_domain()).all() else [f"{name} {numbers_text(row)}"
                                                           for name, row in zip(DOMAIN_KEYWORDS, domain)]
    lines = []
    for name, domain in (("LUT_1D_INPUT_RANGE", lut.shaper_domain), ("LUT_3D_INPUT_RANGE", lut.domain)):
        if not (domain == domain[:, :1]).all():
            raise ValueError(f"a shaper + 3D .cube has one input range per table for all channels; the per-channel "
                             f"domain {domain.tolist()} cannot be written")
        if not (domain == unit_domain()).all():
            lines.append(f"{name} {numbers_text(domain[:, 0])}")
    return lines


def export_cube(content, output, path: str | os.PathLike, size: int = LUT_SIZE) -> float:
    """Fit a LUT to the transfer ``content`` -> ``output`` and write it to ``path`` (``.cube``); returns its fit
    error, the mean ΔE00 between the LUT applied to the content and the output (see ``fit_error``).

    One call for the app and the CLI: ``export_cube(content_image, result_image, "look.cube")``.
    """
    lut = fit_lut(content, output, size)
    error = fit_error(content, output, lut)
    write_cube(lut, path, [f"fitted by recolor_hf to a content -> output transfer; fit error mean dE00 {error:.2f}"])
    return error
