import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from recolor_hf import RecolorPipeline
from recolor_hf.guidance import Guidance
from recolor_hf.models.colour import lab_to_rgb, patch_statistics, rgb_to_lab
from recolor_hf.models.correspondence import colour_prior, gather_statistics, hard_warp
from recolor_hf.models.transfer import (confidence_weight, fallback_statistics, fitted_means, global_transfer,
                                        local_transfer, smooth_transfer, target_statistics, trusted_target)
from recolor_hf.strength import interpolate_statistics

NO_SMOOTHING = (1e-3, 1e-3)  # spatial and colour sigmas far below the patch spacing: each patch alone


def test_lab_round_trip():
    rgb = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4, rtol=0)


def test_target_statistics_follow_confidence_and_keep():
    content = torch.zeros(1, 6, 1, 3)
    content[:, 3:] = 5.0
    reference = torch.zeros(1, 6, 1, 2)
    reference[:, 0], reference[:, 1], reference[:, 3:] = torch.tensor([20.0, 80.0]), 30.0, 10.0
    index = torch.tensor([[1, 0, -1]])
    confidence = torch.tensor([0.9, 0.1, 1.0]).view(1, 1, 1, 3)
    content_lab, reference_lab = torch.full((1, 3, 4, 4), 50.0), torch.full((1, 3, 4, 4), 10.0)
    whole_s, whole = (patch_statistics(lab, (1, 1)) for lab in (content_lab, reference_lab))
    target, gathered, _ = target_statistics(content, reference, index, confidence, (0.3, 0.6), whole_s, whole,
                                         NO_SMOOTHING)
    torch.testing.assert_close(target[0, :, 0, 0], reference[0, :, 0, 1])  # confident: the matched patch
    torch.testing.assert_close(gathered[0, :, 0, 1], reference[0, :, 0, 0])  # the raw match, before the fallback
    torch.testing.assert_close(target[0, :3, 0, 1], whole[0, :3, 0, 0] - 50.0 + content[0, :3, 0, 1])  # global
    torch.testing.assert_close(target[0, :, 0, 2], content[0, :, 0, 2])  # kept (index -1)
    torch.testing.assert_close(gather_statistics(reference, content, index)[0, :, 0, 0], reference[0, :, 0, 1])


def test_fallback_replaces_the_global_transfer_where_the_match_is_distrusted():
    """trusted_target's fallback: by default Reinhard(S_S) (the same result when given explicitly); the content's
    own statistics as fallback leave a distrusted patch unchanged while a trusted one still takes its match."""
    content = torch.zeros(1, 6, 1, 2)
    content[:, 0], content[:, 3:] = torch.tensor([30.0, 60.0]), 5.0
    gathered = content.clone()
    gathered[:, 0] += 20.0
    trust, keep = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2), torch.zeros(1, 1, 1, 2, dtype=torch.bool)
    whole_s = content.mean((2, 3), keepdim=True)
    whole_r = whole_s - torch.tensor([20.0, 0, 0, 0, 0, 0]).view(1, 6, 1, 1)  # the reference 20 darker
    default = trusted_target(content, gathered, trust, keep, whole_s, whole_r, NO_SMOOTHING)
    torch.testing.assert_close(trusted_target(content, gathered, trust, keep, whole_s, whole_r, NO_SMOOTHING,
                                              fallback=global_transfer(content, whole_s, whole_r)), default)
    assert default[0, 0, 0, 1] == pytest.approx(40.0)  # distrusted: the global move, -20
    kept = trusted_target(content, gathered, trust, keep, whole_s, whole_r, NO_SMOOTHING, fallback=content)
    torch.testing.assert_close(kept[..., 1], content[..., 1])
    torch.testing.assert_close(kept[..., 0], gathered[..., 0])


def test_fitted_means_recover_one_look_from_trusted_matches_only():
    """The fitted colour transform finds an affine look of the Lab means from the trusted matches alone (wrong,
    distrusted matches do not bend it) and carries it to every patch; a huge ridge leaves only the mean shift."""
    torch.manual_seed(0)
    content = torch.cat([torch.rand(1, 3, 4, 4) * torch.tensor([60.0, 40, 40]).view(1, 3, 1, 1)
                         + torch.tensor([20.0, -20, -20]).view(1, 3, 1, 1), 5 * torch.ones(1, 3, 4, 4)], 1)
    look = torch.tensor([[0.8, 0.0, 0.0], [0.1, 1.1, 0.0], [0.0, -0.2, 0.9]])
    truth = torch.einsum("ij,bjhw->bihw", look, content[:, :3]) + torch.tensor([5.0, 8, -6]).view(1, 3, 1, 1)
    gathered = torch.cat([truth, content[:, 3:]], 1)
    weight = torch.ones(1, 1, 4, 4)
    weight[..., 0, :] = 0  # a row of wrong matches, distrusted
    gathered[:, :3, 0, :] = torch.tensor([90.0, 50, 50])[:, None]
    torch.testing.assert_close(fitted_means(content, gathered, weight, ridge=1e-3), truth, atol=0.1, rtol=0)
    shift = (gathered[:, :3, 1:] - content[:, :3, 1:]).mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(fitted_means(content, gathered, weight, ridge=1e6), content[:, :3] + shift, atol=0.1,
                               rtol=0)


def test_fallbacks_global_look_and_keep():
    """fallback_statistics: "global" is Reinhard(S_S), "look" the fitted look with the content's contrast, "keep"
    the content; target_statistics uses it where the match is distrusted, and an unknown kind is refused by name."""
    torch.manual_seed(0)
    content = torch.cat([torch.rand(1, 3, 2, 3) * 50 + 20, torch.full((1, 3, 2, 3), 5.0)], 1)
    reference = content.flip(-1) + torch.tensor([10.0, 5, -5, 0, 0, 0]).view(1, 6, 1, 1)
    index, whole = torch.arange(6)[None], (content.mean((2, 3), keepdim=True), reference.mean((2, 3), keepdim=True))
    confidence = torch.tensor([[[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]])[:, None]
    gathered = gather_statistics(reference, content, index)
    trust = confidence_weight(confidence, (0.3, 0.6))
    torch.testing.assert_close(fallback_statistics("global", content, gathered, trust, *whole),
                               global_transfer(content, *whole))
    look = fallback_statistics("look", content, gathered, trust, *whole)
    torch.testing.assert_close(look[:, :3], fitted_means(content, gathered, trust))
    torch.testing.assert_close(look[:, 3:], content[:, 3:])
    assert fallback_statistics("keep", content, gathered, trust, *whole) is content
    kept, _, moved = target_statistics(content, reference, index, confidence, (0.3, 0.6), *whole, NO_SMOOTHING,
                                       fallback="keep")
    assert moved is content
    torch.testing.assert_close(kept[..., 1, 2], content[..., 1, 2])  # distrusted: unchanged
    torch.testing.assert_close(kept[..., 0, 0], gathered[..., 0, 0])  # trusted: its match
    with pytest.raises(ValueError, match="fallback must be one of global, look, keep, got 'nearest'"):
        fallback_statistics("nearest", content, gathered, trust, *whole)


def test_smoothing_shares_the_transfer_within_a_colour_not_across():
    """Two materials (L 30 and L 70), each patch's matched target offset noisy: smoothing gives each material the
    confidence-weighted mean of its own patches' offsets, an unmatched patch takes its material's, kept stay."""
    content = torch.zeros(1, 6, 2, 4)
    content[:, 0, :, :2], content[:, 0, :, 2:], content[:, 3:] = 30.0, 70.0, 5.0
    offset = torch.tensor([[[10.0, 14.0, -20.0, -24.0], [12.0, 0.0, -22.0, -22.0]]])
    target = content.clone()
    target[:, 0] += offset
    weight = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 1.0]]])[:, None]
    keep = torch.zeros(1, 1, 2, 4, dtype=torch.bool)
    keep[0, 0, 1, 3] = True
    smooth = smooth_transfer(content, target, weight, keep, sigmas=(10.0, 5.0))
    change = smooth[0, 0] - content[0, 0]
    torch.testing.assert_close(change[:, :2], torch.full((2, 2), 12.0), atol=0.05, rtol=0)  # (10 + 14 + 12) / 3
    torch.testing.assert_close(change[:, 2:].flatten()[:3], torch.full((3,), -22.0), atol=0.05, rtol=0)
    assert change[1, 3] == 0  # kept
    torch.testing.assert_close(smooth[:, 1:], content[:, 1:])  # a, b and stds: no change asked


def test_affinity_joins_or_splits_the_smoothing_across_colours():
    """P_W's affinity embedding joins the smoothing kernel: two halves of near colours mix their moves under the
    non-learned kernel (and under e = 0), an embedding that sets them apart keeps each half's own move."""
    content = torch.zeros(1, 6, 1, 4)
    content[:, 0, :, :2], content[:, 0, :, 2:], content[:, 3:] = 30.0, 34.0, 5.0
    target = content.clone()
    target[:, 0] += torch.tensor([10.0, 10.0, -10.0, -10.0])
    weight, keep = torch.ones(1, 1, 1, 4), torch.zeros(1, 1, 1, 4, dtype=torch.bool)
    sigmas = (10.0, 20.0)  # colours 4 apart: the non-learned kernel mixes the two halves
    plain = smooth_transfer(content, target, weight, keep, sigmas)
    torch.testing.assert_close(smooth_transfer(content, target, weight, keep, sigmas, torch.zeros(1, 3, 1, 4)), plain)
    apart = torch.tensor([0.0, 0.0, 20.0, 20.0]).view(1, 1, 1, 4)
    split = smooth_transfer(content, target, weight, keep, sigmas, apart)[0, 0, 0] - content[0, 0, 0]
    torch.testing.assert_close(split, torch.tensor([10.0, 10.0, -10.0, -10.0]), atol=1e-3, rtol=0)
    mixed = plain[0, 0, 0] - content[0, 0, 0]
    assert mixed[:2].max() < 5 and mixed[2:].min() > -5  # without the embedding the halves' moves blend


def test_colour_prior_breaks_semantic_ties_but_keeps_the_confidence():
    """Two reference patches equally similar in meaning: the match takes the one closer in colour, and reports
    the semantic score as its confidence."""
    content = torch.zeros(1, 6, 1, 1)
    reference = torch.zeros(1, 6, 1, 2)
    reference[0, 0, 0] = torch.tensor([60.0, 5.0])  # L far, L near
    attention = torch.full((1, 1, 2), 0.7)
    prior = colour_prior(content, reference, weight=0.1, sigma=20.0)
    match = hard_warp(attention, torch.eye(2).view(1, 2, 1, 2), (1, 1), prior=prior)
    assert match.index.item() == 1 and match.confidence.item() == pytest.approx(0.7)
    assert hard_warp(attention, torch.eye(2).view(1, 2, 1, 2), (1, 1)).index.item() == 0  # without: the first


def test_local_transfer_moves_patch_means_and_alpha_interpolates():
    image = torch.rand(1, 3, 32, 32) * 0.5 + 0.25
    lab = rgb_to_lab(image)
    content = patch_statistics(lab, (2, 2))
    torch.testing.assert_close(local_transfer(image, content, content), image, atol=1e-4, rtol=0)
    target = content.clone()
    target[:, 1] += 20.0  # every patch redder
    moved = rgb_to_lab(local_transfer(image, content, target)) - lab
    assert 15.0 < moved[:, 1].mean() < 25.0 and moved[:, 0].abs().mean() < 2.0
    half = interpolate_statistics(content, target, 0.5)
    torch.testing.assert_close(half[:, 1], content[:, 1] + 10.0)
    torch.testing.assert_close(interpolate_statistics(content, target, 0.0), content)


def flat(colour, size=(96, 64)) -> Image.Image:
    return Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8))


def region_delta_e(a: Image.Image, b: Image.Image) -> float:
    return float(deltaE_ciede2000(rgb2lab(np.asarray(a)), rgb2lab(np.asarray(b))).mean())


def test_the_reference_colour_reaches_the_output():
    """Untrained networks (identity generator, zero predictor heads): the colour path alone must re-colour."""
    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    rng = np.random.default_rng(0)
    texture = (np.clip(rng.normal(0.5, 0.05, (64, 96, 1)) * [1.0, 1.0, 1.0], 0, 1) * 255).astype(np.uint8)
    content = Image.fromarray(texture)
    red, blue = flat((200, 40, 30)), flat((30, 60, 200))
    out_red, out_blue = (pipe(content=content, reference=r).images[0] for r in (red, blue))
    assert region_delta_e(out_red, out_blue) > 30  # reference sensitivity
    assert region_delta_e(out_red, red) < 10 and region_delta_e(out_blue, blue) < 10


def test_a_click_moves_its_region_to_the_clicked_colour_and_keep_stays():
    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    rng = np.random.default_rng(1)
    content = np.zeros((64, 128, 3), np.uint8)
    content[:, :64], content[:, 64:] = (120, 120, 120), (40, 140, 60)  # gray left, green right
    content = np.clip(content + rng.normal(0, 4, content.shape), 0, 255).astype(np.uint8)
    reference = np.zeros((64, 128, 3), np.uint8)
    reference[:, :64], reference[:, 64:] = (230, 120, 20), (20, 40, 160)  # orange left, blue right
    guidance = Guidance(pairs=[((0.25, 0.5), (0.25, 0.5))], keep=[(0.75, 0.5)])
    out = np.asarray(pipe(content=Image.fromarray(content), reference=Image.fromarray(reference),
                          guide=guidance.as_guide()).images[0])
    # the clicked patch (a quarter of the width: columns 32-63); the untrained backbone's features may give its
    # gray neighbour to the keep point, which then keeps it
    clicked, kept = (slice(8, 56), slice(36, 60)), (slice(8, 56), slice(80, 120))
    lab_out, lab_src, lab_ref = (rgb2lab(x) for x in (out, content, reference))
    before = deltaE_ciede2000(lab_src[clicked].mean((0, 1)), lab_ref[clicked].mean((0, 1)))
    after = deltaE_ciede2000(lab_out[clicked].mean((0, 1)), lab_ref[clicked].mean((0, 1)))
    assert after < 0.5 * before
    assert deltaE_ciede2000(lab_out[kept].mean((0, 1)), lab_src[kept].mean((0, 1))) < 3
