"""Rungs: any HF model (here a tiny GPT-2 built from a config, saved as a local 'hub' folder),
decoder last-token pooling that padding cannot shift, LoRA through peft, save/load round trips."""

import copy

import numpy as np
import pytest
import torch
from toydata import toy

from w2s_bench.models import load_tokenizer
from w2s_bench.registry import load_ladder
from w2s_bench.specs import HubSource, LoraSpec, RungSpec
from w2s_bench.train import TrainedClassifier, fit

TEXTS, DATA = toy(2)


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    from transformers import GPT2Config, GPT2Model

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    tok = copy.deepcopy(load_tokenizer(load_ladder("pocket").rung("L1")))  # any real tokenizer
    tok.pad_token = None  # like GPT-2's: no pad token
    GPT2Model(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return RungSpec(
        name="tiny-gpt2",
        source=HubSource(type="hub", id=str(folder), revision="main"),
        pooling="last",
        max_length=32,
        lr=1e-3,
        batch_size=4,
        epochs=1,
    )


def test_any_hf_model_as_rung_and_padding_does_not_shift_last_token(tiny_gpt2):
    tok = load_tokenizer(tiny_gpt2)
    assert tok.pad_token == "<|w2s_pad|>" and tok.pad_token_id == len(tok) - 1  # a new token
    model = fit(tiny_gpt2, DATA, DATA, seed=0)
    assert model.model.backbone.get_input_embeddings().weight.shape[0] == len(tok)
    together = model.predict(TEXTS)  # batched with longer texts: padded
    alone = np.array([model.predict((t,))[0] for t in TEXTS[:8]])
    assert np.allclose(together[:8], alone, atol=1e-5)


@pytest.mark.parametrize("lora", [None, LoraSpec(r=4, alpha=8)])
def test_save_load_round_trip(tmp_path, lora):
    rung = load_ladder("pocket").rung("L1").model_copy(update={"lora": lora, "epochs": 1})
    model = fit(rung, DATA, DATA, seed=0)
    if lora is not None:
        trainable = [n for n, p in model.model.named_parameters() if p.requires_grad]
        assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    model.save(tmp_path)
    again = TrainedClassifier.load(tmp_path, rung)
    assert np.array_equal(model.predict(TEXTS), again.predict(TEXTS))


def test_training_is_deterministic_for_a_seed():
    rung = load_ladder("pocket").rung("L1").model_copy(update={"epochs": 1})
    a = fit(rung, DATA, DATA, seed=3).predict(TEXTS)
    b = fit(rung, DATA, DATA, seed=3).predict(TEXTS)
    c = fit(rung, DATA, DATA, seed=4).predict(TEXTS)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _base_weights(rung):
    from w2s_bench.models import base_parameters, build_classifier

    return {n: p.detach().clone() for n, p in base_parameters(build_classifier(rung, 0)).items()}


@pytest.mark.parametrize("kind", ["encoder_mlm_lora", "decoder_causal"])
def test_lm_finetune_then_fit_from_it_round_trips(tmp_path, tiny_gpt2, kind):
    """Generative fine-tuning: LM loss on unlabeled text changes the backbone; a classifier
    trained from it saves what it needs (LoRA leaves the adapted base frozen: init.safetensors)."""
    from w2s_bench.lm import lm_finetune

    if kind == "decoder_causal":
        rung = tiny_gpt2
    else:
        rung = load_ladder("pocket").rung("L1").model_copy(update={"lora": LoraSpec(r=4, alpha=8), "epochs": 1})
    init = lm_finetune(rung, TEXTS, seed=0)
    before = _base_weights(rung)
    assert init and set(init) <= set(before)
    assert any(not torch.equal(init[n], before[n]) for n in init)
    model = fit(rung, DATA, DATA, seed=0, init=init)
    model.save(tmp_path)
    assert (tmp_path / "init.safetensors").exists() == (rung.lora is not None)
    again = TrainedClassifier.load(tmp_path, rung)
    assert np.array_equal(model.predict(TEXTS), again.predict(TEXTS))
    plain = fit(rung, DATA, DATA, seed=0)
    assert not np.array_equal(model.predict(TEXTS), plain.predict(TEXTS))


def test_pairs_score_each_text_and_compare_rewards():
    """A pair (a, b) gets logits [0, r(a) - r(b)], r = z1 - z0 of the 2-way head on each text."""
    from w2s_bench.train import _encode, _logits

    rung = load_ladder("pocket").rung("L1")
    model = fit(rung.model_copy(update={"epochs": 1}), DATA, DATA, seed=0).model.eval()
    pad = load_tokenizer(rung).pad_token_id
    pairs = [("a fine film", "bad"), ("bad", "a fine film"), ("loved it", "loved it")]
    with torch.no_grad():
        z = _logits(model, _encode(rung, [t for p in pairs for t in p]), pad)
        r = (z[:, 1] - z[:, 0]).reshape(-1, 2)
        pz = _logits(model, _encode(rung, pairs), pad)
    assert torch.allclose(pz[:, 0], torch.zeros(3))
    assert torch.allclose(pz[:, 1], r[:, 0] - r[:, 1], atol=1e-5)
    assert pz[0, 1].item() == pytest.approx(-pz[1, 1].item(), abs=1e-5) and abs(pz[2, 1].item()) < 1e-5
    p = TrainedClassifier(model, rung).predict(pairs)
    assert np.allclose(p, torch.sigmoid(pz[:, 1]).numpy(), atol=1e-6)
