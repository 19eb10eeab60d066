"""Soak benchmark of the demo: memory and files over many large requests through the served app.

Usage: `python -m eval.bench_soak [--requests 200] [--megapixels 12] [--sessions 4] [--checkpoint DIR]`.
The demo (`app.build_demo`) is served in this process with its own Gradio cache folder; `gradio_client`
sessions take turns, each request either a new prediction on one of `--photos` distinct synthetic 3:2 sources
of `--megapixels` MP (JPEG uploads) or a strength change of the session's result. It prints, every
`--every` requests, the process's resident memory, the cached encodings, the result files kept and the size
of the Gradio cache, then the change of memory between the first and the last tenth of the run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from PIL import Image

from eval.bench_speed import synthetic_photo

MIB = 2**20
JPEG_QUALITY = 92
REFERENCE_SIDE = 1024
ASPECT = 1.5  # sources are 3:2, as in eval.bench_speed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_size(folder: Path) -> tuple[int, float]:
    """(number of files, MiB) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / MIB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--photos", type=int, default=6, help="distinct source photos to cycle through")
    parser.add_argument("--sessions", type=int, default=4, help="gradio_client sessions taking turns")
    parser.add_argument("--every", type=int, default=10, help="print a line every this many requests")
    parser.add_argument("--checkpoint", type=Path, help="pipeline folder (default: the shipped checkpoint)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench_soak_"))
    os.environ["GRADIO_TEMP_DIR"] = str(work / "gradio")  # before Gradio builds anything: this run's own cache
    import app  # noqa: E402 (reads GRADIO_TEMP_DIR when it builds the demo)
    from gradio_client import Client, handle_file
    from recolor_hf import RecolorPipeline

    pipe = RecolorPipeline.from_pretrained(args.checkpoint) if args.checkpoint else app.load_pipe()[0]
    width = round((args.megapixels * 1e6 * ASPECT) ** 0.5)
    photos = []
    for seed in range(args.photos):
        photos.append(work / f"source{seed}.jpg")
        Image.fromarray(synthetic_photo(round(width / ASPECT), width, seed)).save(photos[-1], quality=JPEG_QUALITY)
    reference = Image.open(app.EXAMPLES[0][1]).convert("RGB")
    reference.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE))
    reference.save(work / "reference.jpg", quality=JPEG_QUALITY)

    handlers = app.Handlers(pipe)
    demo = app.build_demo(pipe, handlers=handlers)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    process = psutil.Process()
    try:
        clients = [Client(demo.local_url, verbose=False, download_files=False) for _ in range(args.sessions)]
        print(f"{args.requests} requests, {args.megapixels:g} MP sources ({args.photos} photos), "
              f"{args.sessions} sessions; cache capacity {handlers.encodings.capacity} encodings")
        print("request  seconds  RSS MiB  encodings  result files  Gradio cache files / MiB")
        rss, start = [], time.perf_counter()
        for i in range(args.requests):
            client, tick = clients[i % args.sessions], time.perf_counter()
            if (i // args.sessions) % 2 == 0:  # each session: a prediction, then a strength change, ...
                photo = photos[(i // (2 * args.sessions) * args.sessions + i % args.sessions) % args.photos]
                client.predict(handle_file(photo), handle_file(work / "reference.jpg"), 1.0, api_name="/recolour")
            else:
                client.predict(0.5 + (i % 7) / 10, api_name="/strength")
            rss.append(process.memory_info().rss / MIB)
            if (i + 1) % args.every == 0 or i + 1 == args.requests:
                files, size = folder_size(work / "gradio")
                print(f"{i + 1:7d}  {time.perf_counter() - tick:7.2f}  {rss[-1]:7.0f}  {len(handlers.encodings):9d}  "
                      f"{len(handlers.files.files()):12d}  {files:8d} / {size:.0f}")
        tenth = max(1, args.requests // 10)
        first, last = statistics.median(rss[:tenth]), statistics.median(rss[-tenth:])
        print(f"RSS median over the first {tenth} requests {first:.0f} MiB, over the last {tenth} {last:.0f} MiB: "
              f"{100 * (last - first) / first:+.1f} % in {time.perf_counter() - start:.0f} s")
    finally:
        demo.close()


if __name__ == "__main__":
    main()
