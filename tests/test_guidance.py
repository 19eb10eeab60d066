import numpy as np
import pytest
import torch

from conftest import randomize_zero_init, textured_image
from recolor_hf import RecolorPipeline
from recolor_hf.guidance import Guidance, patch_of
from recolor_hf.models.predictor import LatentMapPredictor, cosine_attention, hard_attention

GRID = (4, 4)


def features(seed: int, channels: int = 8) -> torch.Tensor:
    return torch.randn(1, channels, *GRID, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def inputs():
    """F_S, F_R, W0R, W0S on a 4x4 grid; source patches 0, 5 and 10 share one semantic feature."""
    source = features(0)
    flat = source.view(1, 8, -1)
    flat[:, :, 5] = flat[:, :, 10] = flat[:, :, 0]
    return source, features(1), features(2, 6), features(3, 6)


def test_pair_takes_the_clicked_reference_value(inputs):
    source, reference, reference_map, source_map = inputs
    s, r = (0.1, 0.1), (0.8, 0.6)  # source patch 0, reference patch (row 2, col 3)
    match = Guidance(pairs=[(s, r)]).as_guide()(source, reference, reference_map, source_map)
    i, j = patch_of(s, GRID), patch_of(r, GRID)
    assert (i, j) == (0, 11)
    assert torch.equal(match.warped.flatten(2)[0, :, i], reference_map.flatten(2)[0, :, j])
    assert match.index[0, i] == j and match.confidence.flatten()[i] == 1  # the user's match is certain
    assert match.warped.shape == (1, 6, *GRID) and match.confidence.shape == (1, 1, *GRID)


def test_keep_points_keep_the_source_value(inputs):
    source, reference, reference_map, source_map = inputs
    match = Guidance(pairs=[((0.1, 0.1), (0.9, 0.9))], keep=[(0.9, 0.1)]).correspond(*inputs)
    k = patch_of((0.9, 0.1), GRID)
    assert torch.equal(match.warped.flatten(2)[0, :, k], source_map.flatten(2)[0, :, k])
    assert match.index[0, k] == -1 and match.confidence.flatten()[k] == 1


def test_similar_patches_follow_the_clicked_one(inputs):
    """Hard(A_S ⊙ c): patches 5 and 10 have patch 0's feature, so they take patch 0's value, not the keep's."""
    source, reference, reference_map, source_map = inputs
    match = Guidance(pairs=[((0.1, 0.1), (0.9, 0.9))], keep=[(0.9, 0.9)]).correspond(*inputs)
    warped = match.warped.flatten(2)[0]
    assert torch.equal(warped[:, 5], warped[:, 0]) and torch.equal(warped[:, 10], warped[:, 0])
    assert match.index[0, 5] == match.index[0, 0] == 15
    assigned = (reference_map.flatten(2)[0, :, 15], source_map.flatten(2)[0, :, 15])
    assert all(any(torch.equal(warped[:, n], a) for a in assigned) for n in range(16))  # all copy an assigned one


def test_guidance_and_predictor_share_hard_attention(inputs):
    """One Hard(): masks over the whole images give the predictor's automatic match (Hard(A_C) W0R), and patches
    the clicks leave free take the assigned patch that Hard(A_S ⊙ c) picks on the source's self-attention."""
    source, reference, reference_map, source_map = inputs
    index, confidence = hard_attention(cosine_attention(source, reference))
    whole = np.ones((8, 8), bool)
    guided = Guidance(content_mask=whole, reference_mask=whole).correspond(*inputs)
    automatic = LatentMapPredictor.correspond(source, reference, reference_map)
    for match in (guided, automatic):
        assert torch.equal(match.index, index)
        torch.testing.assert_close(match.confidence.flatten(1), confidence)
    torch.testing.assert_close(guided.warped, automatic.warped)

    clicked, kept = patch_of((0.1, 0.1), GRID), patch_of((0.9, 0.1), GRID)
    match = Guidance(pairs=[((0.1, 0.1), (0.9, 0.9))], keep=[(0.9, 0.1)]).correspond(*inputs)
    assigned = torch.zeros(GRID[0] * GRID[1], dtype=torch.bool)
    assigned[[clicked, kept]] = True
    nearest, similarity = hard_attention(cosine_attention(source, source), assigned[None, None])
    free = ~assigned
    expected = torch.where(nearest[0] == clicked, patch_of((0.9, 0.9), GRID), -1)
    assert torch.equal(match.index[0, free], expected[free]) and len(set(expected[free].tolist())) == 2
    torch.testing.assert_close(match.confidence.flatten()[free], similarity[0, free])


def test_masks_restrict_the_match(inputs):
    source, reference, reference_map, source_map = inputs
    source_mask = np.zeros((40, 40), bool)
    source_mask[:20] = True  # top half of the source
    reference_mask = np.zeros((80, 80), bool)
    reference_mask[60:, 60:] = True  # the bottom-right reference patch
    match = Guidance(content_mask=source_mask, reference_mask=reference_mask).correspond(*inputs)
    assert (match.index[0, :8] == 15).all()  # painted source patches only match inside the reference mask
    assert (match.index[0] == 15).all()  # the rest copies them


def test_bad_guidance_is_refused():
    with pytest.raises(ValueError, match="outside the image"):
        Guidance(pairs=[((0.5, 1.2), (0.5, 0.5))])
    with pytest.raises(ValueError, match="empty"):
        Guidance(content_mask=np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match=r"\(H, W\) array"):
        Guidance(content_mask=np.ones((10, 10, 3), bool))
    with pytest.raises(ValueError, match="guidance is empty"):
        Guidance()
    with pytest.raises(ValueError, match="reference_mask is 10x10 but the reference image is 300x200"):
        Guidance(reference_mask=np.ones((10, 10), bool)).as_guide((300, 200), (300, 200))


def test_pipeline_runs_with_a_guide():
    pipe = RecolorPipeline.from_preset("tiny", seed=1)
    randomize_zero_init(pipe.generator, pipe.predictor)
    content, reference = textured_image(96, 128, seed=3), textured_image(80, 80, seed=4)
    plain = pipe(content, reference, output_type="np").images[0]
    guide = Guidance(pairs=[((0.2, 0.2), (0.7, 0.7))], keep=[(0.8, 0.8)]).as_guide(content.size, reference.size)
    guided = pipe(content, reference, output_type="np", guide=guide).images[0]
    assert guided.shape == plain.shape == (96, 128, 3)
    assert np.abs(guided - plain).max() > 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_guided_correspondence_keeps_the_dtype(inputs, dtype):
    """Half-precision pipelines get a half-precision W~0R and confidence (the predictor concatenates them)."""
    source, reference, reference_map, source_map = (x.to(dtype) for x in inputs)
    guide = Guidance(pairs=[((0.1, 0.1), (0.9, 0.9))], keep=[(0.9, 0.1)])
    match = guide.correspond(source, reference, reference_map, source_map)
    assert match.warped.dtype == match.confidence.dtype == dtype
