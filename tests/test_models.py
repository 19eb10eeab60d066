import pytest
import torch

from conftest import randomize_zero_init
from recolor_hf import PRESETS, RecolorPipeline
from recolor_hf.models.backbones import FeatureBackbone
from recolor_hf.models.encoders import LatentEncoder, LatentMapEncoder
from recolor_hf.models.generator import RecolorGenerator
from recolor_hf.models.layers import ModulatedConv2d
from recolor_hf.models.correspondence import (correspond, cosine_attention, hard_attention, random_column_mask,
                                             top_candidates)
from recolor_hf.models.predictor import LatentMapPredictor
from recolor_hf.models.transfer import TRANSFER_SMOOTHING, global_transfer, smooth_transfer, target_statistics


def random_generator(name: str) -> RecolorGenerator:
    """A generator whose (zero-initialised) ToRGB layers are random too, so every layer shows in the output."""
    torch.manual_seed(0)
    gen = RecolorGenerator(**PRESETS[name]["generator"]).eval()
    randomize_zero_init(gen, std=1.0)
    return gen


def test_untrained_generator_is_identity():
    gen = RecolorGenerator(**PRESETS["tiny"]["generator"])
    image = torch.rand(1, 3, 64, 64)
    assert torch.equal(gen(image, w=torch.randn(1, gen.config.style_dim)), image)


def test_modulated_conv_constant_map_equals_code():
    torch.manual_seed(0)
    conv = ModulatedConv2d(8, 4, 3, style_dim=6, upsample=True)
    x, w = torch.randn(2, 8, 5, 7), torch.randn(2, 6)
    constant = w[:, :, None, None].expand(-1, -1, 3, 3)
    out_code, out_map = conv(x, w), conv(x, constant)
    assert out_code.shape == (2, 4, 10, 14)
    torch.testing.assert_close(out_code, out_map, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_generator_constant_maps_equal_code(name):
    gen = random_generator(name)
    r, d = gen.config.native_resolution, gen.config.style_dim
    image, w = torch.rand(2, 3, r, r), torch.randn(2, d)
    maps = tuple(w[:, :, None, None].expand(-1, -1, r // s, r // s) for s in (16, 8, 4))
    with torch.no_grad():
        a, b = gen(image, w=w), gen(image, maps=maps)
    assert a.shape == image.shape
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="exactly one"):
        gen(image)


def test_paper_generator_has_20_style_layers_and_paper_split():
    gen = RecolorGenerator(**PRESETS["paper"]["generator"])
    assert gen.config.num_style_layers == 20
    # W1 -> layers 1-9, W2 -> 10-12, W3 -> 13-20 (main §3.4.3)
    assert gen.layer_map_index == [0] * 9 + [1] * 3 + [2] * 8


def test_maps_change_output_locally():
    gen = random_generator("tiny")
    r, d = gen.config.native_resolution, gen.config.style_dim
    image = torch.rand(1, 3, r, r)
    base = torch.randn(1, d, 1, 1).expand(1, d, r // 4, r // 4).clone()
    edited = base.clone()
    edited[:, :, :, : r // 8] += 3.0  # change the left half of W3 only
    with torch.no_grad():
        a = gen(image, maps=(base[:, :, ::4, ::4], base[:, :, ::2, ::2], base))
        b = gen(image, maps=(base[:, :, ::4, ::4], base[:, :, ::2, ::2], edited))
    diff = (a - b).abs().mean(dim=(0, 1, 2))
    assert diff[: r // 4].mean() > 10 * diff[-r // 4:].mean()


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_encoder_shapes(name):
    preset = PRESETS[name]
    r, d = preset["resolution"], preset["generator"]["style_dim"]
    a, b = torch.rand(2, 3, r, r), torch.rand(2, 3, r, r)
    assert LatentEncoder(**preset["latent_encoder"])(a, b).shape == (2, d)
    assert LatentMapEncoder(**preset["map_encoder"])(a, b).shape == (2, d, r // 16, r // 16)


def test_backbone_shapes_frozen_and_pretrained():
    backbone = FeatureBackbone()
    (c1, c2, c3), semantic = backbone(torch.rand(1, 3, 128, 96))
    assert c1.shape == (1, 24, 32, 24) and c2.shape == (1, 40, 16, 12) and c3.shape == (1, 112, 8, 6)
    assert semantic.shape == (1, backbone.semantic_channels, 8, 6)
    assert not any(p.requires_grad for p in backbone.parameters())
    backbone.train()
    assert not backbone.training
    random = FeatureBackbone(pretrained=False)
    assert not torch.equal(random.stem[0].weight, backbone.stem[0].weight)


def test_vgg_backbone_refuses_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        FeatureBackbone(name="vgg16")
    (_, _, c3), semantic = FeatureBackbone(name="vgg16", pretrained=False)(torch.rand(1, 3, 64, 64))
    assert c3.shape == (1, 512, 4, 4) and semantic.shape == (1, 512, 4, 4)


def test_random_mask_ratio_and_hard_correspondence():
    keep = random_column_mask(3, 40, 0.75, torch.Generator().manual_seed(0))
    assert keep.shape == (3, 40) and torch.all(keep.sum(1) == 10)
    assert random_column_mask(1, 5, 1.0).sum() == 1  # never masks every patch
    feats = torch.randn(1, 8, 4, 4)
    attention = cosine_attention(feats, feats)
    assert torch.allclose(attention.diagonal(dim1=1, dim2=2), torch.ones(1, 16), atol=1e-5)
    values = torch.arange(16.0).view(1, 1, 4, 4)
    match = correspond(feats, feats, values)
    assert torch.equal(match.index[0], torch.arange(16))  # every patch matches itself
    assert torch.equal(match.warped, values)
    masked = correspond(feats, feats, values, mask_ratio=0.5, rng=torch.Generator())
    assert (masked.index[0] != torch.arange(16)).sum() == 8  # masked patches must match elsewhere


def test_hard_attention_picks_the_best_visible_key():
    """Hard(A ⊙ M) (main eq. 5): the argmax over the keys the mask leaves; a prior moves the choice, while the
    confidence stays the attention of the chosen key."""
    attention = torch.tensor([[[0.2, 0.9, 0.5], [0.7, 0.1, 0.6]]])
    index, confidence = hard_attention(attention)
    assert index.tolist() == [[1, 0]] and torch.allclose(confidence, torch.tensor([[0.9, 0.7]]))
    index, confidence = hard_attention(attention, torch.tensor([True, False, True]))
    assert index.tolist() == [[2, 0]] and torch.allclose(confidence, torch.tensor([[0.5, 0.7]]))
    prior = torch.tensor([[[0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]])
    index, confidence = hard_attention(attention, prior=prior)
    assert index.tolist() == [[2, 0]] and torch.allclose(confidence, torch.tensor([[0.5, 0.7]]))


def test_candidates_are_the_best_visible_keys_in_order():
    """top_candidates ranks the visible keys (with the prior), scores without it; a hidden key scores -inf. The
    first candidate of a K-candidate match is the hard match, and W~0R_k is each candidate's value."""
    attention = torch.tensor([[[0.2, 0.9, 0.5], [0.7, 0.1, 0.6]]])
    index, scores = top_candidates(attention, 3, torch.tensor([True, False, True]))
    assert index[..., :2].tolist() == [[[2, 0], [0, 2]]] and torch.isinf(scores[..., 2]).all()
    feats, values = torch.randn(1, 8, 4, 4), torch.randn(1, 5, 4, 4)
    single = correspond(feats, feats, values)
    multi = correspond(feats, feats, values, candidates=3)
    assert single.candidates is None and multi.candidates.shape == (1, 16, 3)
    assert torch.equal(multi.index, single.index) and torch.equal(multi.warped, single.warped)
    assert torch.equal(multi.candidate_maps[..., 1], values.flatten(2)[:, :, multi.candidates[0, :, 1]])
    assert (multi.scores[..., :-1] >= multi.scores[..., 1:]).all()


def test_ranker_weights_choose_among_the_candidates():
    """With K candidates P_W's ranker blends the candidates' reference statistics: weights that pick candidate k
    give S_R(j_k) exactly; masked candidates (-inf) get no weight and no NaN; at inference (hard_ranking) each
    patch takes one candidate's statistics; without candidates (user guidance) the hard match's S~R is used as it
    is."""
    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    config = {k: v for k, v in pipe.predictor.config.items() if not k.startswith("_")}
    predictor = LatentMapPredictor(**{**config, "match_candidates": 4}).eval()
    r = pipe.config.resolution
    with torch.no_grad():
        f = pipe.features(torch.rand(1, 3, r, r), torch.rand(1, 3, r, r))
        match = correspond(f.content_semantic, f.reference_semantic, f.reference_map, mask_ratio=0.99,
                           rng=torch.Generator().manual_seed(0), candidates=4)
        assert torch.isinf(match.scores).any()
        target, gathered, _ = target_statistics(f.content_stats, f.reference_stats, match.index, match.confidence,
                                             tuple(predictor.config.confidence_range), f.content_whole,
                                             f.reference_whole)
        statistics = (f.content_stats, target, gathered, f.content_whole, f.reference_whole)
        context = torch.randn(1, predictor.config.hidden_channels[0], *gathered.shape[-2:])
        blend, score = predictor.rerank(context, statistics, match, f.reference_stats)
        assert torch.isfinite(blend).all() and torch.isfinite(score).all()
        flat = f.reference_stats.flatten(2)
        for k in (0, 1):
            predictor.ranker.forward = lambda *args, k=k: torch.nn.functional.one_hot(
                torch.full(match.scores.shape[:2], k), 4).float()
            blend, score = predictor.rerank(context, statistics, match, f.reference_stats)
            torch.testing.assert_close(blend, flat[:, :, match.candidates[0, :, k]].view_as(gathered))
        del predictor.ranker.forward
        hard, _ = predictor.rerank(context, statistics, match, f.reference_stats)  # eval mode: one candidate each
        assert (hard.flatten(2)[:, :, :, None] == flat[:, :, match.candidates[0]]).all(dim=1).any(dim=-1).all()
        guided = type(match)(match.warped, match.confidence, match.index)
        blend, score = predictor.rerank(context, statistics, guided, f.reference_stats)
        assert torch.equal(blend, gathered) and torch.equal(score, match.confidence)


def test_zero_ranker_keeps_the_non_learned_match():
    """A fresh ranker (zero output layer) starts from the candidates' ranking scores (attention + colour prior), so
    at inference P_W with K candidates gives the same T' as the hard match alone (K = 1)."""
    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    r = pipe.config.resolution
    content, reference = torch.rand(2, 3, r, r), torch.rand(2, 3, r, r)
    config = {k: v for k, v in pipe.predictor.config.items() if not k.startswith("_")}
    ranked = LatentMapPredictor(**{**config, "match_candidates": 4}).eval()
    ranked.load_state_dict(pipe.predictor.state_dict(), strict=False)
    with torch.no_grad():
        single = pipe.predict(content, reference)
        pipe.predictor = ranked
        multi = pipe.predict(content, reference)
    assert multi.correspondence.candidates is not None
    assert not torch.equal(multi.correspondence.ranking, multi.correspondence.scores)  # the prior counts
    torch.testing.assert_close(multi.target_stats, single.target_stats)


def test_configs_with_renamed_or_retired_keys_load():
    """colour_prior and transfer_smoothing left P_W's config for module constants: a config saved with the
    constants' values loads (the shipped checkpoint's), one asking for other values is refused. Renamed keys
    (P_W's color_channels, G''s resolution) load under their new names."""
    config = {"style_dim": 8, "hidden_channels": [8, 8, 8], "colour_prior": [0.1, 20.0],
              "transfer_smoothing": [0.5, 10.0], "color_channels": [24, 40, 112]}
    predictor = LatentMapPredictor.from_config(config)
    assert "colour_prior" not in predictor.config and "color_channels" not in predictor.config
    assert predictor.config.style_dim == 8 and tuple(predictor.config.colour_channels) == (24, 40, 112)
    old = {**PRESETS["tiny"]["generator"], "resolution": 32}
    del old["native_resolution"]
    assert RecolorGenerator.from_config(old).config.native_resolution == 32
    with pytest.raises(ValueError, match="transfer_smoothing"):
        LatentMapPredictor.from_config({**config, "transfer_smoothing": [0.25, 10.0]})


def test_predictor_starts_from_base_map():
    pipe = RecolorPipeline.from_preset("tiny")
    r = pipe.config.resolution
    content, reference = torch.rand(2, 3, r, r), torch.rand(2, 3, r, r)
    with torch.no_grad():
        latents = pipe.predict(content, reference)
    assert [m.shape[-1] for m in latents.maps] == [r // 16, r // 8, r // 4]
    torch.testing.assert_close(latents.maps[0], latents.base_map)  # zero-initialised heads: W = W0(base)
    assert latents.correspondence.index.shape == (2, (r // 16) ** 2)
    assert latents.target_stats.shape == latents.content_stats.shape == (2, 6, r // 16, r // 16)


def test_learned_target_starts_at_t_and_trusts_the_match_or_the_fallback():
    """The statistics head is zero-initialised (T' = T); full trust gives the smoothed raw match, none the
    smoothed global transfer, and the contrast output moves only the standard deviations toward the content's."""
    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    r = pipe.config.resolution
    with torch.no_grad():
        features = pipe.features(torch.rand(1, 3, r, r), torch.rand(1, 3, r, r))
        match = pipe.match(features)
        base, _ = pipe.colour_targets(features, match, learned=False)
        learned, _ = pipe.colour_targets(features, match)
        torch.testing.assert_close(learned, base)
        f = features
        target, gathered, _ = target_statistics(f.content_stats, f.reference_stats, match.index, match.confidence,
                                             tuple(pipe.predictor.config.confidence_range), f.content_whole,
                                             f.reference_whole)
        statistics = (f.content_stats, target, gathered, f.content_whole, f.reference_whole)
        sigmas = TRANSFER_SMOOTHING
        keep = torch.zeros_like(match.confidence, dtype=torch.bool)
        inputs = (statistics, gathered, match.confidence, match.index)
        ones, zeros = torch.ones_like(match.confidence), torch.zeros_like(match.confidence)
        trusted = pipe.predictor.correct(torch.cat([ones, zeros], 1), *inputs)
        torch.testing.assert_close(trusted, smooth_transfer(f.content_stats, gathered, ones, keep, sigmas))
        fallback = global_transfer(f.content_stats, f.content_whole, f.reference_whole)
        distrusted = pipe.predictor.correct(torch.cat([-ones, zeros], 1), *inputs)
        torch.testing.assert_close(distrusted, smooth_transfer(f.content_stats, fallback, zeros, keep, sigmas))
        contrast = pipe.predictor.correct(torch.cat([zeros, ones], 1), *inputs)
        torch.testing.assert_close(contrast[:, :3], target[:, :3])
        torch.testing.assert_close(contrast[:, 3:], f.content_stats[:, 3:])


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_presets_run_one_pair(name):
    """Every component of a preset has weights and the pipeline runs; the paper preset's parameter counts and
    seconds are ``python -m eval model-size``."""
    pipe = RecolorPipeline.from_preset(name)
    assert all(sum(p.numel() for p in getattr(pipe, c).parameters()) > 0 for c in
               ("generator", "latent_encoder", "map_encoder", "predictor", "backbone"))
    r = pipe.config.resolution
    out = pipe(content=torch.rand(1, 3, r, r), reference=torch.rand(1, 3, r, r), output_type="pt").images[0]
    assert out.shape == (3, r, r)
