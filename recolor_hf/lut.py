"""A transfer as a 3D colour look-up table (``.cube``), for Resolve, Premiere, Lightroom, ffmpeg ``lut3d``, OBS.

The model's result is spatially varying; a 3D LUT is one colour -> colour function, so ``fit_lut`` finds its best
global approximation from (content pixel, output pixel) pairs: the LUT values L on the n x n x n lattice minimise

    mean_i |trilinear(L, s_i) - o_i|^2  +  SMOOTHNESS * mean_edges |grad (L - identity)|^2

over a seeded sample of pixels. The second term fills the colours the photo does not contain: there the shift
L - identity is a smooth (harmonic) blend of the shifts of the nearest colours the photo does contain, so
unseen colours get a bounded version of the look and never run off to extreme values. The system is sparse and
symmetric positive definite; scipy's conjugate gradients solves it.

File I/O and the LUT objects are colour-science's (``read_LUT`` / ``write_LUT``, Iridas / Resolve ``.cube``);
images are mapped at full resolution by Pillow's ``Color3DLUT`` filter (trilinear, the interpolation the fit
assumes). Any LUT colour-science reads (3D, 1D, shaper + 3D) is applied through its 3D equivalent on [0, 1]^3.
"""

import os
from pathlib import Path

import numpy as np
import PIL.Image
from PIL import ImageFilter

from .atomic import atomic_path
from .deprecation import renamed_keyword
from .image_io import load_image, to_float
from .metrics import ciede2000

LUT_SIZE = 33  # lattice points per axis: the common size of grading LUTs (Resolve, ffmpeg, OBS)
PIL_MAX_SIZE = 65  # Pillow's Color3DLUT takes 2..65 points per axis; larger or non-3D LUTs are resampled to this
FIT_SAMPLES = 2**16  # pixels the fit sees (seeded sample; all of them for smaller images)
ERROR_SAMPLES = 2**18  # pixels the fit error is measured on (an independent sample)
SMOOTHNESS = 1e-3  # weight of the smoothness of L - identity, gradient per unit of colour, against the data term
SOLVER_TOLERANCE = 1e-6  # relative residual of conjugate gradients
SOLVER_MAX_ITERATIONS = 5000
CUBE_FORMAT = "Iridas Cube"  # colour-science's name of the .cube format (it falls back to "Resolve Cube")
FIT_SEED, ERROR_SEED = 0, 1


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
    content, output = np.asarray(load_image(content, "source")), np.asarray(load_image(output, "output"))
    if content.shape != output.shape:
        raise ValueError(f"source and output sizes differ: {content.shape[1::-1]} vs {output.shape[1::-1]}")
    content, output = content.reshape(-1, 3), output.reshape(-1, 3)
    if len(content) > count:
        index = np.random.default_rng(seed).choice(len(content), count, replace=False)
        content, output = content[index], output[index]
    return content, output


def fit_lut(content, output, size: int = LUT_SIZE, title: str = "recolor_hf look"):
    """Fit a ``size``^3 LUT mapping ``content`` to ``output`` (one size; paths, PIL images, (H, W, 3) arrays...).

    Returns a ``colour.LUT3D`` (table (size, size, size, 3) indexed [r, g, b], values in [0, 1]).
    """
    import colour
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
    return colour.LUT3D(np.clip(table, 0.0, 1.0).reshape(size, size, size, 3), name=title)


def lut_filter(lut) -> ImageFilter.Color3DLUT:
    """Any colour-science LUT -> Pillow's 3D LUT filter over [0, 1]^3 (3D tables kept as they are when Pillow
    takes their size, everything else sampled on a ``PIL_MAX_SIZE`` lattice)."""
    import colour

    size = min(lut.size, PIL_MAX_SIZE) if isinstance(lut, colour.LUT3D) else PIL_MAX_SIZE
    table = np.asarray(lut.apply(lattice(size)), dtype=np.float64).reshape(size, size, size, 3)
    if not np.isfinite(table).all():
        raise ValueError("the LUT has values that are not finite numbers")
    return ImageFilter.Color3DLUT(size, table.transpose(2, 1, 0, 3))  # Pillow: [b, g, r], red changes fastest


def apply_lut(image, lut) -> PIL.Image.Image:
    """Map every pixel of ``image`` (anything ``load_image`` takes, any size) through ``lut``: RGB PIL image."""
    return load_image(image).filter(lut_filter(lut))


def fit_error(content, output, lut) -> float:
    """Mean ΔE00 between the LUT applied to ``content`` and ``output``, on a seeded sample of ``ERROR_SAMPLES``
    pixels (all pixels of smaller images), independent of the fit's sample."""
    colours, targets = pixel_pairs(content, output, ERROR_SAMPLES, ERROR_SEED)
    return ciede2000(np.asarray(apply_lut(colours[:, None], lut)), targets[:, None])  # pixels as (N, 1, 3) images


def read_cube(path: str | os.PathLike):
    """Read a ``.cube`` file (Iridas or Resolve; 3D, 1D or shaper + 3D) as a colour-science LUT; a ValueError
    names the file when it is missing or not a LUT."""
    import colour

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such LUT file: {path}")
    try:
        lut = colour.read_LUT(str(path), method=CUBE_FORMAT)
    except (ValueError, IndexError, KeyError, NameError) as err:  # NameError: colour's parser on an empty file
        raise ValueError(f"{path} is not a readable .cube LUT ({err or type(err).__name__})") from None
    lut_filter(lut)  # refuse a LUT Pillow cannot apply now, not at the first image
    return lut


def write_cube(lut, path: str | os.PathLike, comments: list[str] = ()) -> None:
    """Write ``lut`` to ``path`` as an Iridas ``.cube``, atomically (``atomic.atomic_path``), with optional
    ``# comment`` lines."""
    import colour

    lut = lut.copy()
    lut.comments = list(comments)
    with atomic_path(Path(path)) as tmp:
        colour.write_LUT(lut, str(tmp), method=CUBE_FORMAT)


@renamed_keyword("source", "content")  # the README's name before the API took "content" throughout
def export_cube(content, output, path: str | os.PathLike, size: int = LUT_SIZE) -> float:
    """Fit a LUT to the transfer ``content`` -> ``output`` and write it to ``path`` (``.cube``); returns its fit
    error, the mean ΔE00 between the LUT applied to the content and the output (see ``fit_error``).

    One call for the app and the CLI: ``export_cube(content_image, result_image, "look.cube")``.
    """
    lut = fit_lut(content, output, size)
    error = fit_error(content, output, lut)
    write_cube(lut, path, [f"fitted by recolor_hf to a source -> output transfer; fit error mean dE00 {error:.2f}"])
    return error
