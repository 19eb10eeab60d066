import torch

from recolor_hf.losses import PerceptualLoss


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
