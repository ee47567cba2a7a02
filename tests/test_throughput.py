"""benchmarks/throughput.py on a tiny config on the CPU: the three loops run and fill the table,
the FLOP count matches a hand count, the ratio to loop (b) is examples/s over (b)'s."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tp():
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["throughput"] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def _args(device, out, data="tasks", loops="a,b,ours"):
    return [
        "--device",
        device,
        "--config",
        "tiny",
        "--loops",
        loops,
        "--data",
        data,
        "--max-length",
        "64",
        "--examples",
        "16",
        "--batch-size",
        "4",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--out",
        str(out),
    ]


FIELDS = (
    "examples_per_s",
    "tokens_per_s",
    "mfu",
    "mfu_incl_pad",
    "ratio_to_b",
    "flops",
    "flops_incl_pad",
    "tokens",
    "padded_tokens",
    "examples",
    "seconds",
)


def test_three_loops_run_on_tiny_config_and_fill_the_table(tp, tmp_path, capsys):
    result = tp.main(_args("cpu", tmp_path / "t.json", loops="a,b,ours,ours-ckpt"))
    rows = {r["loop"]: r for r in result["rows"]}
    assert set(rows) == {"a", "b", "ours", "ours-ckpt"}
    for r in rows.values():
        assert all(k in r for k in FIELDS), r
        assert r["examples_per_s"] > 0 and 0 < r["mfu"] <= r["mfu_incl_pad"]
        assert r["tokens"] <= r["padded_tokens"]
    # fixed padding: every row of (a) and (b) is 64 wide; ours pads to the batch's longest only
    assert rows["a"]["padded_tokens"] == rows["a"]["examples"] * 64
    assert rows["ours"]["padded_tokens"] < rows["ours"]["examples"] * 64
    assert rows["ours"]["examples"] == 16  # one whole pass over the pool
    # tiny config (2 layers, width 32, MLP 128): per layer c_attn 32x96 + c_proj 32x32 + c_fc 32x128
    # + mlp c_proj 128x32 = 12288 matmul weights, x2 layers = 24576, + head 32x2 = 64
    assert (rows["a"]["trained_matmul_params"], rows["a"]["frozen_matmul_params"]) == (24640, 0)
    # LoRA r=8 on the same 4 matmuls: 8*(32+96) + 8*(32+32) + 8*(32+128) + 8*(128+32) = 4096 per
    # layer, x2 = 8192 trained, + the head; the base frozen
    for loop in ("b", "ours", "ours-ckpt"):
        assert (rows[loop]["trained_matmul_params"], rows[loop]["frozen_matmul_params"]) == (8256, 24576)
    assert rows["b"]["ratio_to_b"] == 1.0
    # gradient checkpointing: the same batches and the same counted work, recomputed activations
    assert rows["ours-ckpt"]["padded_tokens"] == rows["ours"]["padded_tokens"]
    assert rows["ours-ckpt"]["flops"] == rows["ours"]["flops"]
    assert all(r["peak_mem_gib"] is None for r in rows.values())  # measured on CUDA only
    assert rows["ours"]["ratio_to_b"] == pytest.approx(rows["ours"]["examples_per_s"] / rows["b"]["examples_per_s"])
    out = capsys.readouterr().out
    assert "| config | loop | precision |" in out and "MFU incl. pad" in out and "× (b)" in out
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["peak_bf16_flops"] > 0 and len(saved["rows"]) == 4


def test_flop_count_by_hand(tp):
    # 10 trained + 100 frozen matmul weights, 3 layers, attention width 4, sequences of 2 and 3:
    # dense (6*10 + 4*100) * 5 tokens = 2300; attention 12 * 3 * 4 * (2^2 + 3^2) = 1872
    assert tp.step_flops(10, 100, 3, 4, [2, 3]) == 2300 + 1872
    # full fine-tune is 6 N per token
    assert tp.step_flops(7, 0, 1, 1, [1]) == 6 * 7 + 12


def test_ratio_is_examples_per_second_over_loop_b(tp):
    rows = [
        {"config": "x", "loop": "a", "examples_per_s": 2.0},
        {"config": "x", "loop": "b", "examples_per_s": 8.0},
        {"config": "x", "loop": "ours", "examples_per_s": 20.0},
        {"config": "y", "loop": "ours", "examples_per_s": 1.0},
    ]
    tp.add_ratios(rows)
    assert [r["ratio_to_b"] for r in rows] == [0.25, 1.0, 2.5, None]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_three_loops_run_on_cuda(tp, tmp_path):
    result = tp.main(_args("cuda", tmp_path / "t.json", loops="a,b,ours,ours-ckpt"))
    rows = {r["loop"]: r for r in result["rows"] if "examples_per_s" in r}
    assert set(rows) == {"a", "b", "ours", "ours-ckpt"}
    assert all(r["peak_mem_gib"] > 0 for r in rows.values())
