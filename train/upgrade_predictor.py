"""Carry a pipeline saved before the colour-statistics path (recolor_hf.models.colour) over to it.

The predictor's ASPP1 gained 12 input channels (normalised target and source Lab statistics, beside W~0R, C3 and
the confidence). This copies every trained tensor, gives the new input channels zero weights, resets the heads to
zero (so W = W0(base): the output is the colour-statistics transfer until stage 3 trains the residual) and sets
the working resolution. The other components are copied unchanged.

    python train/upgrade_predictor.py --pretrained_model_name_or_path old/recolor-small --output_dir runs/upgraded \\
        --resolution 256
"""

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from recolor_hf import RecolorPipeline
from recolor_hf.models.predictor import LatentMapPredictor


def upgrade(path: Path, resolution: int) -> RecolorPipeline:
    """The pipeline at ``path`` with an upgraded predictor (see the module docstring)."""
    config = json.loads((path / "predictor" / "config.json").read_text())
    predictor = LatentMapPredictor(**{k: v for k, v in config.items() if not k.startswith("_")})
    state = predictor.state_dict()
    for key, value in load_file(next((path / "predictor").glob("*.safetensors"))).items():
        if key.startswith("heads."):
            continue
        if value.shape != state[key].shape:  # ASPP1 branch: [W~0R, C3, conf] -> [W~0R, C3, T, S_S, conf]
            extra = state[key].shape[1] - value.shape[1]
            value = torch.cat([value[:, :-1], value.new_zeros(value.shape[0], extra, *value.shape[2:]),
                               value[:, -1:]], dim=1)
        state[key] = value
    predictor.load_state_dict(state)
    pipe = RecolorPipeline.from_pretrained(path, predictor=predictor)
    pipe.register_to_config(resolution=resolution)
    return pipe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained_model_name_or_path", type=Path, required=True, help="pipeline folder to upgrade")
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--resolution", type=int, default=256, help="working resolution of the upgraded pipeline")
    args = p.parse_args()
    upgrade(args.pretrained_model_name_or_path, args.resolution).save_pretrained(args.output_dir)
    print(f"wrote {args.output_dir}")


if __name__ == "__main__":
    main()
