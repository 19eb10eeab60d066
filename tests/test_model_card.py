"""model_card.md is a valid Hub model card (checked offline with huggingface_hub): the metadata the Hub validates
and the evaluation tables in model-index form, with the same numbers as the card's own tables."""

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.repocard import metadata_load
from huggingface_hub.repocard_data import eval_results_to_model_index

from conftest import ROOT

CARD = ROOT / "model_card.md"


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return ModelCard.load(CARD)


def table_row(text: str, first_cell: str) -> list[str]:
    """The cells after ``first_cell`` in the first markdown table row that starts with it, bold marks removed."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip().replace("**", "") for cell in line.strip("|").split("|")[1:]]


def results(card: ModelCard, config: str) -> dict[str, float]:
    """metric name -> value of one benchmark (dataset config) in the model-index."""
    return {r.metric_name: r.metric_value for r in card.data.eval_results if r.dataset_config == config}


def test_hub_metadata(card):
    data = card.data
    assert data.library_name == "diffusers" and data.pipeline_tag == "image-to-image"
    assert data.license == "other" and data.license_name  # "other" needs a name on the Hub
    assert {"colorization", "color-transfer", "exemplar-based"} <= set(data.tags)
    assert data.datasets and all(isinstance(name, str) for name in data.datasets)
    assert data.model_name == "recolor-small"


def test_model_index_is_canonical(card):
    """The YAML's model-index is exactly what huggingface_hub writes for the parsed results (no field it drops)."""
    raw = metadata_load(CARD)
    assert raw["model-index"] == eval_results_to_model_index(card.data.model_name, card.data.eval_results)
    configs = {r.dataset_config for r in card.data.eval_results}
    assert configs == {"mask-oracle", "sensitivity", "clicks", "strong", "mild", "no-harm", "expert-c"}


def test_model_index_matches_the_tables(card):
    text = card.text
    mae, psnr, delta_e, _ = map(float, table_row(text, "**ours**"))  # the DPST mask-oracle table
    assert results(card, "mask-oracle") == {"MAE (0-255)": mae, "PSNR (dB)": psnr, "ΔE00": delta_e}
    strong, mild = (list(map(float, cell.split(" / "))) for cell in table_row(text.split("**Halves**")[1], "**ours**"))
    for config, values in (("strong", strong), ("mild", mild)):
        assert list(results(card, config).values()) == values
    prose = " ".join(text.split())  # the other numbers are in wrapped sentences
    assert f"ours {next(iter(results(card, 'sensitivity').values()))}" in prose
    assert f"**{results(card, 'clicks')['clicked region moved toward the clicked colour (%)']} %**" in prose
    for config in ("no-harm", "expert-c"):
        assert "**ours " + " / ".join(f"{v:.2f}" for v in results(card, config).values()) + "**" in prose
