"""Stage 1 (supp. B): train the generator G and the w-encoder E_w jointly.

Loss: L1(G(I_in, E_w(I_in, I_out)), I_out) on colour-augmented pairs of the same photo (ColorJitter
brightness = contrast = saturation = (0.5, 2), hue = (-0.2, 0.2), plus photographic looks and local edits).

    accelerate launch train/train_generator.py --preset small --output_dir runs/stage1 --max_train_steps 20000
"""

import torch.nn.functional as F

from common import Stage, parse_args, train


class GeneratorStage(Stage):
    trained = ("generator", "latent_encoder")
    data_mode = "jitter"

    def forward(self, batch, step):
        image_in, image_out = batch["input"], batch["target"]
        pred = self.generator(image_in, w=self.latent_encoder(image_in, image_out))
        return F.l1_loss(pred, image_out), {}

    def validation_images(self, batch):
        image_in, image_out = batch["input"], batch["target"]
        pred = self.generator(image_in, w=self.latent_encoder(image_in, image_out)).clamp(0, 1)
        self_rec = self.generator(image_in, w=self.latent_encoder(image_in, image_in)).clamp(0, 1)
        return [image_in, image_out, pred, self_rec]


if __name__ == "__main__":
    train(GeneratorStage, parse_args(__doc__, {"learning_rate": 0.002}))
