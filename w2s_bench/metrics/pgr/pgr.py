"""PGR, performance gap recovered, as an `evaluate` metric: the w2s-bench scorer behind the
`evaluate` interface, for code that already computes its metrics with `evaluate`.

    import evaluate
    from w2s_bench.scoring import pgr_metric_path
    pgr = evaluate.load(pgr_metric_path())            # a local path: nothing is downloaded
    pgr.compute(references=gold, predictions=student_p,
                weak_predictions=weak_p, ceiling_predictions=ceiling_p)

Inputs, one value per test example: `references` the gold labels (0/1), `predictions`,
`weak_predictions` and `ceiling_predictions` the student's, the weak model's and the strong
ceiling's p(label = 1). A generative task passes texts for all four (accuracy is exact match; AUROC
and PGR on it are undefined). `noise_floor_z` (default 1.0, the pocket and paper suites' protocol
value) sets the noise floor under which PGR is undefined.

The output is exactly `w2s_bench.scoring.score_cell`'s (one implementation; tests/test_pgr_metric.py
checks they agree): accuracy and AUROC of weak, ceiling and student, the noise floors, and
`pgr_accuracy` / `pgr_auroc` = (student - weak) / (ceiling - weak), None where undefined.
"""

import datasets
import evaluate

from w2s_bench.scoring import score_cell

_FIELDS = ("predictions", "references", "weak_predictions", "ceiling_predictions")


class Pgr(evaluate.Metric):
    def _info(self):
        numeric = {k: datasets.Value("int64" if k == "references" else "float64") for k in _FIELDS}
        text = {k: datasets.Value("string") for k in _FIELDS}
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Burns et al. (2023), Weak-to-strong generalization: eliciting strong "
            "capabilities with weak supervision. arXiv:2312.09390",
            inputs_description="references, predictions, weak_predictions, ceiling_predictions: one "
            "value per test example (p(label = 1), or texts for a generative task); "
            "noise_floor_z: float, default 1.0",
            features=[datasets.Features(numeric), datasets.Features(text)],
            reference_urls=["https://arxiv.org/abs/2312.09390"],
        )

    def _compute(self, predictions, references, weak_predictions, ceiling_predictions, noise_floor_z: float = 1.0):
        return score_cell(references, weak_predictions, ceiling_predictions, predictions, z=noise_floor_z)
