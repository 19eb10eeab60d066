import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from conftest import randomize_zero_init, textured_image
from recolor_hf import RecolorPipeline
from recolor_hf.guidance import PROPAGATION_THRESHOLD, Guidance, RegionEdit, edge_aware_weight, patch_of
from recolor_hf.models.colour import rgb_to_lab
from recolor_hf.models.correspondence import correspond, cosine_attention, hard_attention

GRID = (4, 4)


def features(seed: int, channels: int = 8) -> torch.Tensor:
    return torch.randn(1, channels, *GRID, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def inputs():
    """F_S, F_R, W0R, W0S on a 4x4 grid; content patches 0, 5 and 10 share one semantic feature."""
    content = features(0)
    flat = content.view(1, 8, -1)
    flat[:, :, 5] = flat[:, :, 10] = flat[:, :, 0]
    return content, features(1), features(2, 6), features(3, 6)


def test_pair_takes_the_clicked_reference_value(inputs):
    content, reference, reference_map, content_map = inputs
    s, r = (0.1, 0.1), (0.8, 0.6)  # content patch 0, reference patch (row 2, col 3)
    match = Guidance(pairs=[(s, r)]).as_guide()(content, reference, reference_map, content_map)
    i, j = patch_of(s, GRID), patch_of(r, GRID)
    assert (i, j) == (0, 11)
    assert torch.equal(match.warped.flatten(2)[0, :, i], reference_map.flatten(2)[0, :, j])
    assert match.index[0, i] == j and match.confidence.flatten()[i] == 1  # the user's match is certain
    assert match.warped.shape == (1, 6, *GRID) and match.confidence.shape == (1, 1, *GRID)


def test_keep_points_keep_the_content_value(inputs):
    content, reference, reference_map, content_map = inputs
    match = Guidance(pairs=[((0.1, 0.1), (0.9, 0.9))], keep=[(0.9, 0.1)]).correspond(*inputs)
    k = patch_of((0.9, 0.1), GRID)
    assert torch.equal(match.warped.flatten(2)[0, :, k], content_map.flatten(2)[0, :, k])
    assert match.index[0, k] == -1 and match.confidence.flatten()[k] == 1


def test_similar_patches_follow_the_clicked_one(inputs):
    """Hard(A_S ⊙ c): patches 5 and 10 have patch 0's feature, so they take patch 0's value, not the keep's."""
    content, reference, reference_map, content_map = inputs
    match = Guidance(pairs=[((0.1, 0.1), (0.9, 0.9))], keep=[(0.9, 0.9)]).correspond(*inputs)
    warped = match.warped.flatten(2)[0]
    assert torch.equal(warped[:, 5], warped[:, 0]) and torch.equal(warped[:, 10], warped[:, 0])
    assert match.index[0, 5] == match.index[0, 0] == 15


def test_only_similar_patches_follow_a_click_the_rest_keep_the_automatic_match(inputs):
    """A free patch follows its most similar click only from PROPAGATION_THRESHOLD; a keep point alone does not
    freeze the photo."""
    content, reference, reference_map, content_map = inputs
    index, confidence = hard_attention(cosine_attention(content, reference))
    automatic = correspond(content, reference, reference_map)
    kept = patch_of((0.1, 0.1), GRID)
    match = Guidance(keep=[(0.1, 0.1)]).correspond(*inputs, automatic=automatic)
    similarity = cosine_attention(content, content)[0, kept]
    follows = similarity >= PROPAGATION_THRESHOLD
    assert follows[[0, 5, 10]].all() and not follows.all()  # the random features: some similar, some not
    assert (match.index[0, follows] == -1).all()
    assert torch.equal(match.index[0, ~follows], index[0, ~follows])
    torch.testing.assert_close(match.confidence.flatten()[~follows], confidence[0, ~follows])
    torch.testing.assert_close(match.warped.flatten(2)[..., ~follows], automatic.warped.flatten(2)[..., ~follows])
    without = Guidance(keep=[(0.1, 0.1)]).correspond(*inputs)  # no automatic match given: Hard(A_C) W0R
    assert torch.equal(without.index, match.index)


def test_painting_leaves_the_correspondence_alone(inputs):
    content, reference, reference_map, content_map = inputs
    content_mask = np.zeros((40, 40), bool)
    content_mask[:20] = True  # top half of the content
    reference_mask = np.zeros((80, 80), bool)
    reference_mask[60:, 60:] = True  # the bottom-right reference patch
    automatic = correspond(content, reference, reference_map)
    match = Guidance(content_mask=content_mask, reference_mask=reference_mask).correspond(*inputs, automatic=automatic)
    assert torch.equal(match.index, automatic.index) and torch.equal(match.warped, automatic.warped)


def test_apply_full_keeps_and_paints_only_their_pixels():
    content = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    result = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    region = np.zeros((15, 20), bool)
    region[:, 10:] = True  # the right half, at half the resolution
    mean, std = torch.tensor([50.0, 0, 0]).view(1, 3, 1, 1), torch.full((1, 3, 1, 1), 10.0)
    edit = RegionEdit(*torch.zeros(2, 1, 1, 8, 8), mean, std, mean + torch.tensor([0, 30.0, 0]).view(1, 3, 1, 1),
                      std, region)
    out = edit.apply_full(content, result, 1.0)
    assert np.array_equal(out[:, :20], result[:, :20])  # outside: the result, exactly
    shift = rgb2lab(out[:, 20:]) - rgb2lab(content[:, 20:])
    assert shift[..., 1].mean() > 20  # inside: the region's a shift, from the content
    edit.region = None  # nothing painted: the result as it is
    assert np.array_equal(edit.apply_full(content, result, 1.0), result)
    edit.keep[..., :4, :] = 1.0  # the top half kept: the content there, at full resolution
    out = edit.apply_full(content, result, 1.0)
    assert np.array_equal(out[:15], content[:15]) and np.array_equal(out[15:], result[15:])


def test_edge_aware_weight_follows_the_photo_edge():
    """A patch mask on a 4x4 grid of a photo whose colour edge runs inside the second patch column: the weight
    follows the edge, not the patch boundary."""
    image = torch.zeros(1, 3, 32, 32)
    image[:, 0, :, :12] = 1.0  # red left of column 12, black right of it; patches are 8 px wide
    cells = torch.zeros(1, 1, 4, 4)
    cells[..., :2] = 1.0  # the two left patch columns (0-15 px)
    weight = edge_aware_weight(cells, rgb_to_lab(image))[0, 0]
    assert (weight[:, :12] > 0.9).all() and (weight[:, 12:] < 0.1).all()


def test_region_edit_keeps_and_transfers_pixels():
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    rendered = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    keep, paint = torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)
    keep[..., :8], paint[..., 8:] = 1.0, 1.0
    mean, std = torch.tensor([50.0, 0, 0]).view(1, 3, 1, 1), torch.full((1, 3, 1, 1), 10.0)
    edit = RegionEdit(keep, paint, mean, std, mean + torch.tensor([0, 30.0, 0]).view(1, 3, 1, 1), std)
    out = edit.apply(content, rendered, 1.0)
    torch.testing.assert_close(out[..., :8], content[..., :8])  # kept pixels: the content
    shift = rgb_to_lab(out[..., 8:]) - rgb_to_lab(content[..., 8:])
    assert shift[:, 1].mean() > 20  # painted pixels: the region's a shift (gamut clipping aside)
    torch.testing.assert_close(edit.apply(content, rendered, 0.0)[..., 8:], content[..., 8:], atol=1e-4, rtol=0)


def test_painted_pair_moves_the_region_to_the_painted_colour():
    """A painted pair through the pipeline: the painted content region's mean goes at least half way to the painted
    reference region's mean, the rest as without the painting."""
    from skimage.color import deltaE_ciede2000

    pipe = RecolorPipeline.from_preset("tiny", seed=1)
    randomize_zero_init(pipe.generator, pipe.predictor)
    content, reference = textured_image(96, 128, seed=3), textured_image(80, 80, seed=4)
    content_mask, reference_mask = np.zeros((96, 128), bool), np.zeros((80, 80), bool)
    content_mask[48:], reference_mask[:, :30] = True, True
    guide = Guidance(content_mask=content_mask, reference_mask=reference_mask).as_guide(content.size, reference.size)
    out = rgb2lab(pipe(content, reference, output_type="np", guide=guide).images[0])
    content_lab, target = rgb2lab(np.asarray(content)), rgb2lab(np.asarray(reference))[reference_mask].mean(0)
    before = deltaE_ciede2000(content_lab[content_mask].mean(0), target)
    after = deltaE_ciede2000(out[content_mask].mean(0), target)
    assert before > 5 and after < 0.5 * before
    automatic = rgb2lab(pipe(content, reference, output_type="np").images[0])
    np.testing.assert_array_equal(out[~content_mask], automatic[~content_mask])  # the rest: as without the painting


def test_a_guided_batch_equals_its_items():
    """Each content of a batch gets its own kept pixels and its own painted region's statistics at full resolution
    (not the first content's)."""
    pipe = RecolorPipeline.from_preset("tiny", seed=1)
    first, second, reference = (textured_image(96, 128, seed=s) for s in (3, 5, 4))
    content_mask, reference_mask = np.zeros((96, 128), bool), np.zeros((80, 80), bool)
    content_mask[48:], reference_mask[:, :30] = True, True
    reference = reference.resize((80, 80))
    guide = Guidance(keep=[(0.2, 0.2)], content_mask=content_mask, reference_mask=reference_mask)
    batch = pipe([first, second], reference, output_type="np", guide=guide).images
    for content, out in zip((first, second), batch):
        single = pipe(content, reference, output_type="np", guide=guide).images[0]
        assert np.abs(out - single).max() <= 2 / 255


def test_bad_guidance_is_refused():
    with pytest.raises(ValueError, match="outside the image"):
        Guidance(pairs=[((0.5, 1.2), (0.5, 0.5))])
    with pytest.raises(ValueError, match="empty"):
        Guidance(content_mask=np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match=r"\(H, W\) array"):
        Guidance(content_mask=np.ones((10, 10, 3), bool))
    with pytest.raises(ValueError, match="guidance is empty: give a pair, a keep point or a painted region"):
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
    content, reference, reference_map, content_map = (x.to(dtype) for x in inputs)
    guide = Guidance(pairs=[((0.1, 0.1), (0.9, 0.9))], keep=[(0.9, 0.1)])
    match = guide.correspond(content, reference, reference_map, content_map)
    assert match.warped.dtype == match.confidence.dtype == dtype
