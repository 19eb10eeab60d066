"""The shipped checkpoint re-colours toward the reference on held-out photos with ground truth."""

import numpy as np
import pytest

from conftest import SHARED_DATA
from recolor_hf import DEFAULT_CHECKPOINT, RecolorPipeline
from recolor_hf.data import list_images, load_image, random_warp, split_train_val
from recolor_hf.looks import random_look
from recolor_hf.metrics import ciede2000, mae

NUM_PAIRS = 6
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


def test_shipped_checkpoint_beats_identity(pairs):
    pipe = RecolorPipeline.from_pretrained(DEFAULT_CHECKPOINT)
    ours, identity = [], []
    for source, reference, target in pairs:
        result = np.asarray(pipe(content=source, reference=reference).images[0])
        assert result.shape == source.shape
        ours.append((mae(result, target), ciede2000(result, target)))
        identity.append((mae(source, target), ciede2000(source, target)))
    ours, identity = np.mean(ours, axis=0), np.mean(identity, axis=0)
    print(f"MAE ours {ours[0]:.2f} vs identity {identity[0]:.2f}; dE00 ours {ours[1]:.2f} vs {identity[1]:.2f}")
    assert ours[0] < 0.8 * identity[0] and ours[1] < 0.8 * identity[1]
