"""The mask oracle (DESIGN §6): what an editor with semantic masks produces, the ground truth of the DPST
benchmark (``eval.benchmark.dpst_oracle_pairs``) and of the training pairs of different photos
(``train/feature_cache.py``, ``OraclePairs``, on regions clustered from the backbone's features)."""

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.color import lab2rgb, rgb2lab

from .image_io import to_uint8

MIN_AREA = 0.005  # a mask class counts (oracle match, click region) when it covers this share of its image
ORACLE_SIGMA = 2.0  # std (px) of the oracle's mask softening at a 512 px long side; scales with the image


def large_classes(labels: np.ndarray) -> list[int]:
    """Classes of a class map covering at least MIN_AREA of it, largest first."""
    values, counts = np.unique(labels, return_counts=True)
    return [int(values[i]) for i in np.argsort(-counts, kind="stable") if counts[i] >= MIN_AREA * labels.size]


def mask_oracle(
    content: np.ndarray, reference: np.ndarray, content_mask: np.ndarray, reference_mask: np.ndarray
) -> np.ndarray:
    """What an editor with semantic masks produces (DESIGN §6): uint8 at the content's size.

    Each class covering >= MIN_AREA of both images takes the reference region's CIELAB mean and std (per channel);
    content pixels of the other classes take the global transfer (whole content -> whole reference). The transfers are
    blended with one-hot class masks softened by a Gaussian (ORACLE_SIGMA px at a 512 px long side), normalised to
    sum 1. Masks are (H, W) class maps at their image's size (``eval.benchmark.mask_labels`` for DPST).
    """
    lab_s, lab_r = rgb2lab(content), rgb2lab(reference)

    def transfer(pixels_s: np.ndarray, pixels_r: np.ndarray) -> np.ndarray:  # (N, 3) Lab pixels of the two regions
        scale = pixels_r.std(0) / np.maximum(pixels_s.std(0), 1e-6)
        return (lab_s - pixels_s.mean(0)) * scale + pixels_r.mean(0)

    reference_classes = large_classes(reference_mask)
    shared = [c for c in large_classes(content_mask) if c in reference_classes]
    regions = [content_mask == c for c in shared]
    edits = [transfer(lab_s[region], lab_r[reference_mask == c]) for c, region in zip(shared, regions)]
    regions.append(~np.isin(content_mask, shared))  # classes absent from the reference (or too small)
    edits.append(transfer(lab_s.reshape(-1, 3), lab_r.reshape(-1, 3)))
    sigma = ORACLE_SIGMA * max(content.shape[:2]) / 512
    weights = np.stack([gaussian_filter(region.astype(np.float64), sigma) for region in regions])
    weights /= np.maximum(weights.sum(0), 1e-12)
    return to_uint8(lab2rgb(np.einsum("khw,khwc->hwc", weights, np.stack(edits))))
