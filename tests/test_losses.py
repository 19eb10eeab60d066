import numpy as np
import torch
from skimage.color import rgb2lab

from recolor_hf.losses import PerceptualLoss, lab_l1, w0_loss
from recolor_hf.models.colour import rgb_to_lab


def test_perceptual_loss_is_zero_on_equal_images_and_has_gradients():
    loss = PerceptualLoss()
    assert loss.name in ("efficientnet-lite0-features", "lpips-alex", "lpips-vgg")
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    assert loss(a, a).item() < 1e-6
    pred = a.clone().requires_grad_(True)
    value = loss(pred, b)
    value.backward()
    assert value.item() > 0 and pred.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.net.parameters())


def test_perceptual_loss_stays_frozen_and_deterministic_in_train_mode():
    torch.manual_seed(0)
    loss = PerceptualLoss()
    loss.train()
    assert not any(module.training for module in loss.modules())
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    assert torch.equal(loss(a, b), loss(a, b))


def test_lab_matches_skimage_and_has_gradients():
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    rgb[0, :, 0, 0] = 0.0  # black and values at the sRGB / CIELAB knees
    rgb[0, :, 0, 1] = torch.tensor([0.04045, 0.01, 1.0])
    expected = rgb2lab(rgb.permute(0, 2, 3, 1).numpy())
    assert np.abs(rgb_to_lab(rgb).permute(0, 2, 3, 1).numpy() - expected).max() < 1e-3
    pred = rgb.clone().requires_grad_(True)
    value = lab_l1(pred, torch.rand_like(rgb))
    value.backward()
    assert value.item() > 0 and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert lab_l1(rgb, rgb).item() == 0


def test_w0_loss_is_the_l1_distance_of_self_codes(tiny_pipe):
    r = tiny_pipe.config.resolution
    a, b = torch.rand(2, 3, r, r), torch.rand(2, 3, r, r)
    d = w0_loss(tiny_pipe, a, b)
    assert d.shape == (2,) and torch.all(d > 0)
    torch.testing.assert_close(d, (tiny_pipe.self_code(a) - tiny_pipe.self_code(b)).abs().mean(dim=1))
    assert torch.all(w0_loss(tiny_pipe, a, a) == 0)
