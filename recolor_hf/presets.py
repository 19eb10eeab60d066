"""Named model sizes. ``paper`` follows the published sizes; ``small`` is sized to train on CPUs; ``tiny`` is for tests.

Each preset gives the pipeline's working resolution and the config of every component. The predictor's
``colour_channels`` come from the backbone and are filled in by ``RecolorPipeline.from_preset``.
"""

PRESETS: dict[str, dict] = {
    "paper": {
        "resolution": 256,
        "generator": dict(native_resolution=256, min_resolution=4, channel_base=16384, channel_max=512, style_dim=512),
        "latent_encoder": dict(channels=(64, 128, 256, 512, 512, 512), style_dim=512),
        "map_encoder": dict(channels=(64, 64, 128, 256, 512), style_dim=512),
        "predictor": dict(style_dim=512, hidden_channels=(512, 256, 128), aspp_rates=(1, 2, 4)),
        "backbone": dict(name="efficientnet-lite0"),
    },
    "small": {
        "resolution": 128,
        "generator": dict(native_resolution=128, min_resolution=8, channel_base=2048, channel_max=128, style_dim=128),
        "latent_encoder": dict(channels=(16, 32, 64, 128, 128), style_dim=128),
        "map_encoder": dict(channels=(16, 32, 64, 96, 128), style_dim=128),
        "predictor": dict(style_dim=128, hidden_channels=(128, 64, 32), aspp_rates=(1, 2, 3)),
        "backbone": dict(name="efficientnet-lite0"),
    },
    "tiny": {
        "resolution": 64,
        "generator": dict(native_resolution=64, min_resolution=4, channel_base=256, channel_max=32, style_dim=16),
        "latent_encoder": dict(channels=(8, 8, 16, 16), style_dim=16),
        "map_encoder": dict(channels=(8, 8, 16, 16, 16), style_dim=16),
        "predictor": dict(style_dim=16, hidden_channels=(16, 16, 8), aspp_rates=(1, 2)),
        "backbone": dict(name="efficientnet-lite0"),
    },
}
