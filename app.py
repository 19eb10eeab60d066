"""Gradio demo of recolor_hf: re-colour a source photo like a reference photo (Yang, Xu, Fan, WACV 2024).

``build_demo(pipe)`` builds the app; ``Handlers`` holds its event functions (tests call them directly).
Run ``python app.py [--checkpoint DIR]``: it serves the shipped checkpoint or DIR (or an untrained ``small``
pipeline, with a banner, when the folder is missing) on Gradio's usual host / port (GRADIO_SERVER_NAME,
GRADIO_SERVER_PORT).

Tabs: automatic re-colouring, guided clicks (supp. C.6), masks (supp. C.5), online optimisation (supp. C.7),
inspection of the latent maps (supp. C.9). Every result lands in the shared result panel, whose strength slider
re-renders from the cached latents (supp. eq. 3) without running the predictor again.
"""

import argparse
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import PIL.Image
import PIL.ImageDraw

from recolor_hf import DEFAULT_CHECKPOINT, RecolorLatents, RecolorPipeline
from recolor_hf.guidance import Guidance
from recolor_hf.optimize import MODES, LatentOptimizer
from recolor_hf.visualize import correspondence_image, pca_images

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES = [[str(EXAMPLES_DIR / f"{name}_source.jpg"), str(EXAMPLES_DIR / f"{name}_reference.jpg")]
            for name in ("city", "mountain", "bedroom")]
PREVIEW_SIDE = 1024  # long side of on-screen images; the download keeps the full resolution
MARKER_COLOURS = ("#ff3b30", "#34c759", "#007aff", "#ff9500", "#af52de", "#00c7be", "#ffcc00", "#ff2d55")
NO_CLICKS = {"actions": [], "pending": None}  # actions: ["pair", source_xy, reference_xy] or ["keep", source_xy]
MAX_STEPS = 200


def preview(image: PIL.Image.Image) -> PIL.Image.Image:
    """A copy with long side <= PREVIEW_SIDE."""
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), PIL.Image.LANCZOS)
    return small


def normalised(index, size: tuple[int, int]) -> tuple[float, float]:
    """Click position [x, y] in pixels of an image of ``size`` (W, H) -> (x, y) in [0, 1] (pixel centres)."""
    return min((index[0] + 0.5) / size[0], 1.0), min((index[1] + 0.5) / size[1], 1.0)


def draw_markers(image: PIL.Image.Image, points: list[tuple[tuple[float, float], str, str]]) -> PIL.Image.Image:
    """Circles at normalised points, each (xy, colour, label); "" as colour draws a hollow (pending) circle."""
    image = image.copy()
    draw = PIL.ImageDraw.Draw(image)
    radius = max(6, max(image.size) // 60)
    for (x, y), colour, label in points:
        cx, cy = x * image.width, y * image.height
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        draw.ellipse(box, fill=colour or None, outline="white" if colour else "#ff3b30", width=max(2, radius // 4))
        draw.text((cx, cy), label, fill="black" if colour == "white" else "white", anchor="mm", font_size=radius * 1.4)
    return image


def editor_mask(value) -> np.ndarray | None:
    """ImageEditor value -> (H, W) bool mask of everything painted (any layer), or None if nothing is."""
    layers = [layer for layer in (value or {}).get("layers") or [] if layer is not None]
    if not layers:
        return None
    mask = np.zeros(layers[0].size[::-1], dtype=bool)
    for layer in layers:
        mask |= np.asarray(layer.convert("RGBA"))[:, :, 3] > 0
    return mask if mask.any() else None


def clicks_summary(clicks: dict) -> str:
    pairs = sum(a[0] == "pair" for a in clicks["actions"])
    keeps = len(clicks["actions"]) - pairs
    text = f"{pairs} pair(s), {keeps} keep point(s)."
    return text + (" Now click the matching point on the **reference**." if clicks["pending"] else "")


class Handlers:
    """The demo's event functions around one pipeline; images in and out are PIL, errors are ``gr.Error``."""

    def __init__(self, pipe: RecolorPipeline, out_dir: Path | None = None):
        self.pipe = pipe
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="recolor_demo_"))

    # ----- helpers -----

    def load(self, image, name: str) -> PIL.Image.Image:
        """Check one upload with the pipeline's own rules; problems become a readable gr.Error."""
        if image is None:
            raise gr.Error(f"Upload a {name} photo first.")
        try:
            return self.pipe.prepare(image, name)[0]
        except ValueError as err:
            raise gr.Error(str(err)) from None

    def encode(self, source, reference, guidance: Guidance | None = None) -> tuple[RecolorLatents, float]:
        """Run the predictor once (optionally guided); returns the latents and the seconds it took."""
        source, reference = self.load(source, "source"), self.load(reference, "reference")
        start = time.perf_counter()
        try:
            guide = None if guidance is None else guidance.as_guide(source.size, reference.size)
            latents = self.pipe.encode(source, reference, guide=guide)
        except ValueError as err:
            raise gr.Error(str(err)) from None
        return latents, time.perf_counter() - start

    def show(self, latents: RecolorLatents, alpha: float, request: gr.Request | None = None, note: str = ""):
        """Render the cached latents at strength alpha -> (before/after preview, full-res PNG path, status)."""
        start = time.perf_counter()
        try:
            result = self.pipe.decode(latents, alpha)[0]
        except ValueError as err:
            raise gr.Error(str(err)) from None
        seconds = time.perf_counter() - start
        folder = self.out_dir / (getattr(request, "session_hash", None) or "local")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "recoloured.png"
        result.save(path, compress_level=1)
        status = f"{note}Rendered {result.width}x{result.height} at strength {alpha:g} in {seconds:.2f} s."
        return (preview(latents.contents[0]), preview(result)), str(path), status

    # ----- events -----

    def recolour(self, source, reference, alpha: float, request: gr.Request = None):
        """Automatic correspondence -> (latents, before/after, file, status)."""
        latents, seconds = self.encode(source, reference)
        return latents, *self.show(latents, alpha, request, f"Predicted in {seconds:.2f} s. ")

    def set_strength(self, latents, alpha: float, request: gr.Request = None):
        """Strength slider: re-render the cached latents (supp. eq. 3), no predictor run; nothing before a run."""
        if latents is None:
            return gr.skip(), gr.skip(), gr.skip()
        return self.show(latents, alpha, request)

    def reset_views(self, source, reference):
        """New uploads: clear the clicks and show the photos in the click views and mask editors."""
        views = [None if im is None else preview(self.load(im, name))
                 for im, name in ((source, "source"), (reference, "reference"))]
        editors = [None if v is None else {"background": v, "layers": [], "composite": v} for v in views]
        return dict(NO_CLICKS), *views, clicks_summary(NO_CLICKS), *editors

    def click_views(self, clicks: dict, source, reference):
        """The two click views with their markers: numbered pairs in matching colours, "K" for keep points."""
        marks_s, marks_r = [], []
        for number, action in enumerate(clicks["actions"], start=1):
            if action[0] == "pair":
                colour = MARKER_COLOURS[(number - 1) % len(MARKER_COLOURS)]
                marks_s.append((action[1], colour, str(number)))
                marks_r.append((action[2], colour, str(number)))
            else:
                marks_s.append((action[1], "white", "K"))
        if clicks["pending"]:
            marks_s.append((clicks["pending"], "", ""))
        views = []
        for image, name, marks in ((source, "source", marks_s), (reference, "reference", marks_r)):
            views.append(None if image is None else draw_markers(preview(self.load(image, name)), marks))
        return clicks, *views, clicks_summary(clicks)

    def click_source(self, clicks: dict, mode: str, source, reference, evt: gr.SelectData):
        """A click on the source: starts a pair, or adds a keep point."""
        xy = normalised(evt.index, preview(self.load(source, "source")).size)
        if mode == "keep":
            clicks = {"actions": clicks["actions"] + [["keep", xy]], "pending": None}
        else:
            clicks = {"actions": clicks["actions"], "pending": xy}
        return self.click_views(clicks, source, reference)

    def click_reference(self, clicks: dict, mode: str, source, reference, evt: gr.SelectData):
        """A click on the reference completes the pending pair."""
        if not clicks["pending"]:
            raise gr.Error("Click on the source first, then on the reference region whose colour it should take.")
        xy = normalised(evt.index, preview(self.load(reference, "reference")).size)
        clicks = {"actions": clicks["actions"] + [["pair", clicks["pending"], xy]], "pending": None}
        return self.click_views(clicks, source, reference)

    def undo(self, clicks: dict, source, reference):
        if clicks["pending"]:
            clicks = {"actions": clicks["actions"], "pending": None}
        else:
            clicks = {"actions": clicks["actions"][:-1], "pending": None}
        return self.click_views(clicks, source, reference)

    def clear(self, source, reference):
        return self.click_views(dict(NO_CLICKS), source, reference)

    def guidance(self, clicks: dict, source_mask=None, reference_mask=None) -> Guidance:
        pairs = [(a[1], a[2]) for a in clicks["actions"] if a[0] == "pair"]
        keep = [a[1] for a in clicks["actions"] if a[0] == "keep"]
        try:
            return Guidance(pairs, keep, source_mask, reference_mask)
        except ValueError as err:
            raise gr.Error(str(err)) from None

    def run_guided(self, source, reference, clicks: dict, alpha: float, request: gr.Request = None):
        """Re-colour with the clicked pairs and keep points (supp. eq. 2)."""
        latents, seconds = self.encode(source, reference, self.guidance(clicks))
        return latents, *self.show(latents, alpha, request, f"Guided prediction in {seconds:.2f} s. ")

    def run_masks(self, source, reference, source_editor, reference_editor, clicks: dict, alpha: float,
                  request: gr.Request = None):
        """Re-colour with the painted regions (supp. eq. 1), plus any clicks."""
        masks = editor_mask(source_editor), editor_mask(reference_editor)
        if masks[0] is None and masks[1] is None:
            raise gr.Error("Paint a region on the source and/or the reference first.")
        latents, seconds = self.encode(source, reference, self.guidance(clicks, *masks))
        return latents, *self.show(latents, alpha, request, f"Two-step correspondence in {seconds:.2f} s. ")

    def optimise(self, source, reference, mode: str, steps: int, request: gr.Request = None,
                 progress=gr.Progress()):
        """Online stylization (supp. C.7), a generator: yields the loss curve after every step, then the result.

        Outputs: (latents, before/after, file, status, loss curve). Stopping (the Stop button cancels the event)
        takes effect between steps.
        """
        source, reference = self.load(source, "source"), self.load(reference, "reference")
        start = time.perf_counter()
        try:
            optimizer = LatentOptimizer(self.pipe, source, reference, mode)
        except ValueError as err:
            raise gr.Error(str(err)) from None
        losses = []
        for step in range(int(steps)):
            progress((step, int(steps)), desc="optimising")
            losses.append(optimizer.step())
            curve = pd.DataFrame({"step": range(len(losses)), "w0 loss": losses})
            status = f"Step {step + 1}/{int(steps)}: w0 loss {losses[-1]:.4f}."
            yield gr.skip(), gr.skip(), gr.skip(), status, curve
        seconds = time.perf_counter() - start
        latents = optimizer.latents()
        note = f"{len(losses)} steps ({mode}) in {seconds:.2f} s, last w0 loss {losses[-1]:.4f}. " if losses else ""
        yield latents, *self.show(latents, 1.0, request, note), gr.skip()

    def inspect(self, latents: RecolorLatents | None, reference):
        """PCA of W1, W2, W3 (supp. C.9) and the correspondence, as (image, caption) pairs for a gallery."""
        if latents is None:
            raise gr.Error("Nothing to inspect yet: run a re-colouring first.")
        reference_low = self.pipe.to_working([self.load(reference, "reference")])[0]
        width, height = latents.contents[0].size
        aspect = width / height
        views = [(image, f"W{k} (PCA)") for k, image in enumerate(pca_images(latents.maps, aspect), start=1)]
        match = correspondence_image(latents.correspondence, latents.source_low[0], reference_low, aspect)
        return views + [(match, "correspondence: the reference colour each source patch takes")]


def build_demo(pipe: RecolorPipeline, untrained: bool = False) -> gr.Blocks:
    """The Gradio app around ``pipe`` (queued, one heavy job at a time)."""
    h = Handlers(pipe)
    heavy = dict(concurrency_limit=1, concurrency_id="model")
    with gr.Blocks(title="recolor_hf — exemplar-based re-colorization") as demo:
        gr.Markdown("# Exemplar-based photo re-colorization\nGive a source photo and a reference photo of a similar "
                    "scene: each region of the source takes the colours of the matching region of the reference "
                    "(sky to its sky, foliage to its foliage), and regions with no match take the reference's "
                    "overall look (Yang, Xu, Fan, *Latent-Guided Exemplar-Based Image Re-Colorization*, WACV 2024). "
                    "Strength below 1 softens the change, above 1 exaggerates it; when the automatic match is "
                    "wrong, click or paint which source region takes which reference colour.")
        if untrained:
            gr.Markdown("**⚠ untrained model**: no trained checkpoint was found, so this demo runs a randomly "
                        "initialised pipeline. Results stay close to the unchanged source; the app itself works.")
        latents = gr.State(None)
        clicks = gr.State(dict(NO_CLICKS))
        with gr.Row():
            source = gr.Image(type="pil", format="png", image_mode=None, height=360,
                              label="Source (colour or grayscale)")
            reference = gr.Image(type="pil", format="png", image_mode=None, height=360, label="Reference")
        gr.Examples(EXAMPLES, inputs=[source, reference], label="Example pairs (DPST, research use only)")

        with gr.Tabs():
            with gr.Tab("Re-colour"):
                run = gr.Button("Re-colour", variant="primary")
            with gr.Tab("Guided clicks"):
                gr.Markdown("**Pair** mode: click a source region, then the reference region whose colour it should "
                            "take. **Keep** mode: click source regions that must keep their colour. Similar regions "
                            "follow the clicked ones (supp. C.6).")
                mode = gr.Radio(["pair", "keep"], value="pair", label="Click mode")
                with gr.Row():
                    source_view = gr.Image(type="pil", interactive=False, label="Source: click here")
                    reference_view = gr.Image(type="pil", interactive=False, label="Reference: click here")
                clicks_text = gr.Markdown(clicks_summary(NO_CLICKS))
                with gr.Row():
                    undo = gr.Button("Undo")
                    clear = gr.Button("Clear")
                    run_guided = gr.Button("Re-colour with clicks", variant="primary")
            with gr.Tab("Masks"):
                gr.Markdown("Paint a region on the source and the region of the reference it corresponds to. The "
                            "painted source region is matched only inside the painted reference region; the rest "
                            "of the source follows the most similar painted patches (supp. C.5). Clicks from the "
                            "previous tab apply too.")
                brush = gr.Brush(colors=["#ff3b30"], color_mode="fixed")
                with gr.Row():
                    source_editor = gr.ImageEditor(type="pil", sources=(), transforms=(), layers=False, brush=brush,
                                                   label="Source region")
                    reference_editor = gr.ImageEditor(type="pil", sources=(), transforms=(), layers=False,
                                                      brush=brush, label="Reference region")
                run_masks = gr.Button("Re-colour with masks", variant="primary")
            with gr.Tab("Online optimisation"):
                gr.Markdown("No predictor: gradient descent on the 1-D code w or the maps W to minimise the w0 "
                            "loss to the reference (supp. C.7). The maps mode may show artifacts.")
                with gr.Row():
                    opt_mode = gr.Radio(list(MODES), value="code", label="Optimise")
                    steps = gr.Slider(1, MAX_STEPS, value=20, step=1, label="Steps", elem_id="steps")
                with gr.Row():
                    optimise = gr.Button("Optimise", variant="primary")
                    stop = gr.Button("Stop", variant="stop")
                curve = gr.LinePlot(x="step", y="w0 loss", label="w0 loss")
            with gr.Tab("Inspect"):
                gr.Markdown("PCA of the latent maps W1, W2, W3 (3 principal components as RGB) and, for each source "
                            "patch, the reference colour it takes (supp. C.9).")
                show_maps = gr.Button("Show latent maps")
                gallery = gr.Gallery(columns=4, object_fit="contain", label="Latent maps and correspondence")

        gr.Markdown("## Result")
        alpha = gr.Slider(0, 2, value=1.0, step=0.05, label="Strength α (0 = source look, 1 = prediction)")
        compare = gr.ImageSlider(type="pil", format="png", label="Before / after", elem_id="result")
        with gr.Row():
            download = gr.File(label="Full-resolution PNG")
            status = gr.Markdown()

        result = [latents, compare, download, status]
        views = [clicks, source_view, reference_view, clicks_text]
        run.click(h.recolour, [source, reference, alpha], result, api_name="recolour", **heavy)
        alpha.change(h.set_strength, [latents, alpha], [compare, download, status], api_name="strength",
                     trigger_mode="always_last", **heavy)
        for image in (source, reference):
            image.change(h.reset_views, [source, reference], views + [source_editor, reference_editor],
                         api_name=False)
        source_view.select(h.click_source, [clicks, mode, source, reference], views, api_name=False)
        reference_view.select(h.click_reference, [clicks, mode, source, reference], views, api_name=False)
        undo.click(h.undo, [clicks, source, reference], views, api_name=False)
        clear.click(h.clear, [source, reference], views, api_name=False)
        run_guided.click(h.run_guided, [source, reference, clicks, alpha], result, api_name="guided", **heavy)
        run_masks.click(h.run_masks, [source, reference, source_editor, reference_editor, clicks, alpha], result,
                        api_name="masks", **heavy)
        optimising = optimise.click(h.optimise, [source, reference, opt_mode, steps], result + [curve],
                                    api_name="optimise", **heavy)
        stop.click(None, cancels=[optimising], api_name=False)
        show_maps.click(h.inspect, [latents, reference], gallery, api_name="inspect", **heavy)
    return demo.queue(default_concurrency_limit=1)


def load_pipe(checkpoint: Path = DEFAULT_CHECKPOINT) -> tuple[RecolorPipeline, bool]:
    """The pipeline folder ``checkpoint``, or an untrained ``small`` one (second value True) when it is missing."""
    try:
        return RecolorPipeline.from_pretrained(checkpoint), False
    except ValueError as err:
        print(f"{err}\nFalling back to an untrained 'small' pipeline.")
        return RecolorPipeline.from_preset("small"), True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the recolor_hf Gradio demo.")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="pipeline folder (default: %(default)s)")
    build_demo(*load_pipe(parser.parse_args().checkpoint)).launch(max_file_size="50mb")
