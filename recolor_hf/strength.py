"""The strength alpha (supp. eq. 3): its range, its check and what it does.

    W' = W0 + alpha (W - W0(base))          on P_W's maps (``interpolate_maps``)
    S' = S_S moved by alpha t(S_S -> T)     on colour statistics (``interpolate_statistics``; ``models.transfer``)

``check_alpha`` is plain Python (numpy scalars are ``numbers.Real``), so that the ``recolor`` command refuses a bad
``--alpha`` before loading numpy, torch or the pipeline; the two interpolations import torch's side when called.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ALPHA_RANGE = (0.0, 2.0)


def check_alpha(alpha) -> float:
    """The strength must be a real number in [0, 2]."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"alpha must be a number in [{ALPHA_RANGE[0]}, {ALPHA_RANGE[1]}], got {alpha!r}")
    if not math.isfinite(alpha) or not ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1]:
        raise ValueError(f"alpha must be in [{ALPHA_RANGE[0]}, {ALPHA_RANGE[1]}], got {alpha}")
    return float(alpha)


def interpolate_statistics(content: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """Strength on statistics (B, 6, ...): S moved by alpha t(S -> T) (means linearly, stds geometrically)."""
    from .models.transfer import apply_transfer, statistics_transfer

    return apply_transfer(content, alpha * statistics_transfer(content, target))


def interpolate_maps(maps: tuple[torch.Tensor, ...], base_map: torch.Tensor, alpha: float,
                     start_map: torch.Tensor | None = None) -> tuple:
    """W' = W0 + alpha (W - W0(base)) (supp. eq. 3 with W0 = ``start_map``, default W0(base)), maps resized."""
    from .models.layers import resize_map

    start_map = base_map if start_map is None else start_map
    return tuple(resize_map(start_map, m.shape[-2:]) + alpha * (m - resize_map(base_map, m.shape[-2:]))
                 for m in maps)
