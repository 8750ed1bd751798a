"""The decoding chart end to end on a tiny hand-made cache: every decoder, every beam width,
the headline against pyctcdecode at beam 100, and the three files."""

import csv

import torch

from bench.decoding import main
from src.decoding.log_prob_cache import LogProbCache
from tests.decoding.tiny_lm import ENCODER, ambiguous_red_rad, frames_for, write_arpa


def test_the_chart_its_table_and_the_headline(tmp_path):
    utterances = [ambiguous_red_rad(), frames_for("car"), frames_for("red car"), frames_for("car")]
    cache = LogProbCache(
        ids=["a", "b", "c", "d"],
        references=["red car", "car", "red car", "car"],
        log_probs=[torch.from_numpy(u) for u in utterances],
        vocab=ENCODER.vocab,
        fingerprint={},
    ).save(tmp_path / "cache.pt")
    lm = write_arpa(tmp_path / "lm.arpa")
    out = tmp_path / "docs" / "speed"
    sets = ["--set", "name=tiny", f"cache={cache}", f"lm={lm}"]
    sets += ["--set", "name=no lm", f"cache={cache}"]
    main([*sets, "--beams", "4", "100", "--out", str(out)])
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    tiny = {(row["decoder"], row["beam"]) for row in rows if row["set"] == "tiny"}
    for decoder in ("hand-written beam", "pyctcdecode + LM", "flashlight lexicon + LM, pool 2"):
        assert {(decoder, "4"), (decoder, "100")} <= tiny
    assert ("argmax", "") in tiny
    assert not any("+ LM" in row["decoder"] for row in rows if row["set"] == "no lm")
    lm_rows = [row for row in rows if row["set"] == "tiny" and "+ LM" in row["decoder"]]
    assert all(float(row["wer"]) == 0.0 for row in lm_rows)  # the LM fixes "rad car"
    assert all(float(row["ms_per_utterance"]) > 0 for row in rows)
    pooled = [row for row in rows if "pool" in row["decoder"]]
    assert pooled and all(row["cpu_ms_per_utterance"] == "" for row in pooled)
    table = out.with_suffix(".md").read_text()
    assert "## tiny (4 utterances)" in table and "## no lm (4 utterances)" in table
    assert "faster." in table.split("## no lm")[0] and "faster." not in table.split("## no lm")[1]
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
