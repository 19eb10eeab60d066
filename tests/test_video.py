import re

import av
import numpy as np
import pytest
import torch

from conftest import randomize_zero_init, textured_image
from eval.video import pan_zoom
from recolor_hf import RecolorPipeline
from recolor_hf.cli import main
from recolor_hf.media import check_smoothing
from recolor_hf.models.transfer import apply_transfer, statistics_transfer
from recolor_hf.video import (DURATION_TOLERANCE, FrameRecolorer, TemporalSmoother, TruncatedVideoWarning,
                              check_complete, declared_frames, open_video, read_frames, recolor_video, write_frames)

SIZE = (64, 48)  # (W, H) of the test clips
FPS = 25
SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def pipe():
    """A tiny pipeline whose generator and predictor heads are not the identity, so every input shows."""
    pipe = RecolorPipeline.from_preset("tiny", seed=0)
    torch.manual_seed(0)
    randomize_zero_init(pipe.generator, pipe.predictor, std=0.2)
    return pipe


PHOTO = textured_image(120, 180, seed=1)
FRAMES = 8


@pytest.fixture(scope="module")
def clip():
    """A slow pan and zoom across a textured photo: 8 frames of 64x48."""
    return pan_zoom(PHOTO, FRAMES, SIZE)


@pytest.fixture(scope="module")
def reference():
    return textured_image(60, 80, seed=2)


def write_clip_with_audio(path, frames, seconds):
    """An H.264 clip with a mono AAC tone of ``seconds``."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode())
        t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
        tone = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                          format="fltp", layout="mono")
        tone.sample_rate = SAMPLE_RATE
        container.mux(audio.encode(tone))
        container.mux(audio.encode())


def stream_summary(path):
    """(frames, size, frame rate, video timestamps, audio codec, audio packet bytes) of a video file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        size, rate = (video.codec_context.width, video.codec_context.height), video.average_rate
        pts = sorted(float(frame.pts * frame.time_base) for frame in container.decode(video))
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        payload = [bytes(p) for p in container.demux(audio) if p.size]
        codec = audio.codec_context.name
    return len(pts), size, rate, pts, codec, payload


def test_transfer_round_trip(pipe, clip, reference):
    latents = pipe.encode(clip[0], reference)
    target = apply_transfer(latents.content_stats, statistics_transfer(latents.content_stats, latents.target_stats))
    assert torch.allclose(target, latents.target_stats, atol=1e-3)


@pytest.mark.parametrize("fallback", ["global", "keep"])
def test_smoothing_zero_is_the_pipeline_on_each_frame(pipe, clip, reference, fallback):
    frames = list(FrameRecolorer(pipe, reference, alpha=0.8, smoothing=0, fallback=fallback).map(clip[:3]))
    for frame, result in zip(clip, frames):
        expected = np.asarray(pipe(content=frame, reference=reference, alpha=0.8, fallback=fallback).images[0])
        np.testing.assert_array_equal(result, expected)


def test_reference_features_are_computed_once(pipe, clip, reference, monkeypatch):
    """The reference's backbone features, self-map and statistics are computed once per FrameRecolorer, not per
    frame, with the same frames as recomputing them (reuse_reference=False, the old way)."""
    calls = []
    compute = pipe.reference_features
    monkeypatch.setattr(pipe, "reference_features", lambda image: calls.append(1) or compute(image))
    once = list(FrameRecolorer(pipe, reference).map(clip[:4]))
    assert len(calls) == 1
    every = list(FrameRecolorer(pipe, reference, reuse_reference=False).map(clip[:4]))
    assert len(calls) == 1 + 4  # predict recomputes them per frame
    for a, b in zip(once, every):
        np.testing.assert_array_equal(a, b)


def test_smoothing_averages_the_transfer_over_frames(pipe, clip, reference):
    """The second frame carries the EMA of the two frames' statistics transfers, applied to its own statistics
    (how much that removes flicker on a pan: ``python -m eval video``)."""
    smoother = TemporalSmoother(pipe, smoothing=0.75)
    first, second = (pipe.encode(frame, reference) for frame in clip[:2])
    assert smoother(first) is first  # the first frame starts the average
    smoothed = smoother(second)
    transfers = [statistics_transfer(x.content_stats, x.target_stats) for x in (first, second)]
    expected = apply_transfer(second.content_stats, 0.75 * transfers[0] + 0.25 * transfers[1])
    torch.testing.assert_close(smoothed.target_stats, expected)
    assert not torch.allclose(smoothed.target_stats, second.target_stats)


def test_scene_cut_restarts_the_average(pipe, clip, reference):
    other = pan_zoom(textured_image(120, 180, seed=7), 6, SIZE)
    recolour = FrameRecolorer(pipe, reference)
    results = list(recolour.map(clip[:6] + other))
    assert recolour.smoother.cuts == 1
    first_after_cut = FrameRecolorer(pipe, reference, smoothing=0)(other[0])
    np.testing.assert_array_equal(results[6], first_after_cut)  # the new shot starts from its own transfer
    assert not np.array_equal(results[7], FrameRecolorer(pipe, reference, smoothing=0)(other[1]))


def test_no_cut_within_a_pan(pipe, clip, reference):
    smoother = TemporalSmoother(pipe)
    for frame in clip:
        smoother(pipe.encode(frame, reference))
    assert smoother.cuts == 0


def test_recolor_video_keeps_size_timing_and_audio(pipe, clip, reference, tmp_path):
    content, out = tmp_path / "clip.mp4", tmp_path / "out.mkv"
    write_clip_with_audio(content, clip, len(clip) / FPS)
    assert recolor_video(pipe, content, reference, out, progress=False) == len(clip)
    frames, size, rate, pts, codec, payload = stream_summary(out)
    frames_in, size_in, rate_in, pts_in, codec_in, payload_in = stream_summary(content)
    assert (frames, size, rate, codec) == (frames_in, size_in, rate_in, codec_in) == (len(clip), SIZE, FPS, "aac")
    np.testing.assert_allclose(pts, pts_in, atol=1e-3)
    assert payload == payload_in  # audio copied, not re-encoded
    decoded = list(read_frames(out))
    assert not np.array_equal(decoded[0], list(read_frames(content))[0])


def test_odd_frame_size(pipe, reference, tmp_path):
    content, out = tmp_path / "odd.mkv", tmp_path / "out.mp4"
    with av.open(str(content), "w") as container:
        stream = container.add_stream("libx264rgb", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 33, 21, "rgb24"
        for frame in pan_zoom(textured_image(60, 90, seed=3), 3, (33, 21)):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    assert recolor_video(pipe, content, reference, out, progress=False) == 3
    assert [f.shape for f in read_frames(out)] == [(21, 33, 3)] * 3


def test_bad_inputs_name_the_problem(pipe, reference, tmp_path):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    with pytest.raises(ValueError, match="not a readable video"):
        recolor_video(pipe, not_video, reference, tmp_path / "out.mp4")
    with pytest.raises(ValueError, match="no such file"):
        recolor_video(pipe, tmp_path / "missing.mp4", reference, tmp_path / "out.mp4")
    with pytest.raises(ValueError, match="use one of the extensions"):
        recolor_video(pipe, not_video, reference, tmp_path / "out.gif")
    for bad in (1.0, -0.1, "0.5", True):
        with pytest.raises(ValueError, match="smoothing"):
            check_smoothing(bad)
    with pytest.raises(ValueError, match="fallback must be one of global, look, keep, got 'none'"):
        recolor_video(pipe, not_video, reference, tmp_path / "out.mp4", fallback="none")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, pipe):
    path = tmp_path_factory.mktemp("video") / "pipe"
    pipe.save_pretrained(path)
    return path


def test_cli_video(checkpoint, clip, reference, tmp_path, capsys):
    content, ref, out = tmp_path / "clip.mp4", tmp_path / "look.png", tmp_path / "out" / "clip.mp4"
    write_frames(content, clip[:4], FPS)
    reference.save(ref)
    common = ["--reference", str(ref), "--checkpoint", str(checkpoint), "--device", "cpu"]
    assert main([str(content), *common, "-o", str(out), "--smoothing", "0.5"]) == 0
    assert "1 written, 0 failed" in capsys.readouterr().out
    assert len(list(read_frames(out))) == 4 and [p.name for p in out.parent.iterdir()] == ["clip.mp4"]
    assert main([str(content), *common, "-o", str(tmp_path / "frame.png")]) == 2
    assert "a video output needs one of the extensions .mp4, .mov, .mkv" in capsys.readouterr().err
    assert main([str(content), *common, "-o", str(out), "--smoothing", "1"]) == 2
    assert "smoothing must be a number in [0, 1)" in capsys.readouterr().err
    broken = tmp_path / "broken.mov"
    broken.write_bytes(content.read_bytes()[:100])
    assert main([str(broken), *common, "-o", str(tmp_path / "broken-out.mp4")]) == 1
    assert "broken.mov" in capsys.readouterr().err
    assert not (tmp_path / "broken-out.mp4").exists() and not list(tmp_path.glob(".broken-out*"))


def write_faststart_mp4(path, frames):
    """An H.264 mp4 with its index (moov) first, as web videos are: cut short, it still opens and decodes."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def test_truncated_video_fails_unless_allowed(checkpoint, reference, tmp_path, capsys):
    """An mp4 cut at 60 % of its bytes: the job fails and leaves no output; --allow-partial-video keeps the frames
    there are, with a warning. (Noise frames: every frame takes a similar share of the file.)"""
    whole, cut, ref, out = tmp_path / "whole.mp4", tmp_path / "cut.mp4", tmp_path / "look.png", tmp_path / "out.mp4"
    rng = np.random.default_rng(0)
    write_faststart_mp4(whole, [rng.integers(0, 256, (SIZE[1], SIZE[0], 3), np.uint8) for _ in range(12)])
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    reference.save(ref)
    common = [str(cut), "--reference", str(ref), "--checkpoint", str(checkpoint), "--device", "cpu", "-o", str(out)]
    assert main(common) == 1
    captured = capsys.readouterr()
    decoded = int(re.search(r"decoded (\d+) of 12 frames; the video looks truncated", captured.err).group(1))
    assert 0 < decoded < 12 and "--allow-partial-video" in captured.err and "0 written, 1 failed" in captured.out
    assert sorted(tmp_path.iterdir()) == sorted([whole, cut, ref])  # no output, no temporary file
    assert main([*common, "--allow-partial-video"]) == 0
    captured = capsys.readouterr()
    assert f"warning: {cut}: video: decoded {decoded} of 12 frames; the video looks truncated" in captured.err
    assert "1 written, 0 failed" in captured.out and len(list(read_frames(out))) == decoded


def test_declared_frame_count_from_a_duration_tag(clip, tmp_path):
    """Matroska declares no frame count: it comes from the video's own DURATION tag, not from the container's
    duration, which a longer audio track stretches; a cut file still declares the whole count."""
    path = tmp_path / "clip.mkv"
    write_clip_with_audio(path, clip, seconds=3 * len(clip) / FPS)
    with open_video(path) as container:
        assert container.streams.video[0].frames == 0
        assert declared_frames(container, container.streams.video[0]) == (len(clip), DURATION_TOLERANCE)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with open_video(cut) as container:
        assert declared_frames(container, container.streams.video[0]) == (len(clip), DURATION_TOLERANCE)


def test_check_complete():
    """An exact count must be met, an estimated one within its tolerance; a packet that did not decode is reported
    even when the count is unknown; allow_partial turns each refusal into a warning."""
    check_complete(12, (12, 0.0), None, False)
    check_complete(98, (100, DURATION_TOLERANCE), None, False)
    with pytest.raises(ValueError, match=r"decoded 11 of 12 frames; the video looks truncated \(allow_partial"):
        check_complete(11, (12, 0.0), None, False)
    with pytest.raises(ValueError, match="decoded 97 of 100 frames"):
        check_complete(97, (100, DURATION_TOLERANCE), None, False)
    with pytest.raises(ValueError, match=r"the video looks damaged \(a packet could not be decoded: bad data\)"):
        check_complete(5, None, "bad data", False)
    with pytest.warns(TruncatedVideoWarning, match="decoded 3 of 12 frames; the video looks truncated"):
        check_complete(3, (12, 0.0), None, True)
