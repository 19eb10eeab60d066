"""A training cache of what stage 3 never learns: for each training pair, the frozen backbone's features, the
frozen encoders' w and W0R and the Lab statistics (``RecolorPipeline.features``), beside the pair's images.

A training step then runs only the correspondence (cheap, and re-drawn each step with the random semantic mask),
P_W, G' and the losses. Pairs come from ``RelatedPairDataset`` (content-related pairs with exact ground truth:
two crops of one photo under one look) or, with ``--pairs oracle``, from ``OraclePairs``: two different photos
of similar content with the DPST mask oracle as ground truth, on regions found by clustering the backbone's
semantic features of both photos together (the DPST evaluation's structure, never its photos), with ``--pairs
labelled`` from ``LabelledPairs``: the same on human class labels (street scenes of CamVid), with ``--pairs
timelapse`` from ``TimeLapsePairs`` (frames of fixed webcams). The cache is a
folder of shards ``shard-NNNNN.pt`` (features in float16, images in uint8) written atomically, so an interrupted
build resumes at the first missing shard.

    python train/feature_cache.py --pretrained_model_name_or_path recolor_hf/checkpoints/recolor-small \
        --output_dir runs/cache --num_pairs 4096
"""

import argparse
import os
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import gaussian_filter
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from recolor_hf import RecolorPipeline
from recolor_hf.data import (DATA_ROOT, RELATED_SCALE, RelatedPairDataset, SeededDataset, TimeLapsePairs,
                             photo_split)
from recolor_hf.image_io import image_to_tensor, load_image
from recolor_hf.looks import Look, random_look
from recolor_hf.oracle import mask_oracle
from recolor_hf.steps import PairFeatures

IMAGES = ("content", "reference", "target")
SHARD_SIZE = 128  # pairs per shard file
NEIGHBOURS = 8  # an oracle pair's reference is one of the content's NEIGHBOURS most similar photos
REGIONS = (3, 7)  # range of the number of regions clustered per oracle pair (upper bound excluded)
KMEANS_STEPS = 10
ORACLE_MIX = {"segment": 0.5, "strong": 0.3, "none": 0.2}  # looks given to an oracle pair's reference photo
LABELLED_MIX = {"class": 0.5, "strong": 0.3, "none": 0.2}  # looks given to a labelled pair's reference photo
CLASS_LOOK_BLUR = 0.01  # std of the class masks' softening in a class look, as a share of the image side


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


def kmeans(points: torch.Tensor, k: int, rng: np.random.Generator) -> torch.Tensor:
    """Cosine k-means of (N, f) unit vectors from k distinct random starts -> the centres (k, f)."""
    centres = points[torch.from_numpy(rng.choice(len(points), k, replace=False))]
    for _ in range(KMEANS_STEPS):
        labels = (points @ centres.T).argmax(1)
        centres = torch.stack([F.normalize(points[labels == c].sum(0), dim=0) if (labels == c).any() else centres[c]
                               for c in range(k)])
    return centres


class OraclePairs(SeededDataset):
    """Pairs of two different photos of similar content with the mask oracle as target (DPST's structure).

    Photo i is the content; the reference is one of its ``neighbours`` nearest photos by the backbone's mean semantic
    feature, under a look drawn from ORACLE_MIX (a segment-local look gives each of its regions its own colours, as
    a photo at another time of day does), flipped with chance 1/2. The semantic patches of both photos are clustered together (cosine k-means,
    k drawn from REGIONS; a pixel takes the centre its bilinearly upsampled similarities favour), and the target
    is ``recolor_hf.oracle.mask_oracle`` on those regions: each region found in both photos takes the reference
    region's Lab mean and std, the rest the global transfer. Sample i of epoch e
    draws from np.random.default_rng([seed, e, i]); images (3, R, R) float in [0, 1] at the pipeline's working
    resolution R.
    """

    def __init__(self, pipe: RecolorPipeline, paths: list[Path], seed: int = 0, batch_size: int = 16,
                 neighbours: int = NEIGHBOURS):
        size = (pipe.config.resolution,) * 2
        self.photos = torch.stack([image_to_tensor(np.asarray(load_image(p, "photo").resize(size))) for p in paths])
        with torch.no_grad():
            semantic = torch.cat([pipe.backbone(batch.to(pipe.device))[1].cpu()
                                  for batch in self.photos.split(batch_size)])
        self.semantic = F.normalize(semantic.flatten(2).transpose(1, 2), dim=2)  # (N, h*w, f)
        self.grid = tuple(semantic.shape[-2:])
        descriptor = F.normalize(self.semantic.mean(1), dim=1)
        similarity = (descriptor @ descriptor.T).fill_diagonal_(-2)
        self.neighbours = similarity.topk(min(neighbours, len(paths) - 1), dim=1).indices
        super().__init__(seed)

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = self.rng(i)
        j = int(self.neighbours[i, rng.integers(self.neighbours.shape[1])])
        content, semantic = self.photos[i], self.semantic[j]
        look = random_look(rng, rng.choice(list(ORACLE_MIX), p=list(ORACLE_MIX.values())))
        reference = image_to_tensor(look(self.photos[j].permute(1, 2, 0).numpy()))
        if rng.random() < 0.5:
            reference = reference.flip(-1)
            semantic = semantic.view(*self.grid, -1).flip(1).reshape(semantic.shape)
        centres = kmeans(torch.cat([self.semantic[i], semantic]), int(rng.integers(*REGIONS)), rng)
        size = content.shape[-2:]
        masks = [F.interpolate((x @ centres.T).T.reshape(1, -1, *self.grid), size=size, mode="bilinear",
                               align_corners=False)[0].argmax(0).numpy() for x in (self.semantic[i], semantic)]
        rgb = ((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for x in (content, reference))
        target = mask_oracle(*rgb, masks[0], masks[1])
        return {"content": content, "reference": reference, "target": image_to_tensor(target)}


def class_look(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each labelled class of ``image`` (H, W, 3) float in [0, 1] under its own random ``Look`` (a scene at another
    time of day: the sky, the road and the trees change differently), blended by softened one-hot class masks."""
    classes = np.unique(labels)
    masks = np.stack([gaussian_filter((labels == c).astype(np.float32), CLASS_LOOK_BLUR * max(labels.shape))
                      for c in classes])
    masks /= np.maximum(masks.sum(0), 1e-6)
    edits = [Look.random(rng).apply(image) for _ in classes]
    return np.einsum("khw,khwc->hwc", masks, np.stack(edits)).astype(np.float32)


class LabelledPairs(SeededDataset):
    """Pairs of two different photos of one kind of scene with human semantic labels, the mask oracle as target
    (DPST's structure with DPST's kind of masks, e.g. CamVid's street scenes).

    ``root`` holds ``images/NAME.png`` and ``labels/NAME.png`` (a class index per pixel, the same classes in every
    photo). Photo i is the content; the reference is another photo, from another sequence (the name's part before
    its last ``_``) with chance ``other_sequence_prob``, under a look from LABELLED_MIX ("class": ``class_look``),
    flipped with chance 1/2; the target is ``recolor_hf.oracle.mask_oracle`` on the labels. Images (3, R, R) float in
    [0, 1] at the working resolution R; sample i of epoch e draws from np.random.default_rng([seed, e, i]).
    """

    def __init__(self, root: str | os.PathLike, resolution: int = 256, seed: int = 0,
                 other_sequence_prob: float = 0.7):
        root = Path(root)
        self.names = sorted(p.name for p in (root / "images").glob("*.png"))
        if len(self.names) < 2:
            raise ValueError(f"{root}/images holds {len(self.names)} PNG photos; labelled pairs need at least 2")
        unlabelled = [n for n in self.names if not (root / "labels" / n).is_file()]
        if unlabelled:
            raise ValueError(f"{len(unlabelled)} photos have no labels/<name> class map, e.g. {unlabelled[0]}")
        size = (resolution, resolution)
        self.photos = [np.asarray(load_image(root / "images" / n, "photo").resize(size)) for n in self.names]
        self.labels = [np.asarray(Image.open(root / "labels" / n).resize(size, Image.NEAREST)) for n in self.names]
        self.sequences = np.array([n.rsplit("_", 1)[0] for n in self.names])
        self.other_sequence_prob = other_sequence_prob
        super().__init__(seed)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = self.rng(i)
        other = self.sequences != self.sequences[i]
        pool = np.flatnonzero(other if other.any() and rng.random() < self.other_sequence_prob else ~other)
        pool = pool[pool != i] if len(pool) > 1 else np.flatnonzero(np.arange(len(self.names)) != i)
        j = int(rng.choice(pool))
        reference, labels = self.photos[j].astype(np.float32) / 255, self.labels[j]
        kind = rng.choice(list(LABELLED_MIX), p=list(LABELLED_MIX.values()))
        reference = class_look(reference, labels, rng) if kind == "class" else random_look(rng, kind)(reference)
        if rng.random() < 0.5:
            reference, labels = reference[:, ::-1], labels[:, ::-1]
        reference = (np.clip(reference, 0, 1) * 255).round().astype(np.uint8)
        target = mask_oracle(self.photos[i], reference, self.labels[i], labels)
        return {"content": image_to_tensor(self.photos[i]), "reference": image_to_tensor(reference),
                "target": image_to_tensor(target)}


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
    parser.add_argument("--crop_scale", type=float, nargs=2, default=RELATED_SCALE, metavar=("LOW", "HIGH"),
                        help="related: the crops' area range as shares of the photo (0.5 0.5: its two halves)")
    parser.add_argument("--pairs", choices=("related", "oracle", "timelapse", "labelled"), default="related",
                        help="related: RelatedPairDataset; oracle: OraclePairs (different photos, mask oracle); "
                             "timelapse: TimeLapsePairs from --train_data_dir (one folder of frames per scene); "
                             "labelled: LabelledPairs from --train_data_dir (images/ and labels/)")
    parser.add_argument("--neighbours", type=int, default=NEIGHBOURS,
                        help="oracle: the reference is one of the content's N most similar photos (large N: "
                             "references of unrelated content too)")
    parser.add_argument("--grey_prob", type=float, default=0.0,
                        help="timelapse: chance of a grey reference (and target: the same frame in grey)")
    parser.add_argument("--scenes", nargs="*", default=None, help="timelapse: the scene folders to use (default all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pipe = RecolorPipeline.from_pretrained(args.pretrained_model_name_or_path)
    resolution = args.resolution or pipe.config.resolution
    if args.pairs == "timelapse":
        pairs = TimeLapsePairs(args.train_data_dir, resolution, args.seed, args.scenes, grey_prob=args.grey_prob)
    elif args.pairs == "labelled":
        pairs = LabelledPairs(args.train_data_dir, resolution, args.seed)
    elif args.pairs == "oracle":
        pairs = OraclePairs(pipe, photo_split(args.train_data_dir, "train"), args.seed, args.batch_size,
                            args.neighbours)
    else:
        pairs = RelatedPairDataset(photo_split(args.train_data_dir, "train"), resolution, seed=args.seed,
                                   cross_prob=args.cross_prob, scale=tuple(args.crop_scale))
    build_cache(pipe, pairs, args.output_dir, args.num_pairs, args.batch_size)


if __name__ == "__main__":
    main()
