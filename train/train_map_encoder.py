"""Stage 2 (main §3.3, supp. B): train the W-encoder E_W through the fixed spatial generator G'.

Loss: L1(G'(I_in, E_W(I_in, I_out)), I_out). A share ``--self_pair_prob`` of the pairs are (I, I), which
trains the self-reconstruction map W0(I) = E_W(I, I) that the predictor and the strength slider use.

    accelerate launch train/train_map_encoder.py --pretrained_model_name_or_path runs/stage1 --output_dir runs/stage2
"""

import torch
import torch.nn.functional as F

from common import ReconstructionStage, parse_args, train

OPTIONS = {"self_pair_prob": (float, 0.5, "share of (I, I) self-reconstruction pairs")}  # name -> (type, default, help)
DEFAULTS = {"learning_rate": 0.002, "extra": OPTIONS}  # parse_args' per-stage defaults; eval/train_speed.py reads them


class MapEncoderStage(ReconstructionStage):
    trained = ("map_encoder",)

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


if __name__ == "__main__":
    train(MapEncoderStage, parse_args(__doc__, DEFAULTS))
