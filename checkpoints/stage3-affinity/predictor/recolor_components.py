"""Written by recolor_hf 0.1.0 beside a saved RecolorPipeline, for diffusers' custom-code loading:

    from diffusers import DiffusionPipeline
    pipe = DiffusionPipeline.from_pretrained("<this repository or folder>", trust_remote_code=True)

It holds no model code: it imports the network classes from the installed recolor_hf package (pip install recolor_hf).
"""

try:
    from recolor_hf.models.backbones import FeatureBackbone  # noqa: F401
    from recolor_hf.models.encoders import LatentEncoder  # noqa: F401
    from recolor_hf.models.encoders import LatentMapEncoder  # noqa: F401
    from recolor_hf.models.predictor import LatentMapPredictor  # noqa: F401
    from recolor_hf.models.generator import RecolorGenerator  # noqa: F401
except ImportError as err:  # recolor_hf missing, or too old to have these classes
    raise ImportError("this pipeline needs the recolor_hf package (pip install recolor_hf): " + str(err)) from err
