"""The shipped checkpoint re-colours toward the reference on held-out photos with ground truth: references of the
same scene (an unaligned view of the target) and of another photo under the same look (the preset benchmark's pairs).
"""

import numpy as np
import pytest

from conftest import SHARED_DATA
from eval.benchmark import preset_pairs
from recolor_hf import DEFAULT_CHECKPOINT, RecolorPipeline
from recolor_hf.data import list_images, load_image, random_warp, split_train_val
from recolor_hf.looks import random_look
from recolor_hf.metrics import ciede2000, mae

NUM_PAIRS = 6
NUM_CROSS_PAIRS = 16
MAX_SIDE = 256

pytestmark = [
    pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "model_index.json").is_file(),
                       reason=f"no shipped checkpoint at {DEFAULT_CHECKPOINT}"),
    pytest.mark.skipif(not (SHARED_DATA / "photos").is_dir(), reason=f"no photos at {SHARED_DATA / 'photos'}"),
]


@pytest.fixture(scope="module")
def pairs():
    """Held-out photos A: source A, reference = an unaligned view of P(A), ground truth P(A) (P: a seeded look)."""
    _, val = split_train_val(list_images(SHARED_DATA / "photos"), 0.1, seed=0)
    out = []
    for i, path in enumerate(val[:: max(1, len(val) // NUM_PAIRS)][:NUM_PAIRS]):
        rng = np.random.default_rng([7, i])
        source = load_image(path, MAX_SIDE).astype(np.float32) / 255
        target = random_look(rng, ("global", "local")[i % 2])(source)
        reference = random_warp(target, rng)
        out.append(tuple((x * 255 + 0.5).astype(np.uint8) for x in (source, reference, target)))
    return out


@pytest.fixture(scope="module")
def pipe():
    return RecolorPipeline.from_pretrained(DEFAULT_CHECKPOINT)


def errors(pipe, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Mean (MAE, dE00) to the ground truth of ours and of identity (no change) over (source, reference, target)."""
    ours, identity = [], []
    for source, reference, target in pairs:
        result = np.asarray(pipe(content=source, reference=reference).images[0])
        assert result.shape == source.shape
        ours.append((mae(result, target), ciede2000(result, target)))
        identity.append((mae(source, target), ciede2000(source, target)))
    return np.mean(ours, axis=0), np.mean(identity, axis=0)


def test_shipped_checkpoint_beats_identity(pipe, pairs):
    ours, identity = errors(pipe, pairs)
    print(f"MAE ours {ours[0]:.2f} vs identity {identity[0]:.2f}; dE00 ours {ours[1]:.2f} vs {identity[1]:.2f}")
    assert ours[0] < 0.8 * identity[0] and ours[1] < 0.8 * identity[1]


def test_shipped_checkpoint_transfers_a_look_between_photos(pipe):
    """Source A, reference P(B) of another held-out photo B, ground truth P(A): only the look is shared."""
    _, val = split_train_val(list_images(SHARED_DATA / "photos"), 0.1, seed=0)
    pairs = [(p.source, p.reference, p.target) for p in preset_pairs(val, NUM_CROSS_PAIRS, seed=7, max_side=MAX_SIDE)]
    ours, identity = errors(pipe, pairs)
    print(f"MAE ours {ours[0]:.2f} vs identity {identity[0]:.2f}; dE00 ours {ours[1]:.2f} vs {identity[1]:.2f}")
    assert ours[0] < identity[0] and ours[1] < identity[1]
