"""Stage 1 (supp. B): train the generator G and the w-encoder E_w jointly.

Loss: L1(G(I_in, E_w(I_in, I_out)), I_out) on colour-augmented pairs of the same photo (ColorJitter
brightness = contrast = saturation = (0.5, 2), hue = (-0.2, 0.2), plus photographic looks and local edits).

    accelerate launch train/train_generator.py --preset small --output_dir runs/stage1 --max_train_steps 20000
"""

import torch.nn.functional as F

from common import ReconstructionStage, parse_args, train


class GeneratorStage(ReconstructionStage):
    trained = ("generator", "latent_encoder")

    def reconstruct(self, image_in, image_out):
        return self.generator(image_in, w=self.latent_encoder(image_in, image_out))

    def forward(self, batch, step):
        return F.l1_loss(self.reconstruct(batch["input"], batch["target"]), batch["target"]), {}


DEFAULTS = {"learning_rate": 0.002}  # parse_args' per-stage defaults; eval/train_speed.py reads them


if __name__ == "__main__":
    train(GeneratorStage, parse_args(__doc__, DEFAULTS))
