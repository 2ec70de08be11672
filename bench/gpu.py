"""Training-step throughput on a GPU: DPO and reward-model steps of a 0.5B Llama-style model.

    .venv/bin/python bench/gpu.py                   # a GPU machine: 0.5B, seq len 1,024, bf16
    .venv/bin/python bench/gpu.py --tiny --steps 2  # anywhere: a tiny model on the CPU (smoke)

The model is built from a config with random weights (nothing is downloaded); the data are
random token ids. Each configuration (method × full fine-tune or LoRA) runs `--warmup` steps,
then `--steps` timed steps, and prints tokens per second (the chosen and rejected sequences
trained on), peak memory, and model FLOPs utilisation (MFU) against the GPU's peak bf16 rate.

A step is the arithmetic of the project's trainers, written out so that nothing but the model
is measured: DPO = the sigmoid loss on log-ratios of the summed response log-probs, with the
reference policy's forward pass (a frozen copy for a full fine-tune, the same model with its
adapters disabled for LoRA, as TRL does); reward = Bradley–Terry on a 1-label classifier's
scores of chosen and rejected. bf16 autocast with fp32 weights and AdamW (Trainer's `bf16`).

FLOPs per trained token: forward F = 2·N + 4·layers·seq·hidden (N = parameters but the
embeddings; attention scores and values, no causal discount); a full training step costs 3·F,
a LoRA step about 2·F (no weight gradients of the frozen matrices), a reference pass F.
"""

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

# Dense bf16 peak of the GPUs one meets, in TFLOP/s (vendor data sheets, without sparsity).
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,  # SXM; the PCIe card: 756 (--peak-tflops 756)
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
}


@dataclass
class Shape:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int


HALF_BILLION = Shape(hidden=1024, layers=24, heads=16, intermediate=4096, vocab=32000)
TINY = Shape(hidden=64, layers=2, heads=4, intermediate=128, vocab=512)


def llama_config(shape: Shape, seq_len: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        intermediate_size=shape.intermediate,
        vocab_size=shape.vocab,
        max_position_embeddings=max(seq_len, 2048),
        pad_token_id=0,
        num_labels=1,
    )


def peak_tflops(name: str, given: float | None) -> float | None:
    if given:
        return given
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def body_parameters(model: Any) -> int:
    """Parameters that do matrix products per token (the embedding table is a lookup)."""
    embedding = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - embedding


def build(method: str, lora: bool, shape: Shape, seq_len: int, device: Any, checkpointing: bool):
    import torch
    from transformers import LlamaForCausalLM, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = llama_config(shape, seq_len)
    cls = LlamaForSequenceClassification if method == "reward" else LlamaForCausalLM
    model = cls(config).to(device)
    reference = None
    if method == "dpo" and not lora:
        reference = cls(config).to(device).eval().requires_grad_(False)
        reference.load_state_dict(model.state_dict())
    if lora:
        from peft import LoraConfig, get_peft_model

        task = "SEQ_CLS" if method == "reward" else "CAUSAL_LM"
        model = get_peft_model(
            model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type=task)
        )
    if checkpointing:
        model.gradient_checkpointing_enable()
        if lora:
            model.enable_input_require_grads()
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    return model, reference, optimizer


def response_logprobs(model: Any, ids: Any, prompt_len: int) -> Any:
    import torch.nn.functional as F

    logits = model(input_ids=ids, use_cache=False).logits[:, prompt_len - 1 : -1].float()
    targets = ids[:, prompt_len:]
    return -F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").sum(-1)


def step(method: str, model: Any, reference: Any, optimizer: Any, batch: dict, autocast) -> None:
    import torch
    import torch.nn.functional as F

    chosen, rejected, prompt_len = batch["chosen"], batch["rejected"], batch["prompt_len"]
    both = torch.cat([chosen, rejected])
    with autocast():
        if method == "reward":
            scores = model(input_ids=both, use_cache=False).logits.squeeze(-1).float()
            loss = -F.logsigmoid(scores[: len(chosen)] - scores[len(chosen) :]).mean()
        else:
            policy = response_logprobs(model, both, prompt_len)
            with torch.no_grad():
                if reference is None:  # LoRA: the reference is the model without adapters
                    with model.disable_adapter():
                        ref = response_logprobs(model, both, prompt_len)
                else:
                    ref = response_logprobs(reference, both, prompt_len)
            ratio = policy - ref
            n = len(chosen)
            loss = -F.logsigmoid(0.1 * (ratio[:n] - ratio[n:])).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def measure(args: argparse.Namespace, method: str, lora: bool) -> dict[str, Any]:
    import contextlib

    import torch

    cuda = torch.cuda.is_available() and not args.tiny
    device = torch.device("cuda" if cuda else "cpu")
    shape = TINY if args.tiny else HALF_BILLION
    model, reference, optimizer = build(
        method, lora, shape, args.seq_len, device, args.gradient_checkpointing
    )
    generator = torch.Generator().manual_seed(1)

    def batch() -> dict:
        size = (args.batch_size, args.seq_len)
        draw = lambda: torch.randint(1, shape.vocab, size, generator=generator).to(device)  # noqa: E731
        chosen, rejected = draw(), draw()
        rejected[:, : args.seq_len // 2] = chosen[:, : args.seq_len // 2]  # one prompt, 2 answers
        return {"chosen": chosen, "rejected": rejected, "prompt_len": args.seq_len // 2}

    def autocast():
        if cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    for _ in range(args.warmup):
        step(method, model, reference, optimizer, batch(), autocast)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    batches = [batch() for _ in range(args.steps)]
    started = time.perf_counter()
    for data in batches:
        step(method, model, reference, optimizer, data, autocast)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started

    tokens = args.steps * 2 * args.batch_size * args.seq_len
    base = model.get_base_model() if lora else model
    n = body_parameters(base)
    forward = 2 * n + 4 * shape.layers * args.seq_len * shape.hidden
    per_token = (2 if lora else 3) * forward + (forward if method == "dpo" else 0)
    achieved = per_token * tokens / seconds
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    peak = peak_tflops(name, args.peak_tflops) if cuda else None
    memory = (
        torch.cuda.max_memory_allocated(device)
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "device": name,
        "method": method,
        "mode": "lora" if lora else "full",
        "parameters": sum(p.numel() for p in base.parameters()),
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "tokens_per_second": tokens / seconds,
        "peak_memory_gib": memory / 2**30,
        "model_tflops": achieved / 1e12,
        "mfu": achieved / (peak * 1e12) if peak else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny model on the CPU (smoke run)")
    parser.add_argument("--methods", default="dpo,reward", help="dpo,reward or one of them")
    parser.add_argument("--modes", default="full,lora", help="full,lora or one of them")
    parser.add_argument("--seq-len", type=int, default=None, help="tokens per sequence (1,024)")
    parser.add_argument("--batch-size", type=int, default=4, help="pairs per step")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the GPU's peak bf16 TFLOP/s, if unlisted"
    )
    args = parser.parse_args(argv)
    if args.seq_len is None:
        args.seq_len = 32 if args.tiny else 1024
    if args.tiny:
        args.batch_size = min(args.batch_size, 2)

    import torch

    if not args.tiny and not torch.cuda.is_available():
        parser.error("no GPU here: run on a GPU machine, or pass --tiny for a CPU smoke run")
    if torch.cuda.is_available() and not args.tiny:
        print(f"GPU: {torch.cuda.get_device_name(0)}", flush=True)
    print(
        f"{'method':<7} {'mode':<5} {'params':>8} {'tokens/s':>10} {'peak GiB':>9} "
        f"{'TFLOP/s':>8} {'MFU':>6}"
    )
    for method in args.methods.split(","):
        for mode in args.modes.split(","):
            row = measure(args, method.strip(), mode.strip() == "lora")
            mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
            print(
                f"{row['method']:<7} {row['mode']:<5} {row['parameters'] / 1e6:>7.1f}M "
                f"{row['tokens_per_second']:>10.0f} {row['peak_memory_gib']:>9.2f} "
                f"{row['model_tflops']:>8.2f} {mfu:>6}"
            )
            print(json.dumps(row), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
