"""The shipped checkpoint re-colours toward the reference on photos with ground truth: DPST pairs against the
mask oracle (beats every classical transfer), references of the same scene (an unaligned view of the target),
reference sensitivity, and, as a no-harm check, another photo under the same look (the preset benchmark's pairs).
"""

import numpy as np
import pytest

from conftest import SHARED_DATA
from eval.benchmark import dpst_oracle_pairs, preset_pairs
from recolor_hf.baselines import BASELINES
from recolor_hf import DEFAULT_CHECKPOINT, RecolorPipeline
from recolor_hf.data import list_images, random_warp, split_train_val
from recolor_hf.image_io import load_array, to_float, to_uint8
from recolor_hf.looks import random_look
from recolor_hf.metrics import ciede2000, mae

NUM_PAIRS = 6
NUM_CROSS_PAIRS = 40
NUM_DPST_PAIRS = 10
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
        source = to_float(load_array(path, MAX_SIDE))
        target = random_look(rng, ("global", "local")[i % 2])(source)
        reference = random_warp(target, rng)
        out.append(tuple(to_uint8(x) for x in (source, reference, target)))
    return out


@pytest.fixture(scope="module")
def pipe():
    return RecolorPipeline.from_pretrained(DEFAULT_CHECKPOINT)


def errors(pipe, pairs, methods=("identity",)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mean (MAE, dE00) to the ground truth of ours and of baselines over (source, reference, target) triples."""
    ours, others = [], {name: [] for name in methods}
    for source, reference, target in pairs:
        result = np.asarray(pipe(content=source, reference=reference).images[0])
        assert result.shape == source.shape
        ours.append((mae(result, target), ciede2000(result, target)))
        for name in methods:
            output = BASELINES[name](source, reference)
            others[name].append((mae(output, target), ciede2000(output, target)))
    return np.mean(ours, axis=0), {name: np.mean(v, axis=0) for name, v in others.items()}


@pytest.mark.skipif(not (SHARED_DATA / "dpst").is_dir(), reason=f"no DPST pairs at {SHARED_DATA / 'dpst'}")
def test_shipped_checkpoint_beats_classical_transfer_on_dpst(pipe):
    """DPST pairs (similar scenes, very different colours) against the mask-oracle ground truth."""
    pairs = [(p.source, p.reference, p.target) for p in dpst_oracle_pairs(SHARED_DATA / "dpst", MAX_SIDE)]
    ours, others = errors(pipe, pairs[:NUM_DPST_PAIRS], ("identity", "reinhard", "mkl"))
    print({"ours": ours.round(2), **{k: v.round(2) for k, v in others.items()}})
    assert all(ours[0] < v[0] and ours[1] < v[1] for v in others.values())


def test_swapping_the_reference_changes_the_output(pipe, pairs):
    """Reference sensitivity: the same source under two very different references must differ a lot."""
    source = pairs[0][0]
    warm, cool = (np.full((64, 64, 3), colour, np.uint8) for colour in ((230, 140, 40), (40, 80, 200)))
    outputs = [np.asarray(pipe(content=source, reference=r).images[0]) for r in (warm, cool)]
    assert ciede2000(outputs[0], outputs[1]) > 20


def test_shipped_checkpoint_beats_identity(pipe, pairs):
    ours, others = errors(pipe, pairs)
    identity = others["identity"]
    print(f"MAE ours {ours[0]:.2f} vs identity {identity[0]:.2f}; dE00 ours {ours[1]:.2f} vs {identity[1]:.2f}")
    assert ours[0] < 0.8 * identity[0] and ours[1] < 0.8 * identity[1]


def test_no_harm_on_unrelated_photos(pipe):
    """Source A, reference P(B) of another held-out photo B, ground truth P(A): only the look is shared, so doing
    nothing is hard to beat; a transfer must still beat the classical ones."""
    _, val = split_train_val(list_images(SHARED_DATA / "photos"), 0.1, seed=0)
    pairs = [(p.source, p.reference, p.target) for p in preset_pairs(val, NUM_CROSS_PAIRS, seed=7, max_side=MAX_SIDE)]
    ours, others = errors(pipe, pairs, ("reinhard", "mkl"))
    print({"ours": ours.round(2), **{k: v.round(2) for k, v in others.items()}})
    assert all(ours[0] < v[0] and ours[1] < v[1] for v in others.values())
