"""Feature paths for a frozen rung, side by side in one run: fp32 torch (what the harness runs),
int8 dynamic quantization of every nn.Linear (torch.ao), and ONNX Runtime (fp32, the model
exported with torch.onnx). Same texts, same batches, same pooling; per path: texts per second,
the ratio to fp32 torch, the cosine of its features with fp32's, and the accuracy on `val` of the
rung's ceiling head (trained on the fp32 student_train features from the stage cache) when it
reads that path's val features. Then the whole ladder on the same texts: one pass per rung against
the family pass the harness makes (the deepest cut once; w2s_bench.train.encode_frozen_family).

    python benchmarks/feature_paths.py --task multiemo_sentences --rung mpnet8 --n 512

Needs `pip install onnxruntime onnx onnxscript` for the ONNX path (skipped, with a note, without).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _batches(rung, texts):
    from w2s_bench.models import load_tokenizer
    from w2s_bench.train import _collate, _encode, _length, length_sorted_batches

    ids = _encode(rung, texts)
    pad = load_tokenizer(rung).pad_token_id
    order = length_sorted_batches([_length(x) for x in ids], rung.batch_size * 4, None)
    return [(b, *_collate([ids[i] for i in b], pad)) for b in order]


def _run(fn, batches, n, dim):
    out = np.zeros((n, dim), np.float32)
    t = time.perf_counter()
    for b, ids, mask in batches:
        out[b] = fn(ids, mask)
    return out, n / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="multiemo_sentences")
    ap.add_argument("--ladder", default="pocket_mpnet")
    ap.add_argument("--rung", default="mpnet8")
    ap.add_argument("--n", type=int, default=512, help="val texts timed (at most the val split)")
    ap.add_argument("--out", default="benchmarks/results/feature_paths.md")
    args = ap.parse_args(argv)
    import torch

    from w2s_bench.assets import home
    from w2s_bench.models import pooled_backbone
    from w2s_bench.registry import load_ladder
    from w2s_bench.stages import Cache, _gold, _texts, frozen_features
    from w2s_bench.tasks import load_splits, load_task
    from w2s_bench.train import Labeled, fit

    warnings.filterwarnings("ignore")
    rung = load_ladder(args.ladder).rung(args.rung)
    splits = load_splits(load_task(args.task))
    frozen_features(Cache(home() / "cache"), [(rung, ("student_train", "val"))], splits, {"task": args.task})
    train = Labeled(_texts(splits["student_train"]), _gold(splits["student_train"]))
    val_rows = splits["val"][: args.n]
    val = Labeled(_texts(val_rows), _gold(val_rows))
    head = fit(rung, train, Labeled(_texts(splits["val"]), _gold(splits["val"])), seed=0)
    texts = list(val.texts)
    batches = _batches(rung, texts)
    model = pooled_backbone(rung).eval()
    dim = model.head.in_features
    paths = {}
    with torch.no_grad():
        paths["fp32 torch"] = _run(lambda i, m: model.pooled(i, m).numpy(), batches, len(texts), dim)
        qmodel = pooled_backbone(rung).eval()
        qmodel.backbone = torch.ao.quantization.quantize_dynamic(qmodel.backbone, {torch.nn.Linear}, dtype=torch.qint8)
        paths["int8 dynamic (torch.ao)"] = _run(lambda i, m: qmodel.pooled(i, m).numpy(), batches, len(texts), dim)
    note = ""
    try:
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = Path(tmp) / "model.onnx"

            class Pooled(torch.nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, input_ids, attention_mask):
                    return self.m.pooled(input_ids, attention_mask)

            _, ids, mask = batches[0]
            torch.onnx.export(
                Pooled(model),
                (ids, mask),
                str(onnx_path),
                input_names=["input_ids", "attention_mask"],
                output_names=["pooled"],
                dynamo=False,
                dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
            )
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = torch.get_num_threads()
            sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
            paths["ONNX Runtime fp32"] = _run(
                lambda i, m: sess.run(None, {"input_ids": i.numpy(), "attention_mask": m.numpy()})[0],
                batches,
                len(texts),
                dim,
            )
    except ImportError as e:
        note = f"ONNX Runtime path skipped: {e} (pip install onnxruntime onnx onnxscript)."
    # the whole ladder: one pass per rung (each cut loaded and run on its own) against the family
    # pass the harness makes (the deepest cut once, every rung's layer pooled from it)
    from w2s_bench.train import encode_frozen, encode_frozen_family

    rungs = load_ladder(args.ladder).rungs
    t = time.perf_counter()
    for r in rungs:
        encode_frozen(r, texts)
    per_rung = len(texts) / (time.perf_counter() - t)
    t = time.perf_counter()
    family = encode_frozen_family(list(rungs), texts)
    one_pass = len(texts) / (time.perf_counter() - t)
    ladder_line = (
        f"Whole ladder ({', '.join(r.name for r in rungs)}) on the same texts: one pass per rung "
        f"{per_rung:.1f} texts/s, one family pass {one_pass:.1f} texts/s: ratio {one_pass / per_rung:.2f}; "
        f"the family pass's {args.rung} features equal the separate pass's: "
        f"{bool(np.array_equal(family[args.rung], encode_frozen(rung, texts)))}."
    )
    print(ladder_line, flush=True)
    ref = paths["fp32 torch"][0]
    lines = [
        f"# Feature paths: {args.ladder}/{args.rung} on {len(texts)} val texts of {args.task}",
        "",
        "| path | texts/s | ratio to fp32 torch | cosine with fp32 (min / mean) | ceiling val acc |",
        "|---|---|---|---|---|",
    ]
    for name, (feats, rate) in paths.items():
        cos = (feats * ref).sum(1) / np.linalg.norm(feats, axis=1) / np.linalg.norm(ref, axis=1)
        with torch.no_grad():
            p = torch.softmax(head.model(torch.from_numpy(feats)), 1)[:, 1].numpy()
        acc = float(((p > 0.5) == (val.targets > 0.5)).mean())
        lines.append(
            f"| {name} | {rate:.1f} | {rate / paths['fp32 torch'][1]:.2f} | {cos.min():.4f} / "
            f"{cos.mean():.4f} | {acc:.3f} |"
        )
        print(lines[-1], flush=True)
    lines += ["", ladder_line]
    lines += ["", note] if note else []
    lines += [
        "",
        f"`python benchmarks/feature_paths.py --task {args.task} --ladder {args.ladder} --rung "
        f"{args.rung} --n {args.n}`, {torch.get_num_threads()} torch threads, on this machine.",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
