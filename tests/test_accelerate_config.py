"""benchmarks/accelerate/fsdp_1host_8gpu.yaml is a config the installed accelerate understands
(accelerate comes with peft). It checks the file only: the trainer does not use accelerate yet
(benchmarks/accelerate/README.md)."""

import os
from pathlib import Path

from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils.launch import prepare_multi_gpu_env

CONFIG = Path(__file__).resolve().parents[1] / "benchmarks" / "accelerate" / "fsdp_1host_8gpu.yaml"


def test_config_parses_as_fsdp2_on_8_gpus():
    c = load_config_from_file(str(CONFIG))
    assert (c.distributed_type.value, c.num_processes, c.num_machines, c.mixed_precision) == ("FSDP", 8, 1, "bf16")
    assert c.fsdp_config["fsdp_version"] == 2


def test_launcher_turns_it_into_the_fsdp2_environment(monkeypatch):
    args = launch_command_parser().parse_args(["--config_file", str(CONFIG), "train.py"])
    args, _, _ = _validate_launch_command(args)
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    for k, v in env.items():
        if k.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setitem(os.environ, k, v)
    from accelerate.utils import FullyShardedDataParallelPlugin

    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
