"""Parameter counts per component and CPU seconds per 256 px pair for each preset (randomly initialised).

    python eval/bench_presets.py [--presets tiny small paper] [--repeats 5]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from recolor_hf import RecolorPipeline  # noqa: E402
from recolor_hf.pipeline import COMPONENTS  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--presets", nargs="+", default=["tiny", "small", "paper"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--size", type=int, default=256, help="side of the square content and reference")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    content, reference = (rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8) for _ in range(2))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size} px pair")
    print("| preset | working px | " + " | ".join(COMPONENTS) + " | total | s / pair |")
    print("|---" * (len(COMPONENTS) + 4) + "|")
    for name in args.presets:
        pipe = RecolorPipeline.from_preset(name)
        counts = [sum(p.numel() for p in getattr(pipe, c).parameters()) for c in COMPONENTS]
        pipe(content=content, reference=reference)  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeats):
            pipe(content=content, reference=reference)
        seconds = (time.perf_counter() - start) / args.repeats
        print(f"| {name} | {pipe.config.resolution} | " + " | ".join(f"{c / 1e6:.2f}M" for c in counts)
              + f" | {sum(counts) / 1e6:.2f}M | {seconds:.3f} |")


if __name__ == "__main__":
    main()
