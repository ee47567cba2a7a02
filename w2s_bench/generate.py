"""Generative tasks: a causal LM fine-tuned to continue a prompt with a target text (the paper's
chess format: SAN transcript -> the solution move), greedy decoding, exact match.

`fit_generative(rung, train, val, seed)` fine-tunes the rung's causal LM (`transformers`'
AutoModelForCausalLM; LoRA if the rung has it) with cross-entropy on the target tokens only (the
prompt tokens are masked out of the loss), and keeps the weights whose greedy decodes on `val`
match the val targets most often: gold targets for the weak model and the ceiling, the weak
model's predicted texts for a student. A prediction is the leading whitespace and the first
word of the greedy continuation (one move); two texts match when equal up to surrounding
whitespace (the scorer's `exact_match`). Prompts longer than the rung's `max_length` lose
their beginning, never their end (the last moves of a transcript matter most).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from w2s_bench.models import load_pretrained, load_tokenizer, load_trained_state, save_trained
from w2s_bench.specs import RungSpec
from w2s_bench.train import device, length_sorted_batches, train_loop

MAX_NEW_TOKENS = 8  # tokens decoded per prediction: a SAN move has at most 7 characters ("exd8=Q+")


@dataclass(frozen=True)
class Targets:
    """Prompts with target texts (generative tasks): gold targets where the harness trains the
    weak model and the ceiling; in what a method sees, the weak model's predicted texts only."""

    texts: tuple  # of str: the prompts
    targets: tuple  # of str: the target texts (e.g. " Qxf7#")

    def __post_init__(self):
        if len(self.texts) != len(self.targets):
            raise ValueError(f"{len(self.texts)} prompts but {len(self.targets)} targets")


def first_word(text: str) -> str:
    """The leading whitespace and the first word of a continuation: one move."""
    return re.match(r"\s*\S*", text).group(0)


def _match_rate(predictions, targets) -> float:
    """Share of predictions equal to their target up to surrounding whitespace."""
    return sum(str(p).strip() == str(t).strip() for p, t in zip(predictions, targets)) / max(len(targets), 1)


def _build(rung: RungSpec):
    from transformers import AutoModelForCausalLM

    return load_pretrained(rung, AutoModelForCausalLM).to(device())  # the trainer's device


def _end_id(tok) -> int | None:
    """The token that ends a target (and stops decoding): eos, else sep (BERT-style vocabularies)."""
    return tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id


def _prompt_ids(rung: RungSpec, prompts, room: int) -> list[list[int]]:
    ids = load_tokenizer(rung)(list(prompts))["input_ids"]
    return [x[-max(rung.max_length - room, 1) :] for x in ids]  # keep the end of the prompt


def _pairs(rung: RungSpec, prompts, targets) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, target ids + eos) per example, together at most `max_length` tokens."""
    tok = load_tokenizer(rung)
    eos = [_end_id(tok)] if _end_id(tok) is not None else []
    t_ids = [
        (t + eos)[: MAX_NEW_TOKENS + 1] for t in tok([str(t) for t in targets], add_special_tokens=False)["input_ids"]
    ]
    p_ids = tok(list(prompts))["input_ids"]
    return [(p[-max(rung.max_length - len(t), 1) :], t) for p, t in zip(p_ids, t_ids)]


def _train_batch(pairs, pad: int) -> dict[str, torch.Tensor]:
    """Right-padded prompt + target; labels -100 everywhere but on the target tokens."""
    width = max(len(p) + len(t) for p, t in pairs)
    ids = torch.full((len(pairs), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (p, t) in enumerate(pairs):
        ids[i, : len(p) + len(t)] = torch.tensor(p + t)
        mask[i, : len(p) + len(t)] = 1
        labels[i, len(p) : len(p) + len(t)] = torch.tensor(t)
    dev = device()
    return {"input_ids": ids.to(dev), "attention_mask": mask.to(dev), "labels": labels.to(dev)}


@torch.no_grad()
def _decode(model, rung: RungSpec, prompt_ids: list[list[int]], desc: str | None = None) -> list[str]:
    """Greedy continuations (left-padded batches), cut to their first word."""
    tok = load_tokenizer(rung)
    model.eval()
    out: list[str] = [""] * len(prompt_ids)
    batches = length_sorted_batches([len(x) for x in prompt_ids], rung.batch_size * 4, None)
    for b in tqdm(batches, desc=desc, disable=desc is None, leave=False):
        width = max(len(prompt_ids[i]) for i in b)
        ids = torch.full((len(b), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(b):
            x = prompt_ids[i]
            ids[r, width - len(x) :] = torch.tensor(x)
            mask[r, width - len(x) :] = 1
        gen = model.generate(
            input_ids=ids.to(device()),
            attention_mask=mask.to(device()),
            do_sample=False,
            num_beams=1,
            max_new_tokens=MAX_NEW_TOKENS,
            pad_token_id=tok.pad_token_id,
            eos_token_id=_end_id(tok),
        )
        for r, i in enumerate(b):
            out[i] = first_word(tok.decode(gen[r, width:], skip_special_tokens=True))
    return out


class GenerativeLM:
    """What `fit_generative` returns: prompts -> predicted texts (greedy); saveable."""

    def __init__(self, model, rung: RungSpec, history: list[dict] | None = None):
        self.model, self.rung, self.history = model, rung, history or []

    def predict(self, texts, desc: str | None = None) -> list[str]:
        return _decode(self.model, self.rung, _prompt_ids(self.rung, texts, MAX_NEW_TOKENS), desc)

    def save(self, folder: Path) -> None:
        save_trained(self.model, Path(folder) / "weights.safetensors")

    @classmethod
    def load(cls, folder: Path, rung: RungSpec) -> GenerativeLM:
        return cls(load_trained_state(_build(rung), rung, Path(folder) / "weights.safetensors"), rung)


def fit_generative(
    rung: RungSpec, train: Targets, val: Targets, seed: int, desc: str = "train", evals_per_epoch: int = 2
) -> GenerativeLM:
    """Fine-tune `rung`'s causal LM on prompt -> target text; select on `val` exact match."""
    torch.manual_seed(seed)
    model = _build(rung)
    pad = load_tokenizer(rung).pad_token_id
    pairs = _pairs(rung, train.texts, train.targets)
    val_ids = _prompt_ids(rung, val.texts, MAX_NEW_TOKENS)
    lengths = [len(p) + len(t) for p, t in pairs]

    def step_fn(b, opt, step, total):
        model.train()
        batch = _train_batch([pairs[j] for j in b], pad)
        if not (batch["labels"] != -100).any():  # empty targets and no end token: nothing to learn
            return None
        loss = model(**batch).loss
        opt.step(loss, f"{desc} at step {step}")
        return loss

    history = train_loop(
        model,
        rung,
        lengths,
        seed,
        step_fn,
        lambda: _match_rate(_decode(model, rung, val_ids), val.targets),
        desc,
        evals_per_epoch,
    )
    return GenerativeLM(model.eval(), rung, history)
