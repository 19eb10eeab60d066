"""A training cache of what stage 3 never learns: for each training pair, the frozen backbone's features, the
frozen encoders' w and W0R and the Lab statistics (``RecolorPipeline.features``), beside the pair's images.

A training step then runs only the correspondence (cheap, and re-drawn each step with the random semantic mask),
P_W, G' and the losses. Pairs come from ``RelatedPairDataset`` (content-related pairs with exact ground truth);
the cache is a folder of shards ``shard-NNNNN.pt`` (features in float16, images in uint8) written atomically, so
an interrupted build resumes at the first missing shard.

    python train/feature_cache.py --pretrained_model_name_or_path recolor_hf/checkpoints/recolor-small \
        --output_dir runs/cache --num_pairs 4096
"""

import argparse
import os
from dataclasses import fields
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from recolor_hf import RecolorPipeline
from recolor_hf.data import DATA_ROOT, RelatedPairDataset, photo_split
from recolor_hf.pipeline import PairFeatures

IMAGES = ("content", "reference", "target")
SHARD_SIZE = 128  # pairs per shard file


def pack(features: PairFeatures, images: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A batch's features (float16) and images (uint8) as flat named tensors."""
    packed = {name: (image * 255).round().to(torch.uint8) for name, image in images.items()}
    for field in fields(PairFeatures):
        value = getattr(features, field.name)
        for k, tensor in enumerate(value if isinstance(value, tuple) else (value,)):
            packed[f"{field.name}.{k}"] = tensor.to(torch.float16)
    return packed


def unpack(batch: dict[str, torch.Tensor]) -> tuple[PairFeatures, dict[str, torch.Tensor]]:
    """The inverse of ``pack`` (batched by a DataLoader): (features in float32, images float in [0, 1])."""
    values = {}
    for field in fields(PairFeatures):
        parts = sorted((k for k in batch if k.split(".")[0] == field.name), key=lambda k: int(k.split(".")[1]))
        tensors = tuple(batch[k].float() for k in parts)
        values[field.name] = tensors if field.name == "colour" else tensors[0]
    return PairFeatures(**values), {name: batch[name].float() / 255 for name in IMAGES}


class FeatureCache(Dataset):
    """The shards of a cache folder as one dataset of packed pairs (memory-mapped, loaded on first use)."""

    def __init__(self, folder: str | os.PathLike):
        self.shards = sorted(Path(folder).glob("shard-*.pt"))
        if not self.shards:
            raise ValueError(f"no cache shards (shard-*.pt) in {folder}; build them with train/feature_cache.py")
        self.loaded: dict[int, dict[str, torch.Tensor]] = {}
        self.sizes = [SHARD_SIZE] * (len(self.shards) - 1) + [len(self.shard(len(self.shards) - 1)["content"])]
        self.resolution = self.shard(0)["content"].shape[-1]

    def shard(self, k: int) -> dict[str, torch.Tensor]:
        if k not in self.loaded:
            self.loaded[k] = torch.load(self.shards[k], mmap=True, weights_only=True)
        return self.loaded[k]

    def set_epoch(self, epoch: int) -> None:
        """The cache is a fixed set of pairs: nothing changes between epochs (the loader reshuffles)."""

    def __len__(self) -> int:
        return sum(self.sizes)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k, j = divmod(i, SHARD_SIZE)
        return {name: tensor[j] for name, tensor in self.shard(k).items()}


@torch.no_grad()
def build_cache(pipe: RecolorPipeline, pairs: Dataset, output_dir: Path, num_pairs: int, batch_size: int) -> None:
    """Write ``num_pairs`` pairs of ``pairs`` (cycling through its photos, a new epoch each pass) as shards."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for k in tqdm(range((num_pairs + SHARD_SIZE - 1) // SHARD_SIZE), desc="cache shards"):
        path = output_dir / f"shard-{k:05d}.pt"
        if path.exists():
            continue
        packed = []
        for start in range(k * SHARD_SIZE, min(num_pairs, (k + 1) * SHARD_SIZE), batch_size):
            samples = []
            for i in range(start, min(num_pairs, (k + 1) * SHARD_SIZE, start + batch_size)):
                pairs.set_epoch(i // len(pairs))
                samples.append(pairs[i % len(pairs)])
            # the images as the cache stores them (uint8), so that features and images agree
            images = {name: (torch.stack([s[name] for s in samples]) * 255).round() / 255 for name in IMAGES}
            features = pipe.features(images["content"].to(pipe.device), images["reference"].to(pipe.device))
            packed.append(pack(features, images))
        shard = {name: torch.cat([p[name] for p in packed]).cpu() for name in packed[0]}
        torch.save(shard, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained_model_name_or_path", required=True, help="pipeline folder (frozen parts)")
    parser.add_argument("--output_dir", required=True, type=Path)
    parser.add_argument("--train_data_dir", default=str(DATA_ROOT / "photos"))
    parser.add_argument("--num_pairs", type=int, default=4096)
    parser.add_argument("--resolution", type=int, default=None, help="default: the pipeline's working resolution")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--cross_prob", type=float, default=0.0,
                        help="chance of a reference from another photo under the same look (RelatedPairDataset)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pipe = RecolorPipeline.from_pretrained(args.pretrained_model_name_or_path)
    pairs = RelatedPairDataset(photo_split(args.train_data_dir, "train"), args.resolution or pipe.config.resolution,
                               seed=args.seed, cross_prob=args.cross_prob)
    build_cache(pipe, pairs, args.output_dir, args.num_pairs, args.batch_size)


if __name__ == "__main__":
    main()
