"""Training throughput of the w2s-bench trainer next to two reference loops, on one device.

    python benchmarks/throughput.py --config gpt2-xl --config qwen2.5-1.5b --max-length 512 \
        [--data tasks|full] [--loops a,b,ours[,ours-unsorted,ours-unfused,ours-compile]] \
        [--batch-size 8] [--steps 10] [--examples 400] [--device cuda] [--out throughput.json]

Models are built from `benchmarks/configs/<name>/config.json` (`AutoConfig`) with random weights:
weights do not change the time of a step, and no download is needed. All loops of one run see the
same config, the same examples and the same batch size, on the same device.

Data (`--data`): `tasks` (default) draws `--examples` token lengths from the real pocket-task
inputs (student_train of each task of the pocket suite, tokenised by the pocket ladder's MiniLM
tokenizer, truncated at `--max-length`; pairs count both texts) with random token ids, so dynamic
padding is measured on realistic lengths; `full` makes every example exactly `--max-length` tokens
(the setting of the issue's first measurement).

Loops:
- (a) built like the released openai/weak-to-strong code: fp32, full fine-tune, eager attention,
  every sequence padded to `--max-length` with id 0 and read at its last non-zero token, no
  attention mask, dropout off (model.eval()), torch.optim.Adam, logits of `--a-minibatch`-sized
  minibatches stacked and one backward per batch (its default minibatch per device is 1).
- (b) a plain LoRA loop: transformers `AutoModelForSequenceClassification` + peft LoRA (r=8,
  alpha=16, all linear layers, head trained fully), bf16 weights, SDPA attention, every sequence
  padded to `--max-length`, random batches, torch.optim.AdamW (torch's default implementation).
- ours: the w2s-bench trainer's own step (`w2s_bench.train.train_step`: `_collate` dynamic padding,
  the Classifier head, `soft_ce_loss`, `Optimizer` = AdamW, fused on CUDA, warm-up/decay schedule,
  gradient clipping, non-finite check) on batches from `length_sorted_batches`, with a rung like
  the hub ladders' (bf16, LoRA r=8 alpha=16 all-linear, last-token pooling). The model is the
  rung's `Classifier` built as `models.build_classifier` builds it, from the config instead of
  pretrained weights. One pass over all `--examples` (one sorting chunk of the trainer) is timed.
  Variants: `ours-unsorted` (dynamic padding, batches in random order: no length bucketing),
  `ours-unfused` (foreach AdamW), `ours-compile` (`torch.compile(model, dynamic=True)`),
  `ours-ckpt` (gradient checkpointing, as with W2S_BENCH_GRADIENT_CHECKPOINTING=1: less memory,
  one more forward per step, which MFU does not count as useful work).
On CUDA each row also reports the peak GPU memory allocated while it ran (`peak_mem_gib`).

What is counted (FLOPs of one training step; the model FLOP utilisation, MFU, divides them by the
step time and by the peak):
- every matmul weight W (nn.Linear, GPT-2's Conv1D, LoRA's A and B, the head; embeddings are
  lookups and count nothing) costs per token 2·|W| forward + 2·|W| for the gradient of its input,
  + 2·|W| for its own gradient when W is trained. Full fine-tune: 6·N per token. LoRA with a frozen
  base: 4·N_base + 6·N_adapters + 6·N_head per token. (The input gradient of the first layer, which
  autograd skips when nothing below needs it, is counted: an overcount of at most 1/layers of the
  4·N term.)
- attention scores and the weighted sum: per layer and sequence of length s, 4·s²·d forward and
  8·s² ·d backward (d = heads × head dim); the full s×s square is counted, causal or not.
- "MFU" counts each sequence at its real length (non-pad tokens only): the work a user needs.
  "MFU incl. pad" counts what the loop computes, padding included (rows × padded width).
- the peak is the best bf16 matmul throughput (8192² operands on CUDA) measured in the same run on
  the same device. Biases, norms, activations, softmax and the optimizer are not counted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

CONFIGS = Path(__file__).resolve().parent / "configs"
LOOPS = ("a", "b", "ours", "ours-unsorted", "ours-unfused", "ours-compile", "ours-ckpt")
DESCRIPTION = {
    "a": ("fp32", "full", "fixed"),
    "b": ("bf16", "LoRA r=8", "fixed"),
    "ours": ("bf16", "LoRA r=8", "dynamic, length-sorted"),
    "ours-unsorted": ("bf16", "LoRA r=8", "dynamic, random order"),
    "ours-unfused": ("bf16", "LoRA r=8", "dynamic, length-sorted"),
    "ours-compile": ("bf16", "LoRA r=8", "dynamic, length-sorted"),
    "ours-ckpt": ("bf16", "LoRA r=8", "dynamic, length-sorted"),
}


# ---- configs and data ------------------------------------------------------------------------


def load_config(name: str):
    from transformers import AutoConfig

    folder = CONFIGS / name
    if not (folder / "config.json").exists():
        known = ", ".join(sorted(p.name for p in CONFIGS.iterdir() if (p / "config.json").exists()))
        raise SystemExit(f"--config {name}: no {folder}/config.json; known configs: {known}")
    return AutoConfig.from_pretrained(str(folder))


def task_lengths(max_length: int, suite: str = "pocket") -> list[int]:
    """Token lengths of the real inputs of a suite's tasks (student_train), pocket tokenizer."""
    from w2s_bench.api import flat_texts
    from w2s_bench.models import load_tokenizer
    from w2s_bench.registry import load_ladder, load_suite
    from w2s_bench.tasks import load_splits, load_task

    spec = load_suite(suite)
    tok = load_tokenizer(load_ladder(spec.ladder).rungs[0])
    texts = []
    for name in spec.tasks:
        rows = load_splits(load_task(name))["student_train"]
        texts += flat_texts([tuple(r["text"]) if isinstance(r["text"], list) else r["text"] for r in rows])
    return [len(x) for x in tok(texts, truncation=True, max_length=max_length)["input_ids"]]


def make_examples(cfg, lengths: list[int], pad_id: int, seed: int) -> list[list[int]]:
    """Random token ids in [1, vocab) other than the pad id (id 0 is (a)'s pad)."""
    g = np.random.default_rng(seed)
    out = []
    for n in lengths:
        ids = g.integers(1, cfg.vocab_size - 1, size=n)  # pad_id = vocab_size - 1 is never drawn
        out.append(ids.tolist())
    assert all(pad_id not in x for x in out)
    return out


# ---- FLOPs -----------------------------------------------------------------------------------


def matmul_weights(model: nn.Module) -> tuple[int, int]:
    """(trained, frozen) element counts of the weights used as matmuls: nn.Linear, GPT-2's
    Conv1D, LoRA's A and B; a peft copy kept for saving (`original_module`) is not counted."""
    from transformers.pytorch_utils import Conv1D

    trained = frozen = 0
    for name, module in model.named_modules():
        if ".original_module" in name or name.endswith("original_module"):
            continue
        if isinstance(module, (nn.Linear, Conv1D)):
            n = module.weight.numel()
            if module.weight.requires_grad:
                trained += n
            else:
                frozen += n
    return trained, frozen


def attention_dims(cfg) -> tuple[int, int]:
    """(layers, d) with d = query heads x head dim."""
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return cfg.num_hidden_layers, heads * head_dim


def step_flops(trained: int, frozen: int, layers: int, d_attn: int, seq_lengths) -> float:
    """Forward + backward FLOPs of one step over sequences of the given lengths (see module doc)."""
    tokens = sum(seq_lengths)
    dense = (6 * trained + 4 * frozen) * tokens
    attention = 12 * layers * d_attn * sum(s * s for s in seq_lengths)
    return float(dense + attention)


# ---- the loops -------------------------------------------------------------------------------


@dataclass
class Step:
    """What a loop's step processed: real lengths of its rows and the padded width."""

    lengths: list[int]
    width: int


@dataclass
class Timing:
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0


def _sync(dev: torch.device):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _soft_ce(logits, target):
    t = torch.stack([1 - target, target], dim=1)
    return -(t * torch.log_softmax(logits.float(), dim=1)).sum(1).mean()


def _timed(run_step, warm: list, timed: list, dev) -> Timing:
    for batch in warm:
        run_step(batch)
    _sync(dev)
    t0 = time.perf_counter()
    steps = [run_step(batch) for batch in timed]
    _sync(dev)
    return Timing(steps, time.perf_counter() - t0)


def _fixed_batches(n_examples: int, batch: int, count: int, seed: int) -> list[list[int]]:
    g = np.random.default_rng(seed)
    order = g.permutation(n_examples).tolist()
    while len(order) < batch * count:
        order += g.permutation(n_examples).tolist()
    return [order[i * batch : (i + 1) * batch] for i in range(count)]


def loop_a(cfg, examples, batches, max_length, dev, minibatch: int):
    """Built like the released code (see the module doc)."""
    from transformers import AutoModel

    torch.manual_seed(0)
    with dev:
        backbone = AutoModel.from_config(cfg, dtype=torch.float32, attn_implementation="eager")
        head = nn.Linear(cfg.hidden_size, 2, bias=False)
    nn.init.zeros_(head.weight)
    model = nn.ModuleDict({"backbone": backbone, "head": head}).eval()  # dropout off, as released
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    targets = torch.rand(len(examples), device=dev)

    def run_step(b):
        logits = []
        for i in range(0, len(b), minibatch):
            rows = [examples[j] for j in b[i : i + minibatch]]
            ids = torch.zeros((len(rows), max_length), dtype=torch.long)
            for r, x in enumerate(rows):
                ids[r, : len(x)] = torch.tensor(x)
            ids = ids.to(dev)
            lens = (ids != 0).sum(-1)
            h = backbone(ids).last_hidden_state
            logits.append(head(h[torch.arange(len(rows), device=dev), lens - 1]))
        loss = _soft_ce(torch.cat(logits), targets[b])
        loss.item()  # logged every step by the released loop
        loss.backward()
        opt.step()
        opt.zero_grad()
        return Step([len(examples[j]) for j in b], max_length)

    return model, run_step


def loop_b(cfg, examples, batches, max_length, dev, pad_id: int):
    """A plain transformers + peft LoRA loop (see the module doc)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    cfg = cfg.__class__.from_dict({**cfg.to_dict(), "num_labels": 2, "pad_token_id": pad_id})
    with dev:
        model = AutoModelForSequenceClassification.from_config(cfg, dtype=torch.bfloat16, attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules="all-linear"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    targets = torch.rand(len(examples), device=dev)

    def run_step(b):
        ids = torch.full((len(b), max_length), pad_id, dtype=torch.long)
        mask = torch.zeros((len(b), max_length), dtype=torch.long)
        for r, j in enumerate(b):
            ids[r, : len(examples[j])] = torch.tensor(examples[j])
            mask[r, : len(examples[j])] = 1
        logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        loss = _soft_ce(logits, targets[b])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return Step([len(examples[j]) for j in b], max_length)

    return model, run_step


def our_rung(name: str, max_length: int, batch_size: int):
    from w2s_bench.specs import HubSource, LoraSpec, RungSpec

    return RungSpec(
        name=name,
        source=HubSource(type="hub", id=f"benchmarks/configs/{name}", revision="random-init"),
        pooling="last",
        max_length=max_length,
        lr=1e-4,
        batch_size=batch_size,
        epochs=1,
        lora=LoraSpec(),
        dtype="bfloat16",
    )


def our_classifier(cfg, rung, pad_id: int, dev, checkpointing: bool = False):
    """The rung's Classifier as `models.build_classifier` makes it (`models.adapt_backbone`:
    frozen embeddings, peft LoRA; then the fp32 head), with random weights from `cfg` instead of
    pretrained ones."""
    from transformers import AutoModel

    from w2s_bench.models import DTYPES, Classifier, adapt_backbone

    torch.manual_seed(0)
    with dev:
        backbone = AutoModel.from_config(cfg, dtype=DTYPES[rung.dtype])
    backbone = adapt_backbone(backbone, rung, cfg.vocab_size, pad_id, checkpointing)
    model = Classifier(backbone, backbone.config.hidden_size, rung.pooling)
    model.head.to(device=dev, dtype=torch.float32)
    return model


def loop_ours(cfg, examples, rung, dev, pad_id: int, variant: str, seed: int):
    """The trainer's own step on its own batches (see the module doc)."""
    from w2s_bench.train import (
        Optimizer,
        length_sorted_batches,
        soft_ce_loss,
        train_step,
    )

    model = our_classifier(cfg, rung, pad_id, dev, checkpointing=variant == "ours-ckpt")
    lengths = [len(x) for x in examples]
    gen = torch.Generator().manual_seed(seed)
    if variant == "ours-unsorted":
        order = torch.randperm(len(examples), generator=gen).tolist()
        batches = [order[i : i + rung.batch_size] for i in range(0, len(order), rung.batch_size)]
    else:
        batches = length_sorted_batches(lengths, rung.batch_size, gen)
    opt = Optimizer(model, rung, total=len(batches), fused=False if variant == "ours-unfused" else None)
    stepped = torch.compile(model, dynamic=True) if variant == "ours-compile" else model
    targets = torch.rand(len(examples))
    counter = [0]

    def run_step(b):
        train_step(
            stepped,
            opt,
            [examples[j] for j in b],
            targets[b],
            pad_id,
            soft_ce_loss,
            counter[0],
            len(batches),
            "throughput",
        )
        counter[0] += 1
        return Step([lengths[j] for j in b], max(lengths[j] for j in b))

    return model, run_step, batches


# ---- measuring -------------------------------------------------------------------------------


def bf16_peak(dev: torch.device, n: int | None = None, reps: int = 3) -> float:
    """Best bf16 matmul throughput (FLOP/s) of an n x n x n product on `dev`."""
    n = n or (8192 if dev.type == "cuda" else 512)
    a = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=dev)
    iters = 20 if dev.type == "cuda" else 3
    a @ b
    _sync(dev)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            a @ b
        _sync(dev)
        best = max(best, 2 * n**3 * iters / (time.perf_counter() - t0))
    return best


def _free(dev):
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def measure(cfg_name: str, loop: str, examples, args, dev, peak: float) -> dict:
    cfg = load_config(cfg_name)
    pad_id = cfg.vocab_size - 1
    layers, d_attn = attention_dims(cfg)
    precision, tuning, padding = DESCRIPTION[loop]
    row = {
        "config": cfg_name,
        "loop": loop,
        "precision": precision,
        "tuning": tuning,
        "padding": padding,
        "batch": args.batch_size,
    }
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    try:
        if loop == "a":
            fixed = _fixed_batches(len(examples), args.batch_size, args.warmup + args.steps, args.seed)
            model, run_step = loop_a(cfg, examples, fixed, args.max_length, dev, args.a_minibatch)
            warm, timed = fixed[: args.warmup], fixed[args.warmup :]
        elif loop == "b":
            fixed = _fixed_batches(len(examples), args.batch_size, args.warmup + args.steps, args.seed)
            model, run_step = loop_b(cfg, examples, fixed, args.max_length, dev, pad_id)
            warm, timed = fixed[: args.warmup], fixed[args.warmup :]
        else:
            rung = our_rung(cfg_name, args.max_length, args.batch_size)
            model, run_step, batches = loop_ours(cfg, examples, rung, dev, pad_id, loop, args.seed)
            warm, timed = batches[: args.warmup], batches  # warm-up, then one whole pass timed
        trained, frozen = matmul_weights(model)
        t = _timed(run_step, warm, timed, dev)
        peak_mem = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None
        del model, run_step
        error = None
    except torch.OutOfMemoryError as e:
        error = f"out of memory: {str(e).splitlines()[0][:120]}"
    _free(dev)  # (after the except block: the exception no longer holds the model's frames)
    if error:
        return {**row, "error": error}
    n_ex = sum(len(s.lengths) for s in t.steps)
    tokens = sum(sum(s.lengths) for s in t.steps)
    useful = sum(step_flops(trained, frozen, layers, d_attn, s.lengths) for s in t.steps)
    padded = sum(step_flops(trained, frozen, layers, d_attn, [s.width] * len(s.lengths)) for s in t.steps)
    return {
        **row,
        "steps": len(t.steps),
        "seconds": t.seconds,
        "examples": n_ex,
        "peak_mem_gib": peak_mem,
        "tokens": tokens,
        "padded_tokens": sum(s.width * len(s.lengths) for s in t.steps),
        "trained_matmul_params": trained,
        "frozen_matmul_params": frozen,
        "flops": useful,
        "flops_incl_pad": padded,
        "examples_per_s": n_ex / t.seconds,
        "tokens_per_s": tokens / t.seconds,
        "mfu": useful / t.seconds / peak,
        "mfu_incl_pad": padded / t.seconds / peak,
    }


def add_ratios(rows: list[dict]) -> None:
    """examples/s of each loop over loop (b)'s, per config."""
    for r in rows:
        ref = next((x for x in rows if x["config"] == r["config"] and x["loop"] == "b" and "examples_per_s" in x), None)
        r["ratio_to_b"] = r["examples_per_s"] / ref["examples_per_s"] if ref and "examples_per_s" in r else None


def markdown(rows: list[dict]) -> str:
    head = (
        "| config | loop | precision | tuning | padding | batch | examples/s | tokens/s (non-pad) "
        "| MFU | MFU incl. pad | × (b) | peak memory |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['config']} | {r['loop']} | {r['precision']} | {r['tuning']} | "
                f"{r['padding']} | {r['batch']} | {r['error']} | | | | | |"
            )
            continue
        ratio = "" if r["ratio_to_b"] is None else f"{r['ratio_to_b']:.2f}"
        mem = "" if r.get("peak_mem_gib") is None else f"{r['peak_mem_gib']:.1f} GiB"
        lines.append(
            f"| {r['config']} | {r['loop']} | {r['precision']} | {r['tuning']} | "
            f"{r['padding']} | {r['batch']} | {r['examples_per_s']:.1f} | "
            f"{r['tokens_per_s']:,.0f} | {100 * r['mfu']:.1f} % | "
            f"{100 * r['mfu_incl_pad']:.1f} % | {ratio} | {mem} |"
        )
    return "\n".join(lines)


def environment(dev: torch.device) -> dict:
    import importlib.metadata as md

    env = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})",
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    for name in ("torch", "transformers", "peft"):
        env[name] = md.version(name)
    if dev.type == "cuda":
        env["cuda"] = torch.version.cuda
    return env


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", help="folder under benchmarks/configs (repeatable)")
    ap.add_argument("--loops", default="a,b,ours", help=f"comma-separated, of {', '.join(LOOPS)}; or all")
    ap.add_argument("--data", choices=("tasks", "full"), default="tasks")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument(
        "--examples",
        type=int,
        default=400,
        help="example pool; ours times one pass over it (50 batches of 8 = one sorting chunk)",
    )
    ap.add_argument("--steps", type=int, default=10, help="timed steps of the fixed-padding loops")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--a-minibatch", type=int, default=1, help="(a)'s minibatch (released default: 1)")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--out", type=Path, help="also write the rows and the environment as JSON (a .jsonl file: append one line)"
    )
    args = ap.parse_args(argv)
    loops = LOOPS if args.loops == "all" else tuple(x.strip() for x in args.loops.split(","))
    unknown = set(loops) - set(LOOPS)
    if unknown:
        ap.error(f"--loops: unknown {sorted(unknown)}; choose from {', '.join(LOOPS)}")
    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    configs = args.config or ["gpt2-xl", "qwen2.5-1.5b"]

    if args.data == "tasks":
        pool = task_lengths(args.max_length)
    else:
        pool = [args.max_length]
    g = np.random.default_rng(args.seed)
    lengths = [int(x) for x in g.choice(pool, size=args.examples, replace=True)]
    peak = bf16_peak(dev)
    rows = []
    for name in configs:
        cfg = load_config(name)
        examples = make_examples(cfg, lengths, cfg.vocab_size - 1, args.seed)
        for loop in loops:
            row = measure(name, loop, examples, args, dev, peak)
            print(
                f"{name} {loop}: "
                + (row.get("error") or f"{row['examples_per_s']:.1f} examples/s, MFU {100 * row['mfu']:.1f} %"),
                file=sys.stderr,
                flush=True,
            )
            rows.append(row)
    add_ratios(rows)
    env = environment(dev)
    result = {
        "environment": env,
        "peak_bf16_flops": peak,
        "args": {k: str(v) for k, v in vars(args).items()},
        "data": {
            "kind": args.data,
            "mean_length": float(np.mean(lengths)),
            "max_length": args.max_length,
            "examples": args.examples,
        },
        "rows": rows,
    }
    print(
        f"device: {env['device']}; torch {env['torch']}, transformers {env['transformers']}, "
        f"peft {env['peft']}; measured bf16 matmul peak {peak / 1e12:.1f} TFLOP/s; data: {args.data} "
        f"(mean {np.mean(lengths):.1f} of max {args.max_length} tokens)\n"
    )
    print(markdown(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix == ".jsonl":
            with open(args.out, "a") as f:
                f.write(json.dumps(result, default=str) + "\n")
        else:
            args.out.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
