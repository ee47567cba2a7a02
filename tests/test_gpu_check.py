"""The GPU path of the trainer and the pieces of benchmarks/gpu_check.sh that run on a CPU:
device choice, the asset packer (bf16 MiniLM + task data), the GPU-vs-CPU result comparison."""

import copy
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from toydata import toy

from w2s_bench.registry import load_ladder
from w2s_bench.train import Optimizer, device, fit

ROOT = Path(__file__).resolve().parents[1]
CPU_NAIVE = ROOT / "leaderboard" / "entries" / "pocket" / "pocket" / "naive"
TEXTS, DATA = toy(2)


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_device_override(monkeypatch):
    monkeypatch.setenv("W2S_BENCH_DEVICE", "cpu")
    assert device() == torch.device("cpu")
    monkeypatch.setenv("W2S_BENCH_DEVICE", "tpu")
    with pytest.raises(ValueError, match="W2S_BENCH_DEVICE"):
        device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("W2S_BENCH_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="no CUDA device"):
            device()
        monkeypatch.delenv("W2S_BENCH_DEVICE")
        assert device() == torch.device("cpu")


def test_bf16_rung_keeps_an_fp32_head_and_uses_sdpa():
    from w2s_bench.models import build_classifier

    rung = load_ladder("pocket").rung("L1").model_copy(update={"dtype": "bfloat16", "epochs": 1})
    model = build_classifier(rung, 0)
    assert model.backbone.config._attn_implementation == "sdpa"
    assert {p.dtype for p in model.backbone.parameters()} == {torch.bfloat16}
    assert model.head.weight.dtype == torch.float32
    p = fit(rung, DATA, DATA, seed=0).predict(TEXTS)
    assert p.dtype == np.float64 and np.all((p >= 0) & (p <= 1))


def test_packer_makes_a_small_home_that_the_pocket_suite_reads(tmp_path, monkeypatch):
    from safetensors import safe_open

    from w2s_bench.assets import asset_path
    from w2s_bench.models import build_classifier
    from w2s_bench.tasks import load_splits, load_task

    rung = load_ladder("pocket").rung("L1")
    original = {n: p.detach().clone() for n, p in build_classifier(rung, 0).backbone.named_parameters()}
    sizes = _script("pack_gpu_assets").pack("pocket", tmp_path)
    assert sum(sizes.values()) < 50 * 2**20  # the device tool carries at most 64 MiB
    weights = next(tmp_path.rglob("model.safetensors"))
    with safe_open(str(weights), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    assert {d for d in dtypes if d.is_floating_point} == {torch.bfloat16}  # (+ int position ids)
    monkeypatch.setenv("W2S_BENCH_HOME", str(tmp_path))
    for task in ("sst2", "sciq", "rotten_tomatoes"):
        load_splits(load_task(task))  # the data as shipped: the frozen split hashes still hold
    assert str(asset_path(rung.source.package, rung.source.path)).startswith(str(tmp_path))
    packed = dict(build_classifier(rung, 0).backbone.named_parameters())
    for name, p in original.items():  # float32 rung: bf16-rounded weights, read back as float32
        assert packed[name].dtype == torch.float32
        assert torch.equal(packed[name], p.to(torch.bfloat16).float()), name


def test_compare_an_entry_with_itself_and_with_a_shifted_copy(tmp_path):
    cmp = _script("compare_results")
    entry = cmp.load(CPU_NAIVE)
    rows = cmp.compare(entry, entry)
    assert len(rows) == len(entry["tasks"]) * len(entry["pairs"]) * len(cmp.METRICS)
    assert all(r["diff"] == 0 and r["agree"] for r in rows if r["agree"] is not None)
    shifted = copy.deepcopy(entry)
    for c in shifted["cells"]:
        c["student"]["accuracy"] += 0.2
    rows = cmp.compare(shifted, entry)
    student = [r for r in rows if r["metric"] == "student acc"]
    assert all(r["diff"] == pytest.approx(0.2) and r["agree"] is False for r in student)
    assert all(r["agree"] for r in rows if r["metric"] == "weak acc")
    (tmp_path / "result.json").write_text(json.dumps({**entry, "method": "aux_conf"}))
    with pytest.raises(SystemExit, match="not comparable"):
        cmp.main([str(tmp_path), str(CPU_NAIVE)])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_matches_cpu_closely(monkeypatch):
    rung = load_ladder("pocket").rung("L1").model_copy(update={"epochs": 1})
    monkeypatch.setenv("W2S_BENCH_DEVICE", "cpu")
    cpu = fit(rung, DATA, DATA, seed=0).predict(TEXTS)
    monkeypatch.setenv("W2S_BENCH_DEVICE", "cuda")
    model = fit(rung, DATA, DATA, seed=0)
    assert next(model.model.parameters()).is_cuda
    gpu = model.predict(TEXTS)
    assert isinstance(gpu, np.ndarray) and gpu.dtype == np.float64
    assert np.allclose(gpu, cpu, atol=1e-3)
    opt = Optimizer(model.model, rung, total=1)
    assert opt.opt.defaults.get("fused") is True
