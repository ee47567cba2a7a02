"""w2s-bench: a reproducible benchmark for weak-to-strong generalization (Burns et al., 2023).

import w2s_bench
res = w2s_bench.evaluate(method="aux_conf")  # the default suite, pocket.v4, its min_seeds (10)
"""

__version__ = "0.1.0"


def evaluate(*args, **kwargs):
    """See w2s_bench.run.evaluate (imported on first use: torch and friends are heavy)."""
    from w2s_bench.run import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
