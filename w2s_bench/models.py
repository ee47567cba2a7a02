"""Rungs -> models: a pretrained backbone (any HF model id + revision, or a wheel asset), cut to its
first k layers if asked, with a 2-way classifier head, optionally wrapped in LoRA (peft)."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch
from torch import nn

from w2s_bench.specs import HubSource, RungSpec, WheelSource

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def _quiet_transformers():
    import transformers

    transformers.logging.set_verbosity_error()  # cutting layers leaves "unexpected" weights


def model_location(rung: RungSpec) -> tuple[str, str | None]:
    """(path or hub id, revision) of the rung's pretrained weights and tokenizer."""
    src = rung.source
    if isinstance(src, WheelSource):
        from w2s_bench.assets import asset_path

        return str(asset_path(src.package, src.path)), None
    assert isinstance(src, HubSource)
    return src.id, src.revision


@contextlib.contextmanager
def _hub_errors(location: str, revision: str | None):
    """A hub rung that cannot be loaded (offline host, unknown id or revision): one clear error."""
    try:
        yield
    except OSError as e:
        if revision is None:  # a wheel asset: its own errors are clear
            raise
        from w2s_bench.assets import AssetError

        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AssetError(
            f"cannot load {location} at revision {revision} ({first}). HF_HUB_OFFLINE="
            f"{os.environ.get('HF_HUB_OFFLINE', '(unset)')}; w2s-bench sets it to 1 unless it is "
            f"set: on a host with hub access run with HF_HUB_OFFLINE=0 (the first run downloads "
            f"the pinned revision into the hub cache), and check the ladder's id and revision"
        ) from e


@functools.lru_cache(maxsize=8)
def _tokenizer(location: str, revision: str | None):
    from transformers import AutoTokenizer

    with _hub_errors(location, revision):
        tok = AutoTokenizer.from_pretrained(location, revision=revision)
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        # never pad with a real token (the released code padded GPT-2 with id 0, "!"; Qwen2.5
        # pads with its end-of-text token): a new one
        tok.add_special_tokens({"pad_token": "<|w2s_pad|>"})
    return tok


def load_tokenizer(rung: RungSpec):
    return _tokenizer(*model_location(rung))


class Classifier(nn.Module):
    """Backbone + linear head on a pooled representation: the mean over non-pad tokens
    (encoders) or the last non-pad token (decoders, right padding)."""

    def __init__(self, backbone: nn.Module, hidden: int, pooling: str):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.head = nn.Linear(hidden, 2)

    def pooled(self, input_ids, attention_mask):
        """The representation the head reads (also the features of the saliency probe)."""
        h = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.pool(h, attention_mask)

    def pool(self, h, attention_mask):
        """Mean over non-pad tokens or the last non-pad token of hidden states `h`."""
        mask = attention_mask.unsqueeze(-1).to(h.dtype)
        if self.pooling == "mean":
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            last = attention_mask.sum(1) - 1
            pooled = h[torch.arange(h.shape[0], device=h.device), last]
        return pooled.to(self.head.weight.dtype)

    def forward(self, input_ids, attention_mask):
        return self.head(self.pooled(input_ids, attention_mask)).float()


class FrozenClassifier(nn.Module):
    """A frozen-backbone rung's model (w2s_bench.features): a linear 2-way head on the pooled
    features, standardized with the mean and scale of the training inputs' features. Its inputs
    are feature rows, not token ids."""

    def __init__(self, hidden: int):
        super().__init__()
        self.head = nn.Linear(hidden, 2)
        self.register_buffer("mean", torch.zeros(hidden))
        self.register_buffer("scale", torch.ones(hidden))

    def standardize_from(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp(min=1e-6))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((x - self.mean) / self.scale).float()


def gradient_checkpointing() -> bool:
    """$W2S_BENCH_GRADIENT_CHECKPOINTING=1: every model recomputes each layer's activations in
    the backward pass (transformers' gradient checkpointing). Activation memory drops from all
    layers' to about one layer's, for about one more forward pass per step. The gradients are
    the same (dropout's RNG is replayed), so it is a way to run, not part of any spec or hash:
    for big rungs on long or paired inputs that do not fit otherwise (docs/scale-out.md, hub ladders)."""
    value = os.environ.get("W2S_BENCH_GRADIENT_CHECKPOINTING", "").strip().lower()
    if value not in ("", "0", "1"):
        raise ValueError(f"W2S_BENCH_GRADIENT_CHECKPOINTING={value!r}: set it to 1 or 0 (or unset it)")
    return value == "1"


def load_pretrained(rung: RungSpec, auto_class=None):
    """The rung's pretrained weights as `auto_class` (default AutoModel; AutoModelForMaskedLM or
    AutoModelForCausalLM for LM fine-tuning): cut to `num_layers`, embeddings resized to the
    tokenizer (a new pad token), and the rest of `adapt_backbone`."""
    from transformers import AutoModel

    _quiet_transformers()
    location, revision = model_location(rung)
    kwargs = {"num_hidden_layers": rung.num_layers} if rung.num_layers is not None else {}
    with _hub_errors(location, revision):
        model = (auto_class or AutoModel).from_pretrained(
            location, revision=revision, dtype=DTYPES[rung.dtype], **kwargs
        )
    tok = load_tokenizer(rung)
    return adapt_backbone(model, rung, len(tok), tok.pad_token_id)


def adapt_backbone(model, rung: RungSpec, vocab_size: int, pad_id: int, checkpointing: bool | None = None):
    """What every loaded backbone gets (also benchmarks/throughput.py's random-weight ones):
    embeddings resized to `vocab_size` (a tokenizer with a new pad token), word embeddings frozen
    if the rung says so, gradient checkpointing if asked (default: $W2S_BENCH_GRADIENT_CHECKPOINTING),
    and LoRA if the rung has it."""
    if vocab_size > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(vocab_size)
    model.config.pad_token_id = pad_id
    if rung.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if gradient_checkpointing() if checkpointing is None else checkpointing:
        # acts in train mode only; non-reentrant, so frozen embeddings (inputs that need no
        # gradient) are fine
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if rung.lora is not None:
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(
            r=rung.lora.r,
            lora_alpha=rung.lora.alpha,
            lora_dropout=rung.lora.dropout,
            target_modules=rung.lora.target_modules,
        )
        model = get_peft_model(model, cfg)
    return model


def build_classifier(rung: RungSpec, seed: int) -> Classifier | FrozenClassifier:
    """The rung's pretrained backbone with a fresh head (initialised from `seed`); for a
    frozen-backbone rung the head alone (its inputs are the backbone's pooled features)."""
    if rung.kind == "frozen" and rung.chess is not None:  # a chess network's move scores
        torch.manual_seed(seed)
        return FrozenClassifier(len(rung.chess.features))
    if rung.kind == "frozen":
        from transformers import AutoConfig

        location, revision = model_location(rung)
        with _hub_errors(location, revision):
            hidden = AutoConfig.from_pretrained(location, revision=revision).hidden_size
        torch.manual_seed(seed)
        return FrozenClassifier(hidden)
    backbone = load_pretrained(rung)
    torch.manual_seed(seed)
    model = Classifier(backbone, backbone.config.hidden_size, rung.pooling)
    model.head.to(torch.float32)
    return model


def pooled_backbone(rung: RungSpec) -> Classifier:
    """The pretrained backbone whose `.pooled` gives a frozen rung's features (its head unused)."""
    backbone = load_pretrained(rung)
    return Classifier(backbone, backbone.config.hidden_size, rung.pooling).eval()


def backbone_base(model: Classifier) -> nn.Module:
    """The pretrained transformer under the head (under the LoRA wrapper if any)."""
    bb = model.backbone
    return bb.get_base_model() if hasattr(bb, "get_base_model") else bb


def base_parameters(model: Classifier) -> dict[str, nn.Parameter]:
    """The backbone's parameters under their plain names (LoRA's `.base_layer` removed)."""
    return {n.replace(".base_layer.", "."): p for n, p in backbone_base(model).named_parameters() if "lora_" not in n}


def apply_init(model: Classifier, init: dict[str, torch.Tensor]) -> None:
    """Start from other backbone weights (e.g. after unsupervised LM fine-tuning)."""
    params = base_parameters(model)
    unknown = set(init) - set(params)
    if unknown:
        raise RuntimeError(f"init weights do not fit the backbone: {sorted(unknown)[:3]}")
    with torch.no_grad():
        for name, value in init.items():
            params[name].copy_(value.to(params[name].dtype))


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only what training changed (head, unfrozen or LoRA weights): small to cache."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_trained(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    state = trainable_state(model)
    if isinstance(model, FrozenClassifier):  # its standardization too
        state.update(model.state_dict())
    save_file({n: t.cpu().contiguous() for n, t in state.items()}, str(path))


def load_trained(rung: RungSpec, path: Path, init_path: Path | None = None) -> Classifier:
    from safetensors.torch import load_file

    model = build_classifier(rung, seed=0)
    if init_path is not None and Path(init_path).exists():
        apply_init(model, load_file(str(init_path)))
    return load_trained_state(model, rung, path)


def load_trained_state(model: nn.Module, rung: RungSpec, path: Path) -> nn.Module:
    """Put the trained weights saved by `save_trained` into a freshly built `model`."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    missing = set(trainable_state(model)) - set(state)
    if missing:
        raise RuntimeError(f"{path} lacks trained weights for rung {rung.name}: {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False)
    return model.eval()
