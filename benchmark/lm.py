"""Unsupervised language-model fine-tuning of a rung on unlabeled text (generative fine-tuning).

Masked-LM loss for encoder rungs (pooling "mean"), causal-LM loss for decoder rungs (pooling
"last"), with transformers' own LM heads and `DataCollatorForLanguageModeling`. Returns the
backbone weights afterwards, under the names of the classifier's backbone, for `fit(init=...)`.
"""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from w2s_bench.models import DTYPES, load_tokenizer, model_location
from w2s_bench.specs import RungSpec


def lm_finetune(rung: RungSpec, texts, seed: int, epochs: int = 1, lr: float | None = None,
                mlm_probability: float = 0.15, desc: str = "lm") -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, DataCollatorForLanguageModeling

    from w2s_bench.models import _quiet_transformers
    from w2s_bench.train import Optimizer, length_sorted_batches
    _quiet_transformers()
    torch.manual_seed(seed)
    encoder = rung.pooling == "mean"
    location, revision = model_location(rung)
    kwargs = {"num_hidden_layers": rung.num_layers} if rung.num_layers else {}
    lm = (AutoModelForMaskedLM if encoder else AutoModelForCausalLM).from_pretrained(
        location, revision=revision, dtype=DTYPES[rung.dtype], **kwargs)
    tok = load_tokenizer(rung)
    if len(tok) > lm.get_input_embeddings().weight.shape[0]:
        lm.resize_token_embeddings(len(tok))
    if rung.freeze_embeddings:
        lm.get_input_embeddings().weight.requires_grad_(False)
    model = lm
    if rung.lora is not None:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(lm, LoraConfig(r=rung.lora.r, lora_alpha=rung.lora.alpha,
                                              lora_dropout=rung.lora.dropout,
                                              target_modules=rung.lora.target_modules))
    collate = DataCollatorForLanguageModeling(tok, mlm=encoder, mlm_probability=mlm_probability,
                                              return_tensors="pt")
    ids = tok(list(texts), truncation=True, max_length=rung.max_length)["input_ids"]
    opt = Optimizer(model, rung, math.ceil(len(ids) / rung.batch_size) * epochs, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    bar = tqdm(total=math.ceil(len(ids) / rung.batch_size) * epochs, desc=desc, leave=False)
    for _ in range(epochs):
        for b in length_sorted_batches([len(x) for x in ids], rung.batch_size, gen):
            opt.step(model(**collate([{"input_ids": ids[i]} for i in b])).loss, f"{desc} (LM)")
            bar.update(1)
    bar.close()
    if rung.lora is not None:
        lm = model.merge_and_unload()
    base = lm.base_model  # e.g. BertModel inside BertForMaskedLM: the classifier's backbone
    return {n: p.detach().clone() for n, p in base.named_parameters()
            if p.requires_grad or rung.lora is not None}  # what LM training could change
