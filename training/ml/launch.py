"""How a run's child process is started: one process, or `accelerate launch` with several.

A config with `processes` > 1 (the Trainer-based kinds: sft, reward, dpo, rloo, grpo) runs under
`accelerate launch`: torch.distributed with DDP (gloo on CPU, NCCL on GPUs), or FSDP or
DeepSpeed ZeRO-3 where the config's `distributed` asks for it. Every rank trains; rank 0 alone
prints events and moves the artifact into place (run.py, events.py).

The supervisor (training/services/execution.py) starts the command in a process group of its
own and stops a run by killing that group. torchrun puts each rank in a session of its own, so
the group alone would not reach them: each rank asks the kernel to kill it when the launcher
dies (`die_with_launcher`), and the launcher stops every rank when one of them fails, which
fails the run.
"""

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import sys

from .config import ConfigError, RunConfig

_PR_SET_PDEATHSIG = 1


def processes_of(config: RunConfig) -> int:
    return int(getattr(config, "processes", 1))


def child_command(
    config: RunConfig, config_path: str, *, python: str = sys.executable
) -> list[str]:
    """The argv that trains `config_path` (a run description, run.py) with `config`'s processes."""
    module = ["-m", "training.ml", config_path]
    processes = processes_of(config)
    if processes <= 1:
        return [python, *module]
    distributed = getattr(config, "distributed", "ddp")
    command = [
        python,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--main_process_port",
        str(free_port()),
        # Precision is the trainer's (bf16 on a GPU that has it, trl_adapter._forced_arguments).
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]
    if distributed == "fsdp":
        command += ["--use_fsdp", "--fsdp_sharding_strategy", "FULL_SHARD"]
    elif distributed == "deepspeed":
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("distributed: deepspeed is not installed on this worker")
        command += ["--use_deepspeed", "--zero_stage", "3"]
    else:
        # torchrun's DDP; on a machine without CUDA the ranks join over gloo.
        command += ["--multi_gpu"]
    return command + module


def free_port() -> int:
    """A TCP port free now, for the ranks' rendezvous on this machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def die_with_launcher() -> None:
    """In a rank started by torchrun: the kernel kills it when its launcher dies (Linux), so
    that killing the supervisor's process group (cancel, the worker's end) reaches every rank."""
    if "LOCAL_RANK" not in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the launcher died before the request above was made
        os._exit(1)
