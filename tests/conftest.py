import os
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
SHARED_DATA = ROOT.parent / "shared" / "data"


def textured_image(height: int, width: int, seed: int = 0) -> Image.Image:
    """A smooth random colour field with some texture: deterministic test content."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [np.sin(xx * rng.uniform(2, 8) + rng.uniform(0, 6)) * np.cos(yy * rng.uniform(2, 8)) for _ in range(3)]
    img = (np.stack(channels, -1) * 0.4 + 0.5 + rng.normal(0, 0.03, (height, width, 3))).clip(0, 1)
    return Image.fromarray((img * 255).astype(np.uint8))


def bomb_png(width: int, height: int) -> bytes:
    """A PNG file of a few bytes whose header declares width x height RGB pixels (and that holds no pixel data)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def serve(demo, **options):
    """Launch a Gradio app on a free port of 127.0.0.1 without blocking (``options``: more of launch's); the caller
    closes it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **options)
    return demo


def randomize_zero_init(*modules, std: float = 0.5) -> None:
    """Give random weights to the zero-initialised output layers (ToRGB convs, predictor heads).

    Untrained, the generator is the identity and the predictor returns W0S, so tests that need every input to
    show in the output perturb these layers first.
    """
    from recolor_hf.models.layers import ToRGB
    from recolor_hf.models.predictor import LatentMapPredictor

    for module in modules:
        for sub in module.modules():
            if isinstance(sub, ToRGB):
                torch.nn.init.normal_(sub.conv.weight, std=std)
            elif isinstance(sub, LatentMapPredictor):
                for head in sub.heads:
                    torch.nn.init.normal_(head.weight, std=std)


@pytest.fixture(scope="session")
def tiny_pipe():
    from recolor_hf import RecolorPipeline

    return RecolorPipeline.from_preset("tiny", seed=0)
