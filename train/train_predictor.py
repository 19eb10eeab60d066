"""Stage 3 (main §3.4): train the W-predictor P_W with G', E_w, E_W and the backbone fixed.

Loss (main eq. 6, all weights 1 by default): L1(I_P, I_T) + perceptual(I_P, I_T) + L_w0(I_P, I_R), where I_P =
G'(base, P_W(I_S, I_R)) (base: the content moved to the reference's matched Lab statistics, see
recolor_hf.models.colour), I_T is the re-coloured content and I_R, beyond the paper, with chance
``--pair_reference_prob`` a second, low-overlap crop of the same photo under the same look (content-related, not
aligned: the exemplar setting), with chance ``--cross_reference_prob`` ANOTHER photo under the look, else (as in the
paper) a pixel-unaligned re-coloured view of the target. ``--lambda_w0 0`` turns the w0 loss off (a zero-weight
loss is not computed).
``--lambda_lab`` adds L1 in CIELAB (recolor_hf.losses.lab_l1), which weighs colour casts on near-neutral pixels
as CIEDE2000 does.
Random semantic masking of A_C with a curriculum: the maximal ratio grows linearly from 0 to
``--max_mask_ratio`` over ``--mask_curriculum_steps``; each step draws its ratio from [0, max].
The perceptual loss is real LPIPS when its weights are on disk, else EfficientNet-Lite0 features (logged).

    accelerate launch train/train_predictor.py --pretrained_model_name_or_path runs/stage2 --output_dir runs/stage3
"""

import torch
import torch.nn.functional as F

from common import Stage, bool_flag, logger, look_mix, parse_args, train
from feature_cache import FeatureCache, unpack
from recolor_hf.losses import PerceptualLoss, lab_l1, w0_loss
from recolor_hf.models.colour import normalize_statistics, patch_statistics, rgb_to_lab
from recolor_hf.models.transfer import local_transfer
from recolor_hf.steps import PairFeatures


OPTIONS = {  # stage 3's own flags: name -> (type, default, help)
    "max_mask_ratio": (float, 0.95, "upper bound of the masking curriculum"),
    "mask_curriculum_steps": (int, 5000, "steps over which the maximal mask ratio grows to its bound"),
    "lambda_l1": (float, 1.0, "weight of L1(I_P, I_T)"),
    "lambda_perceptual": (float, 1.0, "weight of the perceptual loss"),
    "lambda_w0": (float, 1.0, "weight of the w0 loss"),
    "lambda_lab": (float, 0.0, "weight of L1(Lab(I_P), Lab(I_T)) (beyond the paper; Lab units, so ~0.01)"),
    "pair_reference_prob": (float, 0.6, "chance that the reference is another crop of the photo under the look"),
    "cross_reference_prob": (float, 0.05, "chance that the reference is another photo under the target's look"),
    "target_mix": (look_mix, None, "look kinds turning the content into the target with their weights, e.g. "
                                   "global=0.4,local=0.4,segment=0.2 (default: recolor_hf.data.REFERENCE_MIX)"),
    "cache_dir": (str, None, "train on a feature cache of related pairs (train/feature_cache.py) instead of "
                             "photos"),
    "lambda_stats": (float, 0.0, "weight of L1 between T' and the target's patch statistics (normalised)"),
    "lambda_base": (float, 0.0, "weight of Lab L1 between the base image (content moved to T') and the target"),
    "affinity_channels": (int, None, "give P_W a fresh learned affinity head of this width (the smoothing kernel's "
                                     "embedding, transfer.smooth_transfer) when its own differs"),
    "train_only": (str, None, "comma-separated prefixes of the P_W parameters to train (e.g. affinity_head); the "
                              "rest of P_W stays as loaded"),
    "refresh_reference_maps": (bool_flag, False, "recompute W0R = E_W(I_R, I_R) from the cached reference instead of "
                                                 "reading it (a cache built before E_W was retrained)"),
}
DEFAULTS = {"learning_rate": 0.0025, "extra": OPTIONS}  # parse_args' per-stage defaults; eval/train_speed.py reads them
BASE_LOSS_POOL = 2  # the base-image loss runs on images average-pooled by this factor (statistics are 1/16)


class PredictorStage(Stage):
    trained = ("predictor",)
    data_mode = "reference"

    def __init__(self, pipe, args):
        if args.affinity_channels is not None and args.affinity_channels != pipe.predictor.config.affinity_channels:
            pipe.predictor = pipe.predictor.with_affinity(args.affinity_channels)
        super().__init__(pipe, args)
        if args.train_only:
            prefixes = tuple(args.train_only.split(","))
            names = [name for name, _ in self.predictor.named_parameters() if name.startswith(prefixes)]
            if not names:
                raise ValueError(f"--train_only {args.train_only}: no P_W parameter starts with that")
            for name, parameter in self.predictor.named_parameters():
                parameter.requires_grad_(name in names)
        self.perceptual = PerceptualLoss(pipe.backbone)
        logger.info(f"perceptual loss: {self.perceptual.name}")

    def dataset_options(self) -> dict:
        return {"cross_prob": self.args.cross_reference_prob, "pair_prob": self.args.pair_reference_prob,
                "target_mix": self.args.target_mix}

    def datasets(self, train_set, val_set):
        """With ``--cache_dir``: the cached related pairs (``feature_cache``) for training and validation images."""
        if not self.args.cache_dir:
            return train_set, val_set
        cache = FeatureCache(self.args.cache_dir)
        return cache, cache

    def mask_ratio(self, step: int) -> float:
        if not self.training:
            return 0.0
        top = self.args.max_mask_ratio * min(1.0, step / max(1, self.args.mask_curriculum_steps))
        return float(torch.rand(()) * top)

    def inputs(self, batch: dict) -> tuple[PairFeatures, dict[str, torch.Tensor]]:
        """(features, images) of a batch: unpacked from the cache, or computed by the frozen parts."""
        if "code.0" in batch:
            features, images = unpack(batch)
            if self.args.refresh_reference_maps:
                with torch.no_grad():
                    features.reference_map = self.pipe.self_map(images["reference"])
            return features, images
        with torch.no_grad():
            return self.pipe.features(batch["content"], batch["reference"]), batch

    def predict(self, batch, step):
        features, images = self.inputs(batch)
        match = self.pipe.match(features, self.mask_ratio(step))
        return self.pipe.render(self.pipe.predict_from(images["content"], features, match)), images

    def forward(self, batch, step):
        features, images = self.inputs(batch)
        content, target = images["content"], images["target"]
        match = self.pipe.match(features, self.mask_ratio(step))
        image_terms = (self.args.lambda_l1, self.args.lambda_perceptual, self.args.lambda_w0, self.args.lambda_lab)
        if any(image_terms):
            latents = self.pipe.predict_from(content, features, match)
            stats, pred = latents.target_stats, self.pipe.render(latents)
        else:  # only the statistics losses: no G', no maps
            stats, pred = self.pipe.colour_targets(features, match, maps=False)[0], None
        truth = patch_statistics(rgb_to_lab(target), tuple(stats.shape[-2:]))
        terms = {
            "l1": (self.args.lambda_l1, lambda: F.l1_loss(pred, target)),
            "perceptual": (self.args.lambda_perceptual, lambda: self.perceptual(pred, target)),
            "w0": (self.args.lambda_w0, lambda: w0_loss(self.pipe, pred, images["reference"]).mean()),
            "lab": (self.args.lambda_lab, lambda: lab_l1(pred, target)),
            "stats": (self.args.lambda_stats,
                      lambda: F.l1_loss(normalize_statistics(stats), normalize_statistics(truth))),
            "base": (self.args.lambda_base, lambda: lab_l1(
                local_transfer(F.avg_pool2d(content, BASE_LOSS_POOL), features.content_stats, stats),
                F.avg_pool2d(target, BASE_LOSS_POOL))),
        }
        values = {name: fn() for name, (weight, fn) in terms.items() if weight != 0}
        loss = sum(terms[name][0] * value for name, value in values.items())
        return loss, {name: value.item() for name, value in values.items()}

    def validation_images(self, batch):
        pred, images = self.predict(batch, 0)
        return [images["content"], images["reference"], pred.clamp(0, 1), images["target"]]


if __name__ == "__main__":
    train(PredictorStage, parse_args(__doc__, DEFAULTS))
