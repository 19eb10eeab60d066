"""The strength alpha (supp. eq. 3): its range and its check. Plain Python (numpy scalars are ``numbers.Real``),
so that the ``recolor`` command refuses a bad ``--alpha`` before loading numpy, torch or the pipeline."""

import math
import numbers

ALPHA_RANGE = (0.0, 2.0)


def check_alpha(alpha) -> float:
    """The strength must be a real number in [0, 2]."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"alpha must be a number in [{ALPHA_RANGE[0]}, {ALPHA_RANGE[1]}], got {alpha!r}")
    if not math.isfinite(alpha) or not ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1]:
        raise ValueError(f"alpha must be in [{ALPHA_RANGE[0]}, {ALPHA_RANGE[1]}], got {alpha}")
    return float(alpha)
