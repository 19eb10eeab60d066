"""The networks of RecolorPipeline as diffusers models: ``backbones`` (the frozen FeatureBackbone), ``encoders``
(E_w, E_W), ``predictor`` (P_W and the correspondence), ``generator`` (G'), ``colour`` (Lab statistics) and
``layers``. Import the module you need; this package imports nothing itself (``import recolor_hf`` stays light).
"""
