"""What content the reference lacks becomes: the fallback for patches whose match is not trusted.

- "global": the reference's overall colours, the whole-image Lab transfer Reinhard(S_S) (photos of different scenes
  or light; the DPST mask oracle's rule for classes the reference lacks). The default.
- "look": the look that the matched content shows, one affine colour transform fitted on the trusted matches (two
  photos of one scene or shoot under one look: the content's other regions take that look).
- "keep": no change: only what matches the reference is re-coloured.

``check_fallback`` is plain Python, so that the ``recolor`` command refuses a bad ``--fallback`` before loading
torch; ``models.transfer.fallback_statistics`` computes the fallbacks.
"""

FALLBACKS = ("global", "look", "keep")


def check_fallback(fallback: str) -> str:
    """``fallback`` if it is one of FALLBACKS, else a ValueError naming them."""
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    return fallback
