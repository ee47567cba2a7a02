"""The one trainer: soft-label targets, dynamic padding, length-sorted batches, early stopping.

`fit(rung, train, val, loss, seed)` trains a rung's classifier on soft targets (probability of
class 1) and keeps the weights that score best on `val` (AUROC against the val targets made
hard at 0.5: gold labels for weak models and ceilings, weak labels for students).

An input is a text (binary tasks) or a pair of texts (a, b) (pairwise tasks: reward modeling,
chess). For a pair the model scores each text with the scalar reward r = z1 - z0 of its 2-way
head, and the pair's logits are [0, r(a) - r(b)]: p(label = 1) = σ(r(a) - r(b)), the preference
for a, and soft cross-entropy on it is -log σ(r_chosen - r_rejected) for a hard label. So every
loss written on 2-way logits works on both kinds unchanged.

Device: CUDA when available, else CPU; `W2S_BENCH_DEVICE=cpu|cuda` overrides. Batches are
collated on the CPU and moved to the model's device; predictions come back as CPU float64 numpy.
On CUDA the AdamW step is fused. The CPU path is unchanged by all this (same operations, same
numbers). Rungs with `dtype = "bfloat16"` load bf16 weights (the head stays fp32, see models.py);
attention is transformers' default, SDPA wherever the architecture supports it.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from w2s_bench.models import apply_init, base_parameters, build_classifier, load_tokenizer, load_trained, save_trained
from w2s_bench.specs import RungSpec


def device() -> torch.device:
    """Where models train and predict: $W2S_BENCH_DEVICE (cpu or cuda), else CUDA if available."""
    name = os.environ.get("W2S_BENCH_DEVICE", "").strip().lower()
    if name not in ("", "cpu", "cuda"):
        raise ValueError(f"W2S_BENCH_DEVICE={name!r}: set it to 'cpu' or 'cuda' (or unset it)")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "W2S_BENCH_DEVICE=cuda but torch sees no CUDA device; install a CUDA "
            "build of torch or unset W2S_BENCH_DEVICE"
        )
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def _device_of(model) -> torch.device:
    return next(model.parameters()).device


@dataclass(frozen=True)
class Labeled:
    """Inputs with soft targets p(label = 1). What a method sees holds weak labels only."""

    texts: tuple  # of str, or of (str, str) pairs
    targets: np.ndarray

    def __post_init__(self):
        if len(self.texts) != len(self.targets):
            raise ValueError(f"{len(self.texts)} texts but {len(self.targets)} targets")


def soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of 2-way logits against soft targets p(label = 1)."""
    t = torch.stack([1 - target, target], dim=1)
    return -(t * torch.log_softmax(logits, dim=1)).sum(1).mean()


def soft_ce_loss(logits, target, step, total_steps):
    """The default loss (a loss takes logits, targets, the step and the total step count)."""
    return soft_ce(logits, target)


def _is_pair(items) -> bool:
    return len(items) > 0 and isinstance(items[0], tuple)


def _encode(rung: RungSpec, texts) -> list:
    """Token ids per input: a list of ids, or a tuple (ids_a, ids_b) for a pair."""
    tok = load_tokenizer(rung)
    texts = list(texts)
    if not _is_pair(texts):
        return tok(texts, truncation=True, max_length=rung.max_length)["input_ids"]
    flat = tok([t for pair in texts for t in pair], truncation=True, max_length=rung.max_length)["input_ids"]
    return list(zip(flat[0::2], flat[1::2]))


def _length(x) -> int:
    return max(len(x[0]), len(x[1])) if isinstance(x, tuple) else len(x)


def _both(items: list) -> list:
    """The sequences of a batch: as they are, or all a's then all b's for pairs."""
    return [a for a, _ in items] + [b for _, b in items] if _is_pair(items) else items


def _pair_logits(z: torch.Tensor, pair: bool) -> torch.Tensor:
    """Logits of the inputs from the model's logits `z` of their sequences (`_both` order): as
    they are, or for pairs [0, r(a) - r(b)] with the reward r = z1 - z0."""
    if not pair:
        return z
    r = z[:, 1] - z[:, 0]
    d = r[: len(r) // 2] - r[len(r) // 2 :]
    return torch.stack([torch.zeros_like(d), d], dim=1)


def _logits(model, items: list, pad_id: int) -> torch.Tensor:
    return _pair_logits(model(*_collate(_both(items), pad_id, _device_of(model))), _is_pair(items))


# ---- frozen-backbone rungs: the head on cached pooled features (w2s_bench.features) ----------


def _feature_rows(texts) -> tuple[list[str], bool]:
    """The texts whose features a frozen rung reads, in `_both` order, and whether inputs are pairs."""
    texts = list(texts)
    return _both(texts), _is_pair(texts)


class one_thread:
    """Torch intra-op threads set to 1 inside the block (restored after): a linear head's ops are
    tiny, and with 2 threads their OpenMP barriers cost more than the work (measured: a 315-step
    head 0.44 s with 1 thread, 1.3 s with 2 on an idle 2-core machine and 18 s with 2 while
    another process held the cores; the predictions were identical)."""

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


def _head_inputs(rung: RungSpec, texts, desc: str | None = None) -> tuple[torch.Tensor, bool]:
    """(feature matrix in `_both` order, pair) of a frozen rung's inputs."""
    rows, pair = _feature_rows(texts)
    return torch.from_numpy(features_of(rung, rows, desc)), pair


def _head_logits(model, x: torch.Tensor, batch: list[int] | None, pair: bool) -> torch.Tensor:
    """Logits of inputs `batch` (all if None) from the feature matrix `x` (`_head_inputs`)."""
    n = len(x) // 2 if pair else len(x)
    idx = list(range(n)) if batch is None else list(batch)
    rows = idx + [i + n for i in idx] if pair else idx
    return _pair_logits(model(x[rows].to(_device_of(model))), pair)


@torch.no_grad()
def _head_predict(model, x: torch.Tensor, pair: bool) -> np.ndarray:
    model.eval()
    with one_thread():
        return torch.softmax(_head_logits(model, x, None, pair), dim=1)[:, 1].double().cpu().numpy()


def backbone_features(model, rung: RungSpec, texts: list[str], desc: str | None = None) -> np.ndarray:
    """The pooled representation of `model` (a Classifier) for each text: a frozen rung's features."""
    model.to(device()).eval()
    return _batched(lambda b, pad: _pooled(model, b, pad), rung, _encode(rung, texts), desc)


def _pooled(model, items: list, pad_id: int) -> torch.Tensor:
    h = model.pooled(*_collate(_both(items), pad_id, _device_of(model)))
    return h[: len(items)] - h[len(items) :] if _is_pair(items) else h


def encode_frozen(rung: RungSpec, texts: list[str], desc: str | None = None) -> np.ndarray:
    """The pretrained backbone's pooled features of `texts` (float32), computed now; a chess
    network's scores of each text's candidate move (w2s_bench.chess_nets) for a chess rung."""
    if rung.chess is not None:
        from w2s_bench.chess_nets import rung_features

        return rung_features(rung, list(texts))
    from w2s_bench.models import pooled_backbone

    return backbone_features(pooled_backbone(rung), rung, list(texts), desc).astype(np.float32)


def family_key(rung: RungSpec) -> str:
    """Rungs that differ only in their cut (`num_layers`) are one backbone read at several depths."""
    from w2s_bench.specs import spec_hash

    key = {"source": rung.source, "pooling": rung.pooling, "max_length": rung.max_length, "dtype": rung.dtype}
    if rung.chess is not None:  # each chess-network rung is its own family
        key["chess"] = rung.chess
    return spec_hash(key)


def _depth(rung: RungSpec, total: int) -> int:
    return total if rung.num_layers is None else rung.num_layers


def encode_frozen_family(rungs: list[RungSpec], texts: list[str], desc: str | None = None) -> dict[str, np.ndarray]:
    """rung name -> pooled features of `texts`, for rungs of one family (`family_key`), from ONE
    forward pass of the deepest cut: the hidden state after layer k is what the model cut to its
    first k layers outputs (the layers before k are the same weights on the same inputs), so a
    depth ladder costs what its deepest rung costs. Layer 0 is the embedding output."""
    from w2s_bench.models import pooled_backbone

    if len({family_key(r) for r in rungs}) != 1:
        raise ValueError("encode_frozen_family: the rungs must differ only in num_layers")
    if len(rungs) == 1:
        return {rungs[0].name: encode_frozen(rungs[0], texts, desc)}
    from transformers import AutoConfig

    from w2s_bench.models import model_location

    location, revision = model_location(rungs[0])
    total = AutoConfig.from_pretrained(location, revision=revision).num_hidden_layers
    deepest = max(rungs, key=lambda r: _depth(r, total))
    model = pooled_backbone(deepest).to(device()).eval()
    depths = [_depth(r, total) for r in rungs]

    def pooled_all(items, pad_id):
        ids, mask = _collate(items, pad_id, _device_of(model))
        hidden = model.backbone(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        return torch.stack([model.pool(hidden[k], mask) for k in depths], dim=1)  # [batch, rung, dim]

    out = _batched(pooled_all, deepest, _encode(deepest, list(texts)), desc)
    return {r.name: out[:, i].astype(np.float32) for i, r in enumerate(rungs)}


def features_of(rung: RungSpec, texts: list[str], desc: str | None = None) -> np.ndarray:
    """Pooled features of `texts` from this process's bank (w2s_bench.features.BANK); the texts
    it lacks are encoded and added."""
    from w2s_bench.features import BANK

    texts = list(texts)
    missing = BANK.missing(rung, texts)
    if missing:
        BANK.add(rung, missing, encode_frozen(rung, missing, desc))
    return BANK.get(rung, texts)


def length_sorted_batches(lengths, batch_size: int, gen: torch.Generator | None) -> list[list[int]]:
    """Shuffle (if `gen`), sort by length inside chunks of 50 batches, cut into batches, shuffle
    the batch order: little padding, still random. Without `gen`: fully sorted, for prediction."""
    n = len(lengths)
    order = torch.randperm(n, generator=gen).tolist() if gen is not None else list(range(n))
    chunk = batch_size * 50 if gen is not None else n
    batches = []
    for s in range(0, n, chunk):
        part = sorted(order[s : s + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    if gen is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
    return batches


def _collate(ids: list[list[int]], pad_id: int, to: torch.device | None = None):
    """Right-padded to the batch's longest sequence (dynamic padding), on device `to`."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    if to is not None and to.type != "cpu":
        input_ids, mask = input_ids.to(to, non_blocking=True), mask.to(to, non_blocking=True)
    return input_ids, mask


@torch.no_grad()
def _batched(fn, rung: RungSpec, ids: list, desc: str | None = None) -> np.ndarray:
    """fn(model inputs of a batch, pad id) over length-sorted batches, rows back in input order."""
    pad = load_tokenizer(rung).pad_token_id
    out = None
    batches = length_sorted_batches([_length(x) for x in ids], rung.batch_size * 4, None)
    for b in tqdm(batches, desc=desc, disable=desc is None, leave=False):
        y = fn([ids[i] for i in b], pad).double().cpu().numpy()
        if out is None:
            out = np.zeros((len(ids), *y.shape[1:]), dtype=np.float64)
        out[b] = y
    return out


def _predict(model, rung: RungSpec, ids: list, desc: str | None = None) -> np.ndarray:
    model.eval()
    return _batched(lambda b, pad: torch.softmax(_logits(model, b, pad), dim=1)[:, 1], rung, ids, desc)


def _selection_score(probs: np.ndarray, targets: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    hard = targets > 0.5
    if hard.all() or not hard.any():
        return float(((probs > 0.5) == hard).mean())
    return float(roc_auc_score(hard, probs))


class TrainedClassifier:
    """What the trainer returns: a predictor that maps texts to p(label = 1); saveable."""

    def __init__(self, model, rung: RungSpec, history: list[dict] | None = None, init: dict | None = None):
        self.model, self.rung, self.history = model.to(device()), rung, history or []
        self.init = init  # backbone weights training started from, if not the pretrained ones

    def predict(self, texts, desc: str | None = None) -> np.ndarray:
        if self.rung.kind == "frozen":
            return _head_predict(self.model, *_head_inputs(self.rung, texts, desc))
        return _predict(self.model, self.rung, _encode(self.rung, texts), desc)

    def features(self, texts, desc: str | None = None) -> np.ndarray:
        """The pooled representation the head reads, one row per text (a pair: a's minus b's)."""
        self.model.eval()
        if self.rung.kind == "frozen":
            x, pair = _head_inputs(self.rung, texts, desc)
            x = x.double().numpy()
            return x[: len(x) // 2] - x[len(x) // 2 :] if pair else x
        return _batched(lambda b, pad: _pooled(self.model, b, pad), self.rung, _encode(self.rung, texts), desc)

    def save(self, folder: Path) -> None:
        save_trained(self.model, Path(folder) / "weights.safetensors")
        if self.init:  # what training left frozen but the init changed
            from safetensors.torch import save_file

            trained = {id(p) for p in self.model.parameters() if p.requires_grad}
            base = base_parameters(self.model)
            kept = {n: base[n].detach().cpu().contiguous() for n in self.init if id(base[n]) not in trained}
            if kept:
                save_file(kept, str(Path(folder) / "init.safetensors"))

    @classmethod
    def load(cls, folder: Path, rung: RungSpec) -> TrainedClassifier:
        folder = Path(folder)
        return cls(load_trained(rung, folder / "weights.safetensors", folder / "init.safetensors"), rung)


class Optimizer:
    """AdamW with linear warm-up then linear decay to 0 over `total` steps, gradients clipped at
    norm 1; `step(loss)` refuses a non-finite loss. Fused AdamW when the parameters are on CUDA
    (`fused=False` turns it off; torch's default, foreach, elsewhere)."""

    def __init__(self, model, rung: RungSpec, total: int, lr: float | None = None, fused: bool | None = None):
        self.params = [p for p in model.parameters() if p.requires_grad]
        on_cuda = bool(self.params) and self.params[0].is_cuda
        extra = {"fused": True} if on_cuda and fused is not False else {}
        self.opt = torch.optim.AdamW(self.params, lr=lr or rung.lr, weight_decay=rung.weight_decay, **extra)
        warmup = int(rung.warmup_frac * total)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min((s + 1) / max(warmup, 1), max(0.0, (total - s) / max(total - warmup, 1)))
        )

    def step(self, loss: torch.Tensor, what: str) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{what}: loss became {loss.item()}")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()


def train_step(
    model, opt: Optimizer, items: list, targets: torch.Tensor, pad_id: int, loss, step: int, total: int, what: str
) -> torch.Tensor:
    """One optimisation step on a batch of encoded inputs: what `fit` runs (and what
    benchmarks/throughput.py times)."""
    model.train()
    value = loss(_logits(model, items, pad_id), targets.to(_device_of(model)), step, total)
    opt.step(value, what)
    return value


def train_loop(
    model, rung: RungSpec, lengths: list[int], seed: int, step_fn, score_fn, desc: str, evals_per_epoch: int = 2
) -> list[dict]:
    """The loop every trainer shares: `rung.epochs` epochs of shuffled length-sorted batches;
    `step_fn(batch_indices, opt, step, total)` takes one step and returns its loss (or None);
    `score_fn()` scores the model on val `evals_per_epoch` times per epoch, and the trainable
    weights that scored best are restored at the end. Returns the evaluation history."""
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(lengths) / rung.batch_size)
    total = steps_per_epoch * rung.epochs
    opt = Optimizer(model, rung, total)
    eval_at = {round(steps_per_epoch * (k + 1) / evals_per_epoch) for k in range(evals_per_epoch)}
    best, best_state, history, step = -math.inf, None, [], 0
    bar = tqdm(total=total, desc=desc, leave=False)
    for epoch in range(rung.epochs):
        for i, b in enumerate(length_sorted_batches(lengths, rung.batch_size, gen)):
            value = step_fn(b, opt, step, total)
            step += 1
            bar.update(1)
            if i + 1 in eval_at:
                score = score_fn()
                history.append(
                    {
                        "step": step,
                        "epoch": epoch,
                        "val_score": score,
                        **({"loss": value.item()} if value is not None else {}),
                    }
                )
                if score > best:
                    best = score
                    best_state = copy.deepcopy({n: p.detach() for n, p in model.named_parameters() if p.requires_grad})
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    return history


def fit(
    rung: RungSpec,
    train: Labeled,
    val: Labeled,
    seed: int,
    loss=soft_ce_loss,
    desc: str = "train",
    evals_per_epoch: int = 2,
    init: dict | None = None,
) -> TrainedClassifier:
    """Train `rung` (from its pretrained weights, or from backbone weights `init`)."""
    if rung.kind == "frozen":
        if init:
            from w2s_bench.features import no_backbone_training

            raise no_backbone_training(rung, "training from other backbone weights (init)")
        return _fit_head(rung, train, val, seed, loss, desc, evals_per_epoch)
    torch.manual_seed(seed)
    model = build_classifier(rung, seed)
    if init:
        apply_init(model, init)
    model.to(device())
    train_ids, val_ids = _encode(rung, train.texts), _encode(rung, val.texts)
    targets = torch.tensor(np.asarray(train.targets), dtype=torch.float32)
    pad = load_tokenizer(rung).pad_token_id

    def step_fn(b, opt, step, total):
        return train_step(
            model, opt, [train_ids[j] for j in b], targets[b], pad, loss, step, total, f"{desc} at step {step}"
        )

    history = train_loop(
        model,
        rung,
        [_length(x) for x in train_ids],
        seed,
        step_fn,
        lambda: _selection_score(_predict(model, rung, val_ids), np.asarray(val.targets)),
        desc,
        evals_per_epoch,
    )
    return TrainedClassifier(model.eval(), rung, history, init=init)


def _fit_head(
    rung: RungSpec, train: Labeled, val: Labeled, seed: int, loss, desc: str, evals_per_epoch: int
) -> TrainedClassifier:
    """`fit` for a frozen-backbone rung: the linear head on the cached pooled features, trained
    and selected exactly like a fine-tuned rung (same loop, optimizer, loss and val score)."""
    torch.manual_seed(seed)
    model = build_classifier(rung, seed).to(device())
    x_train, pair = _head_inputs(rung, train.texts, f"{desc} features")
    x_val, _ = _head_inputs(rung, val.texts, f"{desc} features")
    model.standardize_from(x_train.to(_device_of(model)))  # the training inputs' statistics only
    targets = torch.tensor(np.asarray(train.targets), dtype=torch.float32)

    def step_fn(b, opt, step, total):
        model.train()
        value = loss(_head_logits(model, x_train, b, pair), targets[b].to(_device_of(model)), step, total)
        opt.step(value, f"{desc} at step {step}")
        return value

    with one_thread():
        history = train_loop(
            model,
            rung,
            [1] * len(targets),
            seed,
            step_fn,
            lambda: _selection_score(_head_predict(model, x_val, pair), np.asarray(val.targets)),
            desc,
            evals_per_epoch,
        )
    return TrainedClassifier(model.eval(), rung, history)
