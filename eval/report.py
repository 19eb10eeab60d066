"""What every command writes: results.csv and summary.md, whose tables all come from markdown_table."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Iterable

import pandas as pd

METRICS = ("mae", "psnr", "ciede2000", "lpips")
HIGHER_IS_BETTER = {"psnr"}
LOWER_IS_BETTER = {"mae", "ciede2000", "lpips"}  # the best value of these and HIGHER_IS_BETTER is bold in tables
HEADERS = {
    "mae": "MAE ↓", "psnr": "PSNR ↑", "ciede2000": "ΔE00 ↓", "lpips": "LPIPS ↓", "seconds": "s/img",
    "reference_change": "ΔE00 out(S, R) vs out(S, R')", "content_change": "ΔE00 out(S, R) vs S",
    "moved": "share moved to clicked colour", "keep_change": "keep region ΔE00", "rest_change": "rest ΔE00",
    "full_change": "ΔE00 vs full", "grid_error": "grid ΔLab ↓",
}
FORMATS = {"lpips": "{:.4f}", "seconds": "{:.3f}"}
DEFAULT_FORMAT = "{:.2f}"


def cell(value: object, format_: str) -> str:
    """A table cell: numbers with `format_`, NaN / None as n/a, anything else as text."""
    if pd.isna(value):
        return "n/a"
    return format_.format(value) if isinstance(value, numbers.Number) and not isinstance(value, bool) else str(value)


def markdown_table(frame: pd.DataFrame, formats: dict[str, str] | None = None,
                   bold: pd.DataFrame | None = None) -> str:
    """The one table writer: a markdown table of `frame`'s rows (its index is not shown).

    Headers are HEADERS[column] or the column name; numbers use formats[column], else FORMATS[column], else
    DEFAULT_FORMAT, and numeric columns are right-aligned; cells where `bold` (a bool frame of `frame`'s shape) is
    True are bold.
    """
    formats = FORMATS | (formats or {})
    numeric = [pd.api.types.is_numeric_dtype(frame[column]) for column in frame.columns]
    lines = ["| " + " | ".join(HEADERS.get(column, column) for column in frame.columns) + " |",
             "|" + "".join("---:|" if right else "---|" for right in numeric)]
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = [cell(value, formats.get(column, DEFAULT_FORMAT)) for column, value in zip(frame.columns, row)]
        if bold is not None:
            cells = [f"**{text}**" if bold.iat[i, j] else text for j, text in enumerate(cells)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def method_table(results: pd.DataFrame, metrics: Iterable[str] = METRICS) -> str:
    """Per-method means of `metrics` (+ seconds if there) in first-seen method order; the best value of each ranked
    metric (HIGHER_IS_BETTER, LOWER_IS_BETTER) in bold."""
    columns = [*metrics] + (["seconds"] if "seconds" in results else [])
    means = results.groupby("method", sort=False)[columns].mean().astype(float).reset_index()
    bold = pd.DataFrame(False, index=means.index, columns=means.columns)
    for metric in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        if metric in columns and means[metric].notna().any():
            best = means[metric].max() if metric in HIGHER_IS_BETTER else means[metric].min()
            bold[metric] = means[metric] == best
    return markdown_table(means, bold=bold)


def method_tables(results: pd.DataFrame, metrics: Iterable[str] = METRICS) -> dict[str, str]:
    """method_table of all pairs and, when there are several parts, one per part, by section heading."""
    parts = list(dict.fromkeys(results["part"]))
    sections = [("all", results)] + ([(part, results[results["part"] == part]) for part in parts] if len(parts) > 1 else [])
    return {f"{part} ({frame['pair'].nunique()} pairs)": method_table(frame, metrics) for part, frame in sections}


def summary_markdown(title: str, notes: list[str], tables: dict[str, str]) -> str:
    """The summary document: `# title`, the notes as a list, then each table under `## heading`."""
    text = [f"# {title}", "", *[f"- {note}" for note in notes], ""]
    for heading, table in tables.items():
        text += [f"## {heading}", "", table, ""]
    return "\n".join(text)


def write_summary(output_dir: Path, title: str, notes: list[str], tables: dict[str, str]) -> str:
    """Write output_dir/summary.md (summary_markdown), print it and return it."""
    summary = summary_markdown(title, notes, tables)
    (output_dir / "summary.md").write_text(summary)
    print(summary)
    return summary
