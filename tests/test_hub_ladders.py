"""Hub ladders (gpt2, qwen2.5, pythia): the shipped spec files are pinned and use the LoRA/bf16
defaults; their architectures (GPT-2, Qwen2, GPT-NeoX) run through a custom ladder file as tiny
random models built from a config and saved as local 'hub' folders."""

import copy
import re

import numpy as np
import pytest
import torch
from torch import nn
from toydata import toy
from transformers.pytorch_utils import Conv1D

from w2s_bench.models import backbone_base, build_classifier, load_tokenizer
from w2s_bench.registry import load_ladder
from w2s_bench.specs import HubSource, SpecError
from w2s_bench.train import fit

HUB_LADDERS = {
    "gpt2": ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"],
    "qwen2.5": ["0.5B", "1.5B", "3B", "7B"],
    "pythia": ["70m", "160m", "410m", "1b", "1.4b", "2.8b"],
}

TEXTS, DATA = toy(2)


@pytest.mark.parametrize("name", sorted(HUB_LADDERS))
def test_shipped_hub_ladders_are_pinned_lora_bf16_last_token(name):
    ladder = load_ladder(name)  # by name, although "qwen2.5" has a suffix-like dot
    assert ladder.name == name and [r.name for r in ladder.rungs] == HUB_LADDERS[name]
    ids = set()
    for r in ladder.rungs:
        assert isinstance(r.source, HubSource) and re.fullmatch(r"[0-9a-f]{40}", r.source.revision)
        ids.add(r.source.id)
        assert r.pooling == "last" and r.dtype == "bfloat16" and r.num_layers is None
        assert r.lora is not None and r.lora.r == 8 and r.lora.target_modules == "all-linear"
        assert r.max_length >= 256 and r.lr > 0 and r.batch_size > 0 and r.epochs > 0
    assert len(ids) == len(ladder.rungs)  # one distinct model per rung
    lrs = [r.lr for r in ladder.rungs]
    assert lrs == sorted(lrs, reverse=True)  # larger models, smaller LoRA learning rates


def test_unknown_ladder_name_is_one_clear_error():
    with pytest.raises(SpecError, match=r"unknown ladder 'qwen3'.*qwen2\.5.*\.toml file"):
        load_ladder("qwen3")


def _tiny(kind: str, folder):
    """A random 2-layer model of the architecture, with a real tokenizer that has no pad token
    (qwen2: pads with its end-of-text token)."""
    from transformers import (
        GPT2Config,
        GPT2Model,
        GPTNeoXConfig,
        GPTNeoXModel,
        Qwen2Config,
        Qwen2Model,
    )

    torch.manual_seed(0)
    tok = copy.deepcopy(load_tokenizer(load_ladder("pocket").rung("L1")))  # any real tokenizer
    tok.pad_token = None  # like GPT-2's and Pythia's: no pad token
    if kind == "qwen2":  # like Qwen2.5's: the pad token is the end-of-text token, a real one
        tok.eos_token = tok.pad_token = "[SEP]"
    common = {
        "vocab_size": len(tok),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 64,
    }
    model = {
        "qwen2": lambda: Qwen2Model(Qwen2Config(num_key_value_heads=2, **common)),
        "neox": lambda: GPTNeoXModel(GPTNeoXConfig(rotary_pct=0.25, **common)),
        "gpt2": lambda: GPT2Model(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=4)),
    }[kind]()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return len(tok)


# the linear projections of one transformer layer of each architecture (GPT-2's are Conv1D)
PROJECTIONS = {
    "qwen2": {f"self_attn.{p}_proj" for p in "qkvo"} | {f"mlp.{p}_proj" for p in ("gate", "up", "down")},
    "neox": {"attention.query_key_value", "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h"},
    "gpt2": {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"},
}


@pytest.fixture(scope="module")
def custom_ladder(tmp_path_factory):
    """A custom ladder file as a user writes one: hub rungs (here local folders) with LoRA."""
    root = tmp_path_factory.mktemp("hub")
    vocab = {kind: _tiny(kind, root / kind) for kind in PROJECTIONS}
    rungs = "".join(
        f'''
[[rungs]]
name = "tiny-{kind}"
source = {{ type = "hub", id = "{root / kind}", revision = "main" }}
pooling = "last"
dtype = "float32"
lora = {{ r = 8, alpha = 16, dropout = 0.0, target_modules = "all-linear" }}
max_length = 32
lr = 1e-3
batch_size = 4
epochs = 1
'''
        for kind in PROJECTIONS
    )
    path = root / "my-ladder.toml"
    path.write_text('name = "tiny-hub"\ndescription = "tiny GPT-2, Qwen2 and GPT-NeoX"\n' + rungs)
    return load_ladder(str(path)), vocab


@pytest.mark.parametrize("kind", sorted(PROJECTIONS))
def test_custom_hub_ladder_lora_decoder_fits_and_padding_does_not_shift(custom_ladder, kind):
    ladder, vocab = custom_ladder
    rung = ladder.rung(f"tiny-{kind}")
    tok = load_tokenizer(rung)
    # the pad token is a new token, not one of the model's real ids (transformers loads the
    # saved tokenizer as Qwen2Tokenizer for a qwen2 config, which adds <|endoftext|> first)
    assert tok.pad_token == "<|w2s_pad|>" and tok.pad_token_id == len(tok) - 1 >= vocab[kind]

    trained = fit(rung, DATA, DATA, seed=0)
    model = trained.model
    assert model.backbone.get_input_embeddings().weight.shape[0] >= len(tok)

    # LoRA on every linear projection of the backbone; the head is outside the wrapper
    base = backbone_base(model)
    wrapped = {n for n, m in base.named_modules() if hasattr(m, "lora_A")}
    plain = {
        n
        for n, m in base.named_modules()
        if isinstance(m, (nn.Linear, Conv1D)) and not n.endswith(".base_layer") and ".lora_" not in n
    }
    assert not plain, f"linear layers without LoRA: {sorted(plain)[:3]}"
    assert {".".join(n.split(".")[-2:]) for n in wrapped} == PROJECTIONS[kind]
    assert len(wrapped) == 2 * len(PROJECTIONS[kind])  # 2 layers
    assert all(not n.startswith("head") for n, _ in model.backbone.named_modules())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"head.weight", "head.bias"} <= trainable
    assert all("lora_" in n or n.startswith("head.") for n in trainable)

    # padding does not shift the last-token read: batched (padded) == alone
    together = trained.predict(TEXTS)
    alone = np.array([trained.predict((t,))[0] for t in TEXTS[:8]])
    assert np.allclose(together[:8], alone, atol=1e-5)
    assert together.std() > 0  # not a constant predictor


def test_bf16_rung_trains_float32_weights_on_a_bf16_base(custom_ladder):
    ladder, _ = custom_ladder
    rung = ladder.rung("tiny-qwen2").model_copy(update={"dtype": "bfloat16"})
    model = build_classifier(rung, seed=0)
    base = {p.dtype for n, p in backbone_base(model).named_parameters() if "lora_" not in n}
    assert base == {torch.bfloat16}
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}  # LoRA, head
    ids = load_tokenizer(rung)(["a fine film"], return_tensors="pt")
    out = model(ids["input_ids"], ids["attention_mask"])
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_unloadable_hub_rung_is_one_clear_error():
    from w2s_bench.assets import AssetError
    from w2s_bench.models import load_pretrained

    rung = (
        load_ladder("pythia")
        .rung("70m")
        .model_copy(update={"source": HubSource(type="hub", id="w2s-bench-test/no-such-model", revision="0" * 40)})
    )
    with pytest.raises(AssetError, match=r"no-such-model at revision 0{40}.*HF_HUB_OFFLINE=0"):
        load_pretrained(rung)


@pytest.mark.parametrize("kind", ["gpt2", "qwen2"])
def test_gradient_checkpointing_gives_the_same_gradients(custom_ladder, kind, monkeypatch):
    """W2S_BENCH_GRADIENT_CHECKPOINTING=1 trades memory for a recomputed forward: the loss and
    every trainable gradient must be those of the plain model (dropout on: GPT-2's config has
    0.1, so the recomputation must replay the RNG)."""
    from w2s_bench.train import _encode, _logits, soft_ce

    ladder, _ = custom_ladder
    rung = ladder.rung(f"tiny-{kind}")
    items = _encode(rung, TEXTS[:6])
    target = torch.tensor([1.0, 0.0, 0.7, 0.2, 1.0, 0.0])
    pad = load_tokenizer(rung).pad_token_id
    grads, losses = [], []
    for flag in ("0", "1"):
        monkeypatch.setenv("W2S_BENCH_GRADIENT_CHECKPOINTING", flag)
        torch.manual_seed(0)  # LoRA's init draws from the global RNG (fit seeds it the same way)
        model = build_classifier(rung, seed=0)
        assert backbone_base(model).is_gradient_checkpointing == (flag == "1")
        model.train()
        torch.manual_seed(1)
        loss = soft_ce(_logits(model, items, pad), target)
        loss.backward()
        losses.append(loss.item())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    assert grads[0].keys() == grads[1].keys() and any("lora_" in n for n in grads[0])
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-6), n
    monkeypatch.setenv("W2S_BENCH_GRADIENT_CHECKPOINTING", "yes")
    with pytest.raises(ValueError, match="set it to 1 or 0"):
        build_classifier(rung, seed=0)
