import pytest
import torch

from conftest import randomize_zero_init, textured_image
from recolor_hf import RecolorPipeline
from recolor_hf.losses import w0_loss
from recolor_hf.optimize import LatentOptimizer


@pytest.fixture(scope="module")
def pipe():
    """A tiny pipeline whose generator is not the identity (untrained, its RGB output is zero whatever the latent)."""
    pipe = RecolorPipeline.from_preset("tiny", seed=2)
    torch.manual_seed(0)  # the generator's random output layers must not depend on the other components' sizes
    randomize_zero_init(pipe.generator)
    return pipe


@pytest.fixture(scope="module")
def pair():
    return textured_image(90, 120, seed=5), textured_image(64, 64, seed=6)


@pytest.mark.parametrize("mode", ["code", "maps"])
def test_w0_loss_decreases(pipe, pair, mode):
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    optimizer = LatentOptimizer(pipe, *pair, mode=mode)
    losses = list(optimizer.run(4))
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert pipe.decode(optimizer.latents())[0].size == (120, 90)
    assert all(torch.equal(before[k], v) for k, v in pipe.generator.state_dict().items())  # networks frozen
    assert all(p.grad is None for p in pipe.generator.parameters())


def test_should_stop_ends_early(pipe, pair):
    calls = []
    losses = list(LatentOptimizer(pipe, *pair).run(10, should_stop=lambda: calls.append(1) or len(calls) > 2))
    assert len(losses) == 2


def test_bad_arguments(pipe, pair):
    with pytest.raises(ValueError, match="mode must be one of"):
        LatentOptimizer(pipe, *pair, mode="pixels")
    with pytest.raises(ValueError, match="one content"):
        LatentOptimizer(pipe, [pair[0], pair[0]], pair[1])


def test_run_loop_keeps_the_best_latent(pipe, pair):
    optimizer = LatentOptimizer(pipe, *pair, mode="maps")
    losses = list(optimizer.run(5, should_stop=lambda: optimizer.steps_done == 3))
    assert len(losses) == 3 == optimizer.steps_done
    assert optimizer.best_loss == min(losses) and optimizer.best_step == losses.index(min(losses))
    best, current = optimizer.latents(best=True), optimizer.latents()
    assert not torch.equal(best.maps[0], current.maps[0])  # the best was measured before the last update
    rendered = pipe.render(best).clamp(0, 1)
    assert w0_loss(pipe, rendered, optimizer.reference).item() == pytest.approx(min(losses), rel=1e-4)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        list(optimizer.run(-1))
