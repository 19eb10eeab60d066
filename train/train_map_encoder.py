"""Stage 2 (main §3.3, supp. B): train the W-encoder E_W through the fixed spatial generator G'.

Loss: L1(G'(I_in, E_W(I_in, I_out)), I_out). A share ``--self_pair_prob`` of the pairs are (I, I), which
trains the self-reconstruction map W0(I) = E_W(I, I) that the predictor and the strength slider use.

    accelerate launch train/train_map_encoder.py --pretrained_model_name_or_path runs/stage1 --output_dir runs/stage2
"""

import torch
import torch.nn.functional as F

from common import Stage, parse_args, train


class MapEncoderStage(Stage):
    trained = ("map_encoder",)
    data_mode = "jitter"

    def pairs(self, batch):
        image_in, image_out = batch["input"], batch["target"]
        keep = torch.rand(image_in.shape[0], 1, 1, 1, device=image_in.device) < self.args.self_pair_prob
        return image_in, torch.where(keep, image_in, image_out)

    def forward(self, batch, step):
        image_in, image_out = self.pairs(batch)
        pred = self.generator(image_in, maps=self.map_encoder(image_in, image_out))
        with torch.no_grad():
            self_rec = self.generator(image_in, maps=self.map_encoder(image_in, image_in))
        return F.l1_loss(pred, image_out), {"self_l1": F.l1_loss(self_rec, image_in).item()}

    def validation_images(self, batch):
        image_in, image_out = batch["input"], batch["target"]
        pred = self.generator(image_in, maps=self.map_encoder(image_in, image_out)).clamp(0, 1)
        self_rec = self.generator(image_in, maps=self.map_encoder(image_in, image_in)).clamp(0, 1)
        return [image_in, image_out, pred, self_rec]


if __name__ == "__main__":
    extra = {"self_pair_prob": (float, 0.5, "share of (I, I) self-reconstruction pairs")}
    train(MapEncoderStage, parse_args(__doc__, {"learning_rate": 0.002, "extra": extra}))
