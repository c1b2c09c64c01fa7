"""Stage 4's methods: choices on validation data only beyond the seed spread, collapsed runs
never called ok, the joint candidates, the chosen configuration the only one on the test set,
the constant-vs-decayed explanation, and the PyTorch rung against stage 3 (skipped without
torch)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from stage4_analysis.experiments import best_config, cs3317, final, logreg, pytorch, sweeps
from stage4_analysis.runs import Context, SkipExperiment


def rec(accs, status="ok", seed=0, **config):
    """A fake record: validation (and training) accuracy per epoch ``accs``."""
    eps = [{"epoch": i + 1, "val_acc": a, "train_acc": a, "val_loss": 1 - a,
            "train_loss": 1 - a} for i, a in enumerate(accs)]
    cfg = {"seed": seed, "dataset": "mnist-sample", "hidden_dims": [8], "lr": 0.1}
    cfg.update(config)
    return {"status": status, "config": cfg, "label": f"seed={seed}", "wall_time": 1.0,
            "metrics": {"epochs": eps, "final": {"train_acc": accs[-1] if accs else None}}}


def points(finals_by_value: dict) -> dict:
    """{value: sweeps.point} from {value: [final validation accuracy of each seed]}."""
    return {v: sweeps.point([rec([0.5, a], seed=s) for s, a in enumerate(accs)])
            for v, accs in finals_by_value.items()}


def test_point_mean_and_sample_std_over_seeds():
    p = points({1: [0.80, 0.82, 0.87]})[1]
    assert p["usable"] and p["ok"] == 3
    assert_allclose(p["mean"], (0.80 + 0.82 + 0.87) / 3, rtol=0, atol=1e-12)
    assert_allclose(p["std"], np.std([0.80, 0.82, 0.87], ddof=1), rtol=0, atol=1e-12)


def test_a_challenger_wins_only_beyond_the_spread():
    # base 0.85 ± 0.01; 0.855 is inside the spread, 0.87 and 0.88 beyond it: the highest wins
    ps = points({"base": [0.84, 0.85, 0.86], "a": [0.845, 0.855, 0.865],
                 "b": [0.86, 0.87, 0.88], "c": [0.87, 0.88, 0.89]})
    assert sweeps.choose(ps, "base")[0] == "c"
    del ps["b"], ps["c"]
    win, why = sweeps.choose(ps, "base")
    assert win == "base" and "spread" in why


def test_the_spread_is_the_larger_std_of_the_two():
    # challenger mean +0.02 over the base; its own std 0.03 is larger than the difference
    ps = points({"base": [0.85, 0.85, 0.85], "a": [0.84, 0.87, 0.90]})
    assert_allclose(sweeps.margin(ps["a"], ps["base"]), 0.03, rtol=1e-9)
    assert sweeps.choose(ps, "base")[0] == "base"


def test_with_one_seed_the_margin_is_the_stated_minimum():
    ps = points({"base": [0.85], "a": [0.85 + sweeps.MIN_MARGIN / 2],
                 "b": [0.85 + 2 * sweeps.MIN_MARGIN]})
    assert math.isnan(ps["base"]["std"])
    assert sweeps.margin(ps["a"], ps["base"]) == sweeps.MIN_MARGIN
    assert sweeps.choose(ps, "base")[0] == "b"


def test_a_collapsed_run_is_not_ok_and_cannot_win():
    chance = cs3317.CHANCE + cs3317.CHANCE_MARGIN / 2
    assert cs3317.state(rec([0.5, chance])) == "collapsed"
    assert cs3317.state(rec([0.5, 0.6])) == "ok"
    assert cs3317.state(rec([0.5], status="diverged")) == "diverged"
    recs = [rec([0.5, 0.95], seed=0), rec([0.5, chance], seed=1)]   # one seed collapsed
    p = sweeps.point(recs)
    assert not p["usable"] and p["bad"] == {"collapsed": 1}
    assert "collapsed" in sweeps._state_text(p) and "ok" != sweeps._state_text(p)
    ps = {"base": sweeps.point([rec([0.5, 0.85])]), "x": p}
    assert sweeps.choose(ps, "base")[0] == "base"


def test_winners_read_records_in_plan_order():
    """One record per (sweep, value, seed) in plan order; each sweep's last value wins by far."""
    records = []
    for s in sweeps.SWEEPS.values():
        for v in s["values"]:
            acc = 0.95 if v == s["values"][-1] else 0.80
            records += [rec([acc - 0.01 * k]) for k in range(2)]     # 2 seeds
    w = sweeps.winners(records)
    assert w == {sweep: s["values"][-1] for sweep, s in sweeps.SWEEPS.items()}
    c = sweeps.combined(w)
    assert c["hidden_dims"] == (512, 256, 256, 256)
    assert (c["lr"], c["activation"], c["momentum"], c["batch_size"]) == (0.1, "sigmoid",
                                                                           0.99, 256)


def test_the_sweeps_contain_the_base_configuration():
    for sweep, s in sweeps.SWEEPS.items():
        assert s["default"] in s["values"], sweep
        for k, v in s["change"](s["default"]).items():
            want = cs3317.BASE[k]
            assert (tuple(v) == tuple(want)) if k == "hidden_dims" else (v == want), sweep


class FakeCtx(Context):
    """A context whose experiments' records are given."""

    def __init__(self, by_name, quick=True):
        super().__init__(quick=quick)
        self.by_name = by_name

    def records_of(self, name):
        return self.by_name.get(name, [])


def test_candidates_merge_duplicates(monkeypatch):
    base_wins = {s: v["default"] for s, v in sweeps.SWEEPS.items()}
    monkeypatch.setattr(sweeps, "winners", lambda records: base_wins)
    cands = best_config.candidates(FakeCtx({}))
    assert list(cands) == ["hand-out default = sweep winners", "wide"]
    assert cands["hand-out default = sweep winners"]["hidden_dims"] == (128, 64)


def test_the_chosen_candidate_has_the_highest_mean_validation_accuracy(monkeypatch):
    monkeypatch.setattr(sweeps, "winners",
                        lambda records: {"width": 256, "learning rate": 0.1})
    ctx = FakeCtx({})
    names = list(best_config.candidates(ctx))
    assert names == ["hand-out default", "sweep winners", "wide"]
    finals = {"hand-out default": (0.88, 0.89), "sweep winners": (0.90, 0.91),
              "wide": (0.93, 0.94)}
    recs = [rec([0.5, a], seed=s) for n in names for s, a in enumerate(finals[n])]
    recs[-1]["status"] = "diverged"   # wide's second seed diverged: it cannot be chosen
    ctx.by_name[best_config.NAME] = recs
    name, settings, p = best_config.chosen(ctx)
    assert name == "sweep winners" and settings["hidden_dims"] == (256, 128)
    assert_allclose(p["mean"], 0.905, rtol=0, atol=1e-12)


def test_only_the_final_comparison_reads_the_test_set(monkeypatch):
    ctx = FakeCtx({})
    assert cs3317.FINAL is False
    monkeypatch.setattr(best_config, "chosen", lambda ctx: None)
    with pytest.raises(SkipExperiment):
        logreg.plan(ctx)
    monkeypatch.setattr(best_config, "chosen",
                        lambda ctx: ("wide", best_config._settings(best_config.WIDE), {}))
    runs = logreg.plan(ctx)
    assert runs and all(r.config["final"] for r in runs)
    assert {tuple(r.config["hidden_dims"]) for r in runs} == {(512, 512), ()}
    monkeypatch.setattr(sweeps, "winners", lambda records: {})
    assert not any(r.config["final"] for r in sweeps.plan(ctx) + best_config.plan(ctx))


def test_constant_vs_decayed_sentence_says_which_ends_higher():
    decayed = [rec([0.80, 0.86], seed=0, lr_decay=final.DECAY)]
    assert "below" in final.constant_vs_decayed(decayed, [rec([0.80, 0.84])])
    assert "above" in final.constant_vs_decayed(decayed, [rec([0.80, 0.87])])
    assert final.constant_vs_decayed(decayed, []) is None


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_pytorch_from_the_same_start_on_the_same_batches_ends_with_the_same_weights():
    """Stage 3 and the PyTorch rung, float64, 2 epochs on 300 digits: the same weights up to
    rounding (an independent implementation of forward, backward and momentum SGD)."""
    config = {"dataset": "mnist-sample", "final": False, "limit": 300, "hidden_dims": [16, 8],
              "activation": "relu", "init": "he", "lr": 0.05, "momentum": 0.9,
              "batch_size": 32, "epochs": 2, "seed": 3, "dtype": "float64"}
    out = pytorch.execute(config)
    m = out["metrics"]
    assert out["status"] == "ok"
    assert m["max_weight_diff"] < 1e-10 and m["max_abs_weight"] > 0.1
    for a, b in zip(m["stage3"], m["torch"]):
        assert_allclose(b["train_loss"], a["train_loss"], rtol=1e-10)
        assert_allclose(b["val_loss"], a["val_loss"], rtol=1e-10)
        assert b["val_acc"] == a["val_acc"]
    # a different seed is a different start: the comparison is not vacuous
    other = pytorch.execute({**config, "seed": 4})["metrics"]["stage3"][-1]["train_loss"]
    assert abs(other - m["stage3"][-1]["train_loss"]) > 1e-6


def test_pytorch_skips_with_the_reason_when_torch_is_absent(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else object())
    with pytest.raises(SkipExperiment, match="PyTorch is not installed"):
        pytorch.plan(FakeCtx({}))


def test_a_run_that_loses_more_than_half_its_best_accuracy_has_collapsed():
    assert cs3317.state(rec([0.83, 0.77, 0.64, 0.18])) == "collapsed"
    assert cs3317.state(rec([0.83, 0.77, 0.64, 0.45])) == "ok"
