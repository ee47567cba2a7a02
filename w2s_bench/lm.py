"""Unsupervised language-model fine-tuning of a rung on unlabeled text (generative fine-tuning).

Masked-LM loss for encoder rungs (pooling "mean"), causal-LM loss for decoder rungs (pooling
"last"), with transformers' own LM heads and `DataCollatorForLanguageModeling`. Returns the
backbone weights afterwards, under the names of the classifier's backbone, for `fit(init=...)`.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from w2s_bench.models import load_pretrained, load_tokenizer
from w2s_bench.specs import RungSpec


def lm_finetune(
    rung: RungSpec,
    texts,
    seed: int,
    epochs: int = 1,
    lr: float | None = None,
    mlm_probability: float = 0.15,
    desc: str = "lm",
) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, DataCollatorForLanguageModeling

    from w2s_bench.train import Optimizer, device, length_sorted_batches

    if rung.kind == "frozen":
        from w2s_bench.features import no_backbone_training

        raise no_backbone_training(rung, "unsupervised LM fine-tuning (method generative, --ceiling generative)")
    torch.manual_seed(seed)
    encoder = rung.pooling == "mean"
    dev = device()
    model = load_pretrained(rung, AutoModelForMaskedLM if encoder else AutoModelForCausalLM).to(dev)
    tok = load_tokenizer(rung)
    collate = DataCollatorForLanguageModeling(tok, mlm=encoder, mlm_probability=mlm_probability, return_tensors="pt")
    ids = tok(list(texts), truncation=True, max_length=rung.max_length)["input_ids"]
    total = math.ceil(len(ids) / rung.batch_size) * epochs
    opt = Optimizer(model, rung, total, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    bar = tqdm(total=total, desc=desc, leave=False)
    for _ in range(epochs):
        for b in length_sorted_batches([len(x) for x in ids], rung.batch_size, gen):
            batch = collate([{"input_ids": ids[i]} for i in b])  # masks drawn on the CPU
            opt.step(model(**{k: v.to(dev) for k, v in batch.items()}).loss, f"{desc} (LM)")
            bar.update(1)
    bar.close()
    lm = model.merge_and_unload() if rung.lora is not None else model
    base = lm.base_model  # e.g. BertModel inside BertForMaskedLM: the classifier's backbone
    return {
        n: p.detach().cpu().clone() for n, p in base.named_parameters() if p.requires_grad or rung.lora is not None
    }  # what LM training could change
