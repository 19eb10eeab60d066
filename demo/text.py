"""The demo's words: the introduction, the untrained-model banner, the About text, and the page's CSS."""

INTRO = ("## Re-colour a photo like a reference photo\nEach region of your photo takes the colours of the matching "
         "region of the reference (sky to its sky, foliage to its foliage), the rest its overall look. Upload both "
         "or pick an example and press **Re-colour**; if the match is wrong, use **Point and click** or **Paint "
         "regions**.")
UNTRAINED = ("**⚠ untrained model**: no trained checkpoint was found, so this demo runs a randomly initialised "
             "pipeline. Results stay close to the unchanged photo; the app itself works.")
ABOUT = """*Latent-Guided Exemplar-Based Image Re-Colorization* (Yang, Xu, Fan, WACV 2024); "supp." is its
supplementary material.
- **Re-colour**: the W-predictor P_W maps content and reference to latent maps W = (W1, W2, W3) that modulate the
  generator G'; the hard cross-attention A_C matches content and reference patches.
- **Strength** is α in W' = W0(base) + α (W − W0(base)) (supp. eq. 3 with W0(base) for W0S): base is the content
  moved to the predicted colour statistics and W0(base) its own map; at α ≠ 1 both start from the content moved α of
  the way. 0 = the content's look, 1 = the prediction, 2 exaggerates it.
- **Point and click** is the user-guided correspondence of supp. C.6 (eq. 2): a pair sets A_C(r, s) = 1, a keep point
  A_U(s, s) = 1, and the hard-masked self-attention A_S spreads them to similar regions.
- **Paint regions** (supp. C.5) is a region-to-region transfer: the painted part of the photo takes the painted part
  of the reference's colour statistics as a whole, as the DPST mask oracle does; the rest is the automatic result.
- **Match the overall look** is online stylization (supp. C.7): Adam on the 1-D code w ("the whole look at once")
  or on the maps W ("region by region") to minimise the w0 loss (main eq. 2), the distance between the
  self-reconstruction codes w0 of the result and the reference ("difference to the reference's look").
- **Inspect** shows the PCA of W1, W2, W3 (three principal components as RGB, supp. C.9) and the correspondence.
"""
CSS = """
#status [data-testid="status-tracker"]:has(.error) { display: none; }  /* the message is in a toast */
"""
