"""Online stylization (supp. C.7): optimise the latent directly to minimise the w0 loss, networks frozen.

Instead of predicting W with P_W, gradient descent (Adam) on either the 1-D code w (mode "code", starting from
E_w(I_S, I_R), rendering G'(I_S, w)) or the latent maps W = (W1, W2, W3) (mode "maps", starting from the
predictor's maps, rendering G'(base, W) on the predictor's base image) minimises
L_w0(I_R, G'(., .)) = ||w0(I_R) - w0(G'(., .))||_1 (main eq. 2). Only the latent receives gradients. The paper
notes that "maps" shows artifacts: nothing keeps the optimised maps spatially smooth.
"""

from typing import Callable, Iterator

import torch

from .fallback import check_fallback
from .losses import w0_loss
from .models.colour import patch_statistics, rgb_to_lab
from .models.correspondence import Correspondence
from .models.transfer import local_transfer
from .pipeline import RecolorPipeline
from .steps import RecolorLatents

MODES = ("code", "maps")
LEARNING_RATE = 0.05  # Adam; latents are O(1) in both modes


class LatentOptimizer:
    """One content / reference pair under optimisation; ``step()`` makes one Adam update and returns the loss
    before it, ``run()`` is the loop of steps, ``latents()`` gives a ``RecolorLatents`` that ``pipe.decode``
    renders at full resolution (the current latent, or the one with the lowest loss seen so far)."""

    def __init__(self, pipe: RecolorPipeline, content, reference, mode: str = "code", lr: float | None = None,
                 fallback: str = "global"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        check_fallback(fallback)  # the "maps" mode's starting prediction (``RecolorPipeline``'s fallback)
        contents, references = pipe.prepare(content, "content"), pipe.prepare(reference, "reference")
        if len(contents.images) != 1 or len(references.images) != 1:
            raise ValueError("online optimisation takes one content and one reference")
        self.pipe, self.mode, self.contents = pipe, mode, contents.images
        self.content, self.reference = contents.working, references.working
        with torch.no_grad():
            if mode == "code":
                self.start = self.identity_latents(pipe.self_map(self.content))
                start = [pipe.latent_encoder(self.content, self.reference)]
            else:
                self.start = pipe.predict(self.content, self.reference, fallback=fallback)
                start = list(self.start.maps)
                self.base = local_transfer(self.content, self.start.content_stats, self.start.target_stats)
        self.params = [p.detach().clone().requires_grad_(True) for p in start]
        self.optimizer = torch.optim.Adam(self.params, lr=LEARNING_RATE if lr is None else lr)
        self.steps_done = 0
        # the lowest loss measured, the number of updates made before it (0-based step) and the latent it measured
        self.best_loss, self.best_step, self.best_params = float("inf"), None, None

    def identity_latents(self, content_map: torch.Tensor) -> RecolorLatents:
        """Latents whose base is the content itself: statistics S_S -> S_S, every patch its own (index -1)."""
        h, w = content_map.shape[-2:]
        stats = patch_statistics(rgb_to_lab(self.content), (h, w))
        match = Correspondence(content_map, torch.ones_like(content_map[:, :1]),
                               torch.full((1, h * w), -1, dtype=torch.long, device=content_map.device))
        return RecolorLatents((content_map,) * 3, content_map, match, stats, stats, self.content)

    def render(self) -> torch.Tensor:
        """G'(I_S, w) or G'(base, W) at the working resolution, clamped to [0, 1]."""
        if self.mode == "code":
            return self.pipe.generator(self.content, w=self.params[0]).clamp(0, 1)
        return self.pipe.generator(self.base, maps=tuple(self.params)).clamp(0, 1)

    def step(self) -> float:
        """One Adam update of the latent on L_w0(I_R, G'(I_S, latent)); returns the loss before the update and
        remembers the latent it was measured on if it is the lowest so far."""
        with torch.enable_grad():
            image = self.render()
            loss = w0_loss(self.pipe, image, self.reference).mean()
            self.optimizer.zero_grad()
            loss.backward(inputs=self.params)
        if loss.item() < self.best_loss:
            self.best_loss, self.best_step = loss.item(), self.steps_done
            self.best_params = [p.detach().clone() for p in self.params]
        self.optimizer.step()
        self.steps_done += 1
        return loss.item()

    def run(self, steps: int, should_stop: Callable[[], bool] | None = None) -> Iterator[float]:
        """The optimisation loop: up to ``steps`` updates, yielding the loss before each; ``should_stop`` is polled
        before each update and ends the loop early when it returns True."""
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        for _ in range(steps):
            if should_stop is not None and should_stop():
                return
            yield self.step()

    def latents(self, best: bool = False) -> RecolorLatents:
        """The current result (or with ``best``, the latent with the lowest loss measured so far), ready for
        ``pipe.decode`` (alpha 1 renders exactly that latent)."""
        params = self.best_params if best and self.best_params is not None else self.params
        if self.mode == "code":  # a 1-D code is a constant (B, D, 1, 1) map at every level
            maps = (params[0].detach()[:, :, None, None],) * 3
        else:
            maps = tuple(p.detach() for p in params)
        start = self.start
        return RecolorLatents(maps, start.base_map, start.correspondence, start.content_stats, start.target_stats,
                              self.content, self.contents)

