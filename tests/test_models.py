"""Rungs: any HF model (here a tiny GPT-2 built from a config, saved as a local 'hub' folder),
decoder last-token pooling that padding cannot shift, LoRA through peft, save/load round trips."""
import copy

import numpy as np
import pytest
import torch

from w2s_bench.models import load_tokenizer
from w2s_bench.registry import load_ladder
from w2s_bench.specs import HubSource, LoraSpec, RungSpec
from w2s_bench.train import Labeled, TrainedClassifier, fit

TEXTS = ("a fine film", "dull and long", "a wonderful, moving story", "bad", "great fun",
         "the worst thing this year, truly awful in every way", "loved it", "boring") * 2
DATA = Labeled(TEXTS, np.array([1, 0, 1, 0, 1, 0, 1, 0] * 2, dtype=float))


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    from transformers import GPT2Config, GPT2Model
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    tok = copy.deepcopy(load_tokenizer(load_ladder("pocket").rung("L1")))  # any real tokenizer
    tok.pad_token = None  # like GPT-2's: no pad token
    GPT2Model(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2)
              ).save_pretrained(folder)
    tok.save_pretrained(folder)
    return RungSpec(name="tiny-gpt2", source=HubSource(type="hub", id=str(folder), revision="main"),
                    pooling="last", max_length=32, lr=1e-3, batch_size=4, epochs=1)


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
