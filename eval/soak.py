"""Soak benchmark of the demo: memory and files over many large requests through the served app.

Usage: `python -m eval soak [--requests 200] [--megapixels 12] [--sessions 4] [--pretrained_model_name_or_path DIR]`.
The demo (`app.build_demo`) is served in this process with its own Gradio cache folder; `gradio_client`
sessions take turns, each request either a new prediction on one of `--num_photos` distinct synthetic 3:2 content photos
of `--megapixels` MP (JPEG uploads) or a strength change of the session's result. Every `--every` requests it
records the process's resident memory, the cached encodings, the result files kept and the size of the Gradio
cache (results.csv), then the change of memory between the first and the last tenth of the run (summary.md).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
from PIL import Image

from eval.report import markdown_table, write_summary
from eval.speed import ASPECT, synthetic_photo

MIB = 2**20
JPEG_QUALITY = 92
REFERENCE_SIDE = 1024
STRENGTHS = 7  # strength changes cycle through 0.5, 0.6, ... 1.1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_size(folder: Path) -> tuple[int, float]:
    """(number of files, MiB) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / MIB


def write_inputs(work: Path, args: argparse.Namespace, example_reference: str) -> tuple[list[Path], Path]:
    """The synthetic content JPEGs and the reference (the demo's first example at REFERENCE_SIDE px) in ``work``."""
    width = round((args.megapixels * 1e6 * ASPECT) ** 0.5)
    photos = []
    for seed in range(args.num_photos):
        photos.append(work / f"content{seed}.jpg")
        Image.fromarray(synthetic_photo(round(width / ASPECT), width, seed)).save(photos[-1], quality=JPEG_QUALITY)
    reference = Image.open(example_reference).convert("RGB")
    reference.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE))
    reference.save(work / "reference.jpg", quality=JPEG_QUALITY)
    return photos, work / "reference.jpg"


def soak_rows(url: str, state, photos: list[Path], reference: Path, work: Path,
              args: argparse.Namespace) -> tuple[list[dict], list[float]]:
    """Send the requests, sessions taking turns -> (a row of measurements every `--every` requests and at the end,
    the resident memory in MiB after each request)."""
    from gradio_client import Client, handle_file

    clients = [Client(url, verbose=False, download_files=False) for _ in range(args.sessions)]
    process, rows, rss = psutil.Process(), [], []
    for i in range(args.requests):
        client, tick = clients[i % args.sessions], time.perf_counter()
        if (i // args.sessions) % 2 == 0:  # each session: a prediction, then a strength change, ...
            photo = photos[(i // (2 * args.sessions) * args.sessions + i % args.sessions) % len(photos)]
            client.predict(handle_file(photo), handle_file(reference), 1.0, api_name="/recolour")
        else:
            client.predict(0.5 + (i % STRENGTHS) / 10, api_name="/strength")
        rss.append(process.memory_info().rss / MIB)
        if (i + 1) % args.every == 0 or i + 1 == args.requests:
            files, size = folder_size(work / "gradio")
            rows.append({"request": i + 1, "seconds": time.perf_counter() - tick, "rss_mib": rss[-1],
                         "encodings": len(state.encodings), "result_files": len(state.files.files()),
                         "cache_files": files, "cache_mib": size})
    return rows, rss


def run(args: argparse.Namespace) -> None:
    """Serve the demo, soak it (soak_rows), write results.csv and summary.md."""
    work = Path(tempfile.mkdtemp(prefix="eval_soak_"))
    os.environ["GRADIO_TEMP_DIR"] = str(work / "gradio")  # before Gradio builds anything: this run's own cache
    import app  # (reads GRADIO_TEMP_DIR when it builds the demo)
    from demo.photos import EXAMPLES
    from demo.session import Demo
    from recolor_hf import RecolorPipeline

    pipe = RecolorPipeline.from_pretrained(args.pretrained_model_name_or_path)
    photos, reference = write_inputs(work, args, EXAMPLES[0][1])
    state = Demo(pipe)
    demo = app.build_demo(pipe, state=state)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    start = time.perf_counter()
    try:
        rows, rss = soak_rows(demo.local_url, state, photos, reference, work, args)
    finally:
        demo.close()
    results = pd.DataFrame(rows)
    results.to_csv(args.output_dir / "results.csv", index=False)
    tenth = max(1, args.requests // 10)
    first, last = statistics.median(rss[:tenth]), statistics.median(rss[-tenth:])
    notes = [f"{args.requests} requests, {args.megapixels:g} MP content photos ({args.num_photos} distinct), "
             f"{args.sessions} sessions; cache capacity {state.encodings.capacity} encodings",
             f"RSS median over the first {tenth} requests {first:.0f} MiB, over the last {tenth} {last:.0f} MiB: "
             f"{100 * (last - first) / first:+.1f} % in {time.perf_counter() - start:.0f} s"]
    formats = {"rss_mib": "{:.0f}", "cache_mib": "{:.0f}"}
    write_summary(args.output_dir, "Soak benchmark (demo)", notes, {"every --every requests": markdown_table(results, formats)})
