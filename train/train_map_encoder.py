"""Stage 2 (main §3.3, supp. B): train the W-encoder E_W through the fixed spatial generator G'.

Loss: L1(G'(I_in, E_W(I_in, I_out)), I_out). A share ``--self_pair_prob`` of the pairs are (I, I), which
trains the self-reconstruction map W0(I) = E_W(I, I) that the predictor and the strength slider use.

With ``--absolute_maps true`` (beyond the paper) G' trains with E_W so that a self-map carries its image's own
colour rather than an "identity edit": the warped reference map W~0R then tells G' the reference's colours. With
I = I_in, J = I_out (I under a look from ``--target_mix``) and E_w fixed:

    L1(G'(J, W0(I)), I)  +  L1(G'(I, W0(I)), I)  +  L1(G'(I, E_w(I, J)), J)
    (absolute colour)       (self-reconstruction)   (stage 1's code path, kept)

    accelerate launch train/train_map_encoder.py --pretrained_model_name_or_path runs/stage1 --output_dir runs/stage2
"""

import torch
import torch.nn.functional as F

from common import ReconstructionStage, bool_flag, look_mix, parse_args, train

OPTIONS = {  # name -> (type, default, help)
    "self_pair_prob": (float, 0.5, "share of (I, I) self-reconstruction pairs"),
    "absolute_maps": (bool_flag, False, "train G' with E_W so that self-maps carry absolute colour (module doc)"),
    "target_mix": (look_mix, None, "look kinds turning I_in into I_out with their weights, e.g. "
                                   "strong=0.3,mono=0.2,global=0.2,segment=0.2,local=0.1 (default: "
                                   "recolor_hf.data.JITTER_MIX)"),
}
DEFAULTS = {"learning_rate": 0.002, "extra": OPTIONS}  # parse_args' per-stage defaults; eval/train_speed.py reads them


class MapEncoderStage(ReconstructionStage):
    trained = ("map_encoder",)

    def dataset_options(self) -> dict:
        return {"target_mix": self.args.target_mix}

    def reconstruct(self, image_in, image_out):
        return self.generator(image_in, maps=self.map_encoder(image_in, image_out))

    def pairs(self, batch):
        image_in, image_out = batch["input"], batch["target"]
        keep = torch.rand(image_in.shape[0], 1, 1, 1, device=image_in.device) < self.args.self_pair_prob
        return image_in, torch.where(keep, image_in, image_out)

    def forward(self, batch, step):
        image_in, image_out = self.pairs(batch)
        with torch.no_grad():
            self_l1 = F.l1_loss(self.reconstruct(image_in, image_in), image_in).item()
        return F.l1_loss(self.reconstruct(image_in, image_out), image_out), {"self_l1": self_l1}


class AbsoluteMapStage(MapEncoderStage):
    """``--absolute_maps``: G' and E_W together, self-maps that carry colour (module docstring)."""

    trained = ("generator", "map_encoder")

    def forward(self, batch, step):
        image, edited = batch["input"], batch["target"]
        own = self.map_encoder(image, image)
        with torch.no_grad():
            code = self.latent_encoder(image, edited)
        terms = {"absolute": F.l1_loss(self.generator(edited, maps=own), image),
                 "self_l1": F.l1_loss(self.generator(image, maps=own), image),
                 "code": F.l1_loss(self.generator(image, w=code), edited)}
        return sum(terms.values()), {name: value.item() for name, value in terms.items()}


if __name__ == "__main__":
    args = parse_args(__doc__, DEFAULTS)
    train(AbsoluteMapStage if args.absolute_maps else MapEncoderStage, args)
