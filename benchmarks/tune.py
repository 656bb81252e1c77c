"""SFT steps per second and peak memory: `kollama tune sft` vs a plain transformers + peft loop.

Both train the same LoRA (r=8, alpha=16, dropout 0.05, q/v, lr 3e-4, AdamW) on smollm2 with the same
examples (the first N records of kollama's Korean instruction set, encoded once), the same batch size
and the same number of steps. Each side runs in its own process so peak memory (max RSS) is its own.

    .venv/bin/python benchmarks/tune.py [--steps 4] [--batch-size 4] [--max-len 96] [--records 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "kollama" / "data" / "tune" / "ko_instructions.jsonl"


def small_dataset(records: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix="kollama-bench-")) / "data.jsonl"
    path.write_text("\n".join(DATA.read_text(encoding="utf-8").splitlines()[:records]) + "\n", encoding="utf-8")
    return path


def kollama_worker(args) -> dict:
    from kollama.console import ProgressBar
    from kollama.tune.sft import run_sft
    from kollama.tune.trainer import TrainSettings

    out = Path(tempfile.mkdtemp(prefix="kollama-bench-run-"))
    settings = TrainSettings(max_steps=args.steps, batch_size=args.batch_size, max_len=args.max_len,
                             eval_split=0.0, save_every=10_000)
    with ProgressBar("sft", info=True, remaining=True) as bar:  # as `kollama tune sft` draws it
        report = run_sft("smollm2", args.data, out, settings, progress=bar.report)
    return {"steps": report["steps"], "seconds": report["seconds"], "threads": _threads()}


def plain_worker(args) -> dict:
    """What a user would write with transformers + peft directly: file order, pad to the batch's longest."""
    import torch
    from peft import LoraConfig, get_peft_model

    from kollama.tune.base_model import load_model, resolve_base
    from kollama.tune.datasets import load_chats
    from kollama.tune.encoding import ChatEncoder
    from kollama.tune.sft import collate

    base = resolve_base("smollm2")
    encoder = ChatEncoder(base.path)
    examples = [encoder.encode(chat, args.max_len) for chat in load_chats(args.data)[1]]
    model = get_peft_model(load_model(base, "float32"), LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4)
    torch.manual_seed(0)
    batches = [examples[i:i + args.batch_size] for i in range(0, len(examples), args.batch_size)]
    seconds = 0.0
    for step in range(args.steps):
        started = time.perf_counter()
        ids, mask, labels = collate(batches[step % len(batches)], encoder.eos_id, "cpu")
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds += time.perf_counter() - started
    return {"steps": args.steps, "seconds": round(seconds, 2), "threads": _threads()}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def run_side(side: str, args) -> dict:
    command = [sys.executable, __file__, "--worker", side, "--data", str(args.data), "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--max-len", str(args.max_len)]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["kollama", "plain"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=96)
    parser.add_argument("--records", type=int, default=32)
    args = parser.parse_args()
    if args.worker:
        import resource

        result = (kollama_worker if args.worker == "kollama" else plain_worker)(args)
        result["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(result))
        return
    args.data = args.data or small_dataset(args.records)
    print(f"smollm2 LoRA SFT, {args.records} records, {args.steps} steps x batch {args.batch_size}, max-len {args.max_len}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = {side: run_side(side, args) for side in ("plain", "kollama")}
    for side, r in results.items():
        r["steps_per_second"] = round(r["steps"] / r["seconds"], 4)
        print(f"{side:8s} {r['steps_per_second']:.4f} steps/s  {r['seconds']:7.1f} s  peak {r['peak_memory_mb']:7.0f} MB"
              f"  torch threads {r['threads']}")
    ratio = results["kollama"]["steps_per_second"] / results["plain"]["steps_per_second"]
    memory = results["kollama"]["peak_memory_mb"] / results["plain"]["peak_memory_mb"]
    print(f"speed ratio kollama/plain: {ratio:.2f}x (target >= 1.0x); memory ratio: {memory:.2f}x")
    from results import record

    record("tune", f"steps/s {ratio:.2f}x plain transformers + peft, peak memory {memory:.2f}x "
           f"({args.steps} steps of smollm2 LoRA SFT)", details=results)


if __name__ == "__main__":
    main()
