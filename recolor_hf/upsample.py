"""Full-resolution colour transfer by a local affine colour model.

The networks run at a low working resolution. To get the result at the photo's full
size we fit, on a coarse spatial grid, a 3x4 affine colour matrix that maps the
low-res content to the low-res result (regularised local least squares, as in the
colour guided filter / fast guided filter upsampling and "Deep bilateral learning"),
then interpolate the matrices bilinearly to full resolution and apply them to the
full-res content. Edges and texture therefore come from the original photo; only the
colour mapping comes from the network.

Conventions: images are (H, W, 3) RGB, either uint8 in [0, 255] or float in [0, 1].
A grid is (gh, gw, 3, 4) float32: node (i, j) holds A with result ~= A @ [r, g, b, 1]
(all in [0, 1] units); the nodes sit at the centres of a gh x gw partition of the image.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from .image_io import check_rgb_array, to_float, to_rgb

# Grid nodes along the image's long side (capped at the low-res pixel count). Each node
# fits its colour matrix on a tent window spanning its own cell and half of each
# neighbour. `python -m eval upsample-quality` (FiveK retouches, 128 px -> ~512
# px): 64 beats bicubic upsampling of the result by 3.6 dB; finer grids fit sharp
# results a bit better (128: +0.7 dB) but with 1-2 px cells they start to follow the
# network's chroma blur rather than the colour mapping (blurred results: +0.2 dB only).
GRID_SIZE = 64

# Ridge weight (in [0, 1] colour units squared) pulling each local matrix toward the
# global affine fit. Windows whose content colour variance is well below EPS (std below
# ~4/255) are flat: they keep the global slope and only fit a local offset (mean
# shift), so full-res texture there is mapped the way the whole image is.
EPS = 3e-4

# Full-res pixels processed per row strip in apply_affine_grid: bounds the float32
# temporaries (about 100 bytes per pixel) to ~13 MB per worker thread; small
# strips also stay cache-resident, which measured faster than 256-512 row strips.
STRIP_PIXELS = 1 << 17


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging n_in samples into n_out equal-width cells."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    pix = np.arange(n_in)
    overlap = np.minimum(edges[1:, None], pix + 1) - np.maximum(edges[:-1, None], pix)
    m = np.clip(overlap, 0, None)
    return m / m.sum(axis=1, keepdims=True)


def _blur(g: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 blur over the two leading (grid) axes, edges replicated."""
    p = np.pad(g, [(1, 1), (1, 1)] + [(0, 0)] * (g.ndim - 2), mode="edge")
    p = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
    return 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]


def ridge_affine_fit(stats: np.ndarray, eps: float, prior: np.ndarray) -> np.ndarray:
    """Ridge affine fit from window moments.

    stats: (..., 24) = E[x] (3), E[y] (3), E[x x^T] (9), E[x y^T] (9) for content x and
    result y. Minimises E|A x + b - y|^2 + eps |A - prior|^2 per window.
    prior: (3, 3). Returns (..., 3, 4) = [A | b].
    """
    mx, my = stats[..., 0:3], stats[..., 3:6]
    cxx = stats[..., 6:15].reshape(*stats.shape[:-1], 3, 3) - mx[..., :, None] * mx[..., None, :]
    cxy = stats[..., 15:24].reshape(*stats.shape[:-1], 3, 3) - mx[..., :, None] * my[..., None, :]
    a = np.linalg.solve(cxx + eps * np.eye(3), cxy + eps * prior.T).swapaxes(-1, -2)
    b = my - (a @ mx[..., None])[..., 0]
    return np.concatenate([a, b[..., None]], axis=-1)


def fit_affine_grid(
    content_low: np.ndarray, result_low: np.ndarray, grid_size: int = GRID_SIZE, eps: float = EPS
) -> np.ndarray:
    """Fit a smooth grid of local affine colour matrices mapping content_low to result_low.

    content_low, result_low: (h, w, 3), uint8 or float in [0, 1], same shape.
    grid_size: number of grid nodes along the long side (capped at the pixel count).
    eps: ridge weight toward the global affine fit (see EPS).
    Returns (gh, gw, 3, 4) float32 with result ~= A @ [r, g, b, 1] in [0, 1] units.

    Like the colour guided filter: per-node box statistics (pixel moments averaged over
    each cell, then tent-blurred over neighbouring cells), a regularised least-squares
    solve per node, then a second blur of the coefficients so they vary smoothly.
    """
    check_rgb_array(content_low, "content_low")
    check_rgb_array(result_low, "result_low")
    if content_low.shape != result_low.shape:
        raise ValueError(f"content_low shape {content_low.shape} != result_low shape {result_low.shape}")
    h, w = content_low.shape[:2]
    gh, gw = (max(1, min(n, round(n * grid_size / max(h, w)))) for n in (h, w))
    x, y = to_float(content_low, np.float64), to_float(result_low, np.float64)
    moments = np.concatenate(
        [x, y, (x[..., :, None] * x[..., None, :]).reshape(h, w, 9), (x[..., :, None] * y[..., None, :]).reshape(h, w, 9)],
        axis=-1,
    )  # (h, w, 24)
    stats = np.einsum("gh,hwc,fw->gfc", _area_matrix(h, gh), moments, _area_matrix(w, gw), optimize=True)
    global_fit = ridge_affine_fit(moments.mean(axis=(0, 1)), eps, np.eye(3))
    grid = ridge_affine_fit(_blur(stats), eps, global_fit[:, :3])
    return _blur(grid).astype(np.float32)


def _lerp_index(n_out: int, n_grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear (half-pixel centred, edge clamped) lookup of n_out samples in n_grid nodes.

    Returns i0, i1 (n_out,) int and t (n_out,) float32 with value = (1 - t) g[i0] + t g[i1].
    """
    u = np.clip((np.arange(n_out) + 0.5) * (n_grid / n_out) - 0.5, 0, n_grid - 1)
    i0 = np.floor(u).astype(np.intp)
    return i0, np.minimum(i0 + 1, n_grid - 1), (u - i0).astype(np.float32)


def apply_affine_grid(content_full: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Apply a coefficient grid to a full-resolution image.

    content_full: (H, W, 3), uint8 or float in [0, 1].
    grid: (gh, gw, 3, 4) from fit_affine_grid.
    Returns (H, W, 3) uint8.

    The grid is first interpolated along x to full width (gh x W, small), then row
    strips of ~STRIP_PIXELS pixels interpolate along y and apply the matrices in
    float32; strips run on a thread pool and write into the preallocated output.
    """
    check_rgb_array(content_full, "content_full")
    if grid.ndim != 4 or grid.shape[2:] != (3, 4):
        raise ValueError(f"grid must have shape (gh, gw, 3, 4), got {grid.shape}")
    H, W = content_full.shape[:2]
    gh, gw = grid.shape[:2]
    # Work in output units [0, 255]; a uint8 input is fed as-is, so rescale its slopes.
    scale = np.full((3, 4), 255.0, dtype=np.float32)
    if content_full.dtype == np.uint8:
        scale[:, :3] = 1.0
    g = grid.astype(np.float32) * scale
    j0, j1, s = _lerp_index(W, gw)
    hx = g[:, j0] + s[:, None, None] * (g[:, j1] - g[:, j0])  # (gh, W, 3, 4)
    hx = np.ascontiguousarray(hx.reshape(gh, W, 12).transpose(0, 2, 1))  # (gh, 12, W)
    dx = hx[np.minimum(np.arange(gh) + 1, gh - 1)] - hx  # next-row difference
    i0, _, t = _lerp_index(H, gh)
    out = np.empty((H, W, 3), dtype=np.uint8)

    def strip(y0: int) -> None:
        y1 = min(y0 + rows, H)
        c = dx[i0[y0:y1]]
        c *= t[y0:y1, None, None]
        c += hx[i0[y0:y1]]
        c = c.reshape(y1 - y0, 3, 4, W)  # (S, out channel, [r, g, b, 1], W)
        c[:, :, :3] *= content_full[y0:y1].transpose(0, 2, 1)[:, None].astype(np.float32)
        o = c.sum(axis=2)  # (S, 3, W)
        np.clip(o, 0, 255, out=o)
        o += 0.5
        np.copyto(out[y0:y1], o.transpose(0, 2, 1), casting="unsafe")

    rows = max(1, STRIP_PIXELS // W)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(strip, range(0, H, rows)))
    return out


def transfer_colour(
    content_full, content_low, result_low, *, grid_size: int = GRID_SIZE, eps: float = EPS
) -> np.ndarray:
    """Re-colour the full-res content the way the network re-coloured its low-res copy.

    content_full: (H, W, 3), the original photo.
    content_low: (h, w, 3), the low-res content exactly as the network saw it.
    result_low: (h, w, 3), the network's low-res result.
    Each is a uint8 [0, 255] or float [0, 1] array, or a PIL image.
    grid_size, eps: see GRID_SIZE and EPS.
    Returns (H, W, 3) uint8.
    """
    images = {"content_full": content_full, "content_low": content_low, "result_low": result_low}
    for name, img in images.items():
        images[name] = check_rgb_array(np.asarray(to_rgb(img, name)) if isinstance(img, Image.Image) else img, name)
    content_full, content_low, result_low = images.values()
    (H, W), (h, w) = content_full.shape[:2], content_low.shape[:2]
    if abs(h * W / H - w) > 1 and abs(w * H / W - h) > 1:
        raise ValueError(f"low-res size {w}x{h} has a different aspect ratio than full-res {W}x{H}")
    return apply_affine_grid(content_full, fit_affine_grid(content_low, result_low, grid_size, eps))
