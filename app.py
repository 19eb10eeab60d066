"""Gradio demo of recolor_hf: re-colour a photo like a reference photo (Yang, Xu, Fan, WACV 2024).

This file lays the app out (``build_demo(pipe)``) and wires its events to the functions of ``demo.events``, which
work over the shared ``demo.session.Demo`` (tests call them directly). Run ``python app.py [--checkpoint DIR]``: it
serves the shipped checkpoint or DIR (or an untrained ``small`` pipeline, with a banner, when the folder is missing)
on Gradio's usual host / port (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT).

Every tab's action is an API endpoint (``/recolour``, ``/guided``, ``/masks``, ``/optimize`` with ``/stop``,
``/inspect``, ``/export_lut``, and ``/strength`` to re-render the session's result). Events get the raw uploads
(``preprocess=False``) so that an unreadable file reaches ``Photos.load`` and its message reaches the user; only
the regions button lets Gradio read the painted editors (``events.painted``). Memory and disk stay bounded: the
predictions live in an LRU cache keyed by the inputs' hash (the session state holds only the key), result files
are written into Gradio's cache by ``SessionFiles`` and deleted with their session, and Gradio's own cached files
are aged out (``DELETE_CACHE``).
"""

import argparse
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import PIL.Image
import PIL.ImageOps

from demo import events
from demo.clicks import CLICKS_HELP, Clicks
from demo.events import on
from demo.inputs import FALLBACK_CHOICES, MAX_STEPS, OPTIMIZE_MODES
from demo.photos import EXAMPLES, guard_editor
from demo.session import Demo
from demo.text import ABOUT, CSS, INTRO, UNTRAINED
from recolor_hf import DEFAULT_CHECKPOINT, RecolorPipeline

SESSION_TTL_S = 3600  # a session's result is forgotten after an hour unused (or an hour after its tab closed)
DELETE_CACHE = (3600, 86400)  # Gradio's cached uploads and views: every hour, delete those older than a day
INPUT_HEIGHT, VIEW_HEIGHT, RESULT_HEIGHT, EXAMPLES_HEIGHT, THUMB_SIDE = 220, 190, 440, 120, 160
CURVE_HEIGHT, LUT_BOX_HEIGHT = 170, 110
EXAMPLE_COLUMNS = 5  # thumbnail width: a fifth of the column
MAX_FILE_SIZE = "50mb"


def example_thumbnails() -> list[tuple[PIL.Image.Image, str]]:
    """Each example pair as one square thumbnail, the photo above its reference, captioned with its name."""
    thumbnails = []
    for content, reference in EXAMPLES:
        sheet = PIL.Image.new("RGB", (THUMB_SIDE, THUMB_SIDE))
        for row, path in enumerate((content, reference)):
            half = PIL.ImageOps.fit(PIL.Image.open(path).convert("RGB"), (THUMB_SIDE, THUMB_SIDE // 2))
            sheet.paste(half, (0, row * THUMB_SIDE // 2))
        thumbnails.append((sheet, Path(content).stem.removesuffix("_content")))
    return thumbnails


def photo_inputs() -> SimpleNamespace:
    """The content and reference uploads, the examples row and what the parts the reference lacks become."""
    with gr.Row():
        content = gr.Image(type="filepath", image_mode=None, height=INPUT_HEIGHT, label="Content photo",
                           elem_id="content")
        reference = gr.Image(type="filepath", image_mode=None, height=INPUT_HEIGHT, label="Reference photo",
                             elem_id="reference")
    gr.Markdown("**Examples** (research use only): click one to load it.")
    examples = gr.Gallery(example_thumbnails(), columns=EXAMPLE_COLUMNS, height=EXAMPLES_HEIGHT, fit_columns=False,
                          allow_preview=False, object_fit="contain", elem_id="examples", show_label=False,
                          label="Examples", buttons=[])
    fallback = gr.Radio(FALLBACK_CHOICES, value="global", label="Parts of the photo the reference lacks",
                        elem_id="fallback", info="Different scenes or light: take the reference's overall colours. "
                        "One scene or shoot under one look: take the look of the matched parts. Or leave them as "
                        "they are.")
    return SimpleNamespace(content=content, reference=reference, examples=examples, fallback=fallback)


def clicks_tab() -> SimpleNamespace:
    """Point and click: the two click views, pair / keep, undo, clear and the guided run."""
    gr.Markdown("**Pair**: click a region of the photo, then the reference region whose colour it should take. "
                "**Keep**: click regions that must keep their colour. Similar regions follow the clicked ones.")
    text = gr.Markdown(Clicks().summary(), elem_id="clicks_summary")
    with gr.Row():
        content_view = gr.Image(type="filepath", interactive=False, show_label=False, buttons=[], height=VIEW_HEIGHT,
                                elem_id="content_view")
        reference_view = gr.Image(type="filepath", interactive=False, show_label=False, buttons=[],
                                  height=VIEW_HEIGHT, elem_id="reference_view")
    with gr.Row(equal_height=True):
        mode = gr.Radio([("Pair", "pair"), ("Keep", "keep")], value="pair", show_label=False, scale=2,
                        container=False)
        undo = gr.Button("Undo", scale=1)
        clear = gr.Button("Clear", scale=1)
        run = gr.Button("Re-colour with clicks", variant="primary", scale=2)
    return SimpleNamespace(content_view=content_view, reference_view=reference_view, mode=mode, undo=undo,
                           clear=clear, run=run, text=text)


def regions_tab(max_pixels: int) -> SimpleNamespace:
    """Paint regions: one editor per photo (refusing over ``max_pixels`` before Gradio decodes) and the masked run."""
    gr.Markdown("Paint a region of the photo and the region of the reference whose colours it should take: the "
                "painted part of the photo takes the painted part's colours as a whole, the rest is re-coloured as "
                "usual. Clicks from *Point and click* apply too. The bin icon clears the paint.")
    brush = gr.Brush(colors=["#ff3b30"], color_mode="fixed")
    editor = dict(type="pil", sources=(), transforms=(), layers=False, brush=brush, height=VIEW_HEIGHT)
    with gr.Row():
        content_region = gr.ImageEditor(label="Photo region", elem_id="content_region", **editor)
        reference_region = gr.ImageEditor(label="Reference region", elem_id="reference_region", **editor)
    run = gr.Button("Re-colour with regions", variant="primary")
    api = gr.Button(visible=False)  # the /masks endpoint: raw editor values, as API clients send them
    for region in (content_region, reference_region):
        guard_editor(region, max_pixels)
    return SimpleNamespace(content_region=content_region, reference_region=reference_region, run=run, api=api)


def look_tab() -> SimpleNamespace:
    """Match the overall look: the optimisation's mode, steps, start / stop and its loss curve."""
    gr.Markdown("No matching of regions: the model adjusts the whole photo, step by step, until its overall look "
                "is as close as it gets to the reference's.")
    with gr.Row(equal_height=True):
        mode = gr.Radio(OPTIMIZE_MODES, value="code", label="Fine-tune", scale=2)
        steps = gr.Slider(1, MAX_STEPS, value=20, step=1, precision=0, label="Steps", elem_id="steps", scale=2)
        with gr.Column(scale=1, min_width=120):
            run = gr.Button("Match the look", variant="primary", size="sm")
            stop = gr.Button("Stop", variant="stop", size="sm")
    curve = gr.LinePlot(x="step", y="difference", height=CURVE_HEIGHT, elem_id="curve", x_axis_format="d",
                        label="Difference to the reference's look (lower is closer)")
    return SimpleNamespace(mode=mode, steps=steps, run=run, stop=stop, curve=curve)


def inspect_tab() -> SimpleNamespace:
    """Inspect: the colour maps and the correspondence of the result on screen."""
    gr.Markdown("What the model sees: its colour maps at three scales (similar colours = similar settings) and, "
                "for each part of the photo, the reference colour it takes.")
    run = gr.Button("Show what the model matched")
    gallery = gr.Gallery(columns=4, object_fit="contain", label="Colour maps and matches", elem_id="inspect")
    return SimpleNamespace(run=run, gallery=gallery)


def result_column() -> SimpleNamespace:
    """Before / after, the strength slider, the status line and the downloads."""
    compare = gr.ImageSlider(type="filepath", height=RESULT_HEIGHT, label="Before and after", elem_id="result")
    strength = gr.Slider(0, 2, value=1.0, step=0.05, label="Strength", elem_id="strength",
                         info="0 keeps the photo's colours, 1 is the full re-colouring, 2 exaggerates it")
    status = gr.Markdown(label="Status", elem_id="status")
    with gr.Row(elem_id="downloads"):
        download = gr.File(label="Full-resolution PNG")
        with gr.Column():
            export = gr.Button("Export the look as a 3D LUT (.cube)", size="sm")
            lut = gr.File(label="3D LUT", elem_id="lut", height=LUT_BOX_HEIGHT, interactive=False,
                          visible=False)  # shown with its strength by events.lut_box
    return SimpleNamespace(compare=compare, strength=strength, status=status, download=download, export=export,
                           lut=lut)


def wire(demo: Demo, shown: gr.State, accepted: gr.State, clicks: gr.JSON, photos: SimpleNamespace,
         tabs: SimpleNamespace, out: SimpleNamespace) -> None:
    """Connect the components to the events: model work queued one job at a time, with an ``api_name`` each."""
    raw = dict(preprocess=False)  # events read the uploads themselves (see the module docstring)
    model = dict(concurrency_limit=1, concurrency_id="model", show_progress_on=[out.status])
    heavy, private = dict(**model, **raw), dict(api_visibility="private", **raw)
    inputs, point, regions = [photos.content, photos.reference], tabs.clicks, tabs.regions
    result = [shown, out.compare, out.download, out.status]
    click_outputs = [clicks, point.content_view, point.reference_view, point.text]
    editors = [regions.content_region, regions.reference_region]
    cleared = result + click_outputs + editors + [out.lut, tabs.inspect.gallery]
    for photo in inputs:
        photo.upload(on(demo, events.new_photos), inputs + [accepted], inputs + [accepted] + cleared, **private)
        photo.clear(on(demo, events.new_photos), inputs + [accepted], inputs + [accepted] + cleared, **private)
    photos.examples.select(on(demo, events.use_example), None, inputs + [accepted] + cleared, **private)
    for photo, editor, clear in zip(inputs, editors, (events.clear_content_region, events.clear_reference_region)):
        editor.clear(on(demo, clear), [photo], editor, **private)  # the editor's bin icon: the photo back, unpainted
    out.strength.change(on(demo, events.set_strength), [shown, out.strength, out.lut], result[1:] + [out.lut],
                        api_name="strength", api_description="Re-render the result on screen at another strength (0 "
                        "to 2), without running the model again; a LUT exported before is fitted again.",
                        trigger_mode="always_last", **heavy)
    settings = [out.strength, photos.fallback]  # the last inputs of every re-colouring event
    tabs.recolour.click(on(demo, events.recolour), inputs + settings, result, api_name="recolour", **heavy)
    point.content_view.select(on(demo, events.click_content), [clicks, point.mode, *inputs], click_outputs, **private)
    point.reference_view.select(on(demo, events.click_reference), [clicks, *inputs], click_outputs, **private)
    point.undo.click(on(demo, events.undo), [clicks, *inputs], click_outputs, **private)
    point.clear.click(on(demo, events.clear_clicks), inputs, click_outputs, **private)
    point.run.click(on(demo, events.guided), inputs + [clicks, *settings], result, api_name="guided",
                    api_description=f"Re-colour with clicked pairs and keep points. {CLICKS_HELP}", **heavy)
    regions.run.click(on(demo, events.painted), [accepted] + editors + [clicks, *settings], result,
                      api_visibility="private", **model)  # preprocessed: Gradio reads the editors' blobs
    regions.api.click(on(demo, events.masks), inputs + editors + [clicks, *settings], result, api_name="masks",
                      api_description="Re-colour with painted regions (image editor values: what is painted on any "
                      f"layer) and optional clicks. {CLICKS_HELP}", **heavy)
    look = tabs.look
    look.run.click(on(demo, events.optimize), inputs + [look.mode, look.steps, *settings], result + [look.curve],
                   api_name="optimize", **heavy)
    look.stop.click(on(demo, events.stop), None, None, api_name="stop", concurrency_limit=None)
    tabs.inspect.run.click(on(demo, events.inspect), [shown, photos.reference], tabs.inspect.gallery,
                           api_name="inspect", **heavy)
    out.lut.change(on(demo, events.lut_box), out.lut, out.lut, **private)
    out.export.click(on(demo, events.export_lut), [shown, out.strength], [out.lut, out.status], api_name="export_lut",
                     **heavy)


def build_demo(pipe: RecolorPipeline, untrained: bool = False, state: Demo | None = None,
               session_ttl: float = SESSION_TTL_S) -> gr.Blocks:
    """The Gradio app around ``pipe`` (and ``state``, a ``Demo`` of it): inputs and tabs on the left, the result on
    the right (queued, one model job at a time). Launch it with ``css=CSS``."""
    demo_state = state or Demo(pipe)
    with gr.Blocks(title="recolor_hf — re-colour a photo like a reference", delete_cache=DELETE_CACHE) as blocks:
        gr.Markdown(INTRO)
        if untrained:
            gr.Markdown(UNTRAINED)
        # a function, not the bound method: Gradio deep-copies the app's config (the pipeline with it) per page load
        shown = gr.State(None, time_to_live=session_ttl, delete_callback=lambda value: demo_state.forget(value))
        accepted = gr.State(None)  # the paths of the last accepted (content, reference): a refused upload restores them
        clicks = gr.JSON(Clicks().to_json(), visible=False, label="Clicks")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                photos = photo_inputs()
                with gr.Tabs():
                    with gr.Tab("Re-colour"):
                        recolour = gr.Button("Re-colour", variant="primary")
                    with gr.Tab("Point and click"):
                        point = clicks_tab()
                    with gr.Tab("Paint regions", render_children=True):  # editors take new photos while hidden
                        regions = regions_tab(pipe.config.max_pixels)
                    with gr.Tab("Match the overall look"):
                        look = look_tab()
                    with gr.Tab("Inspect"):
                        inspector = inspect_tab()
            with gr.Column(scale=1):
                out = result_column()
        with gr.Accordion("About the method", open=False):
            gr.Markdown(ABOUT)
        tabs = SimpleNamespace(recolour=recolour, clicks=point, regions=regions, look=look, inspect=inspector)
        wire(demo_state, shown, accepted, clicks, photos, tabs, out)
    return blocks.queue(default_concurrency_limit=1)


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
    build_demo(*load_pipe(parser.parse_args().checkpoint)).launch(max_file_size=MAX_FILE_SIZE, css=CSS)
