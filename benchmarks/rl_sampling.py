"""Where `kollama tune rl` should sample its answers: transformers on the policy, or llama.cpp on a GGUF.

Samples the same RL step's answers (PROMPTS prompts x GROUP answers, MAX_NEW tokens, temperature 1.0) both ways
and prints wall and CPU seconds (CPU seconds stay comparable on a busy machine). llama.cpp also pays, every
step, for a GGUF of the changed weights: the script times `kollama tune export --adapter-only` of RUN (an RL
run directory) when given.

    .venv/bin/python benchmarks/rl_sampling.py [--run runs/rl] [--prompts 2] [--group 4] [--max-new 64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--max-new", type=int, default=64)
    args = parser.parse_args()

    import torch

    from kollama.engines import GenerationParams, load_engine
    from kollama.engines.llamacpp import Tokenizer
    from kollama.tune.base_model import load_model, resolve_base
    from kollama.tune.rl import RLOptions, Sampler, load_prompts
    from kollama.tune.trainer import TrainSettings, add_lora, choose_threads

    torch.set_num_threads(choose_threads())
    prompts = load_prompts(ROOT / "src" / "kollama" / "data" / "tune" / "ko_instructions.jsonl")[:args.prompts]
    base = resolve_base("smollm2")
    tokenizer = Tokenizer.vocab_only(base.path)
    sampler = Sampler(tokenizer, RLOptions(group=args.group, max_new_tokens=args.max_new), "cpu")
    model = add_lora(load_model(base, "float32"), TrainSettings()).eval()
    answers, hf_wall, hf_cpu = timed(lambda: sampler.sample(model, [sampler.prompt_ids(p) for p in prompts], seed=0))
    hf_tokens = sum(len(a) for a in answers)

    engine = load_engine(str(base.path))
    params = [GenerationParams(temperature=1.0, max_tokens=args.max_new, seed=k) for k in range(args.group)]
    outs, cpp_wall, cpp_cpu = timed(lambda: [engine.chat([{"role": "user", "content": p}], q).result()
                                             for p in prompts for q in params])
    engine.close()
    cpp_tokens = sum(o.completion_tokens for o in outs)
    result = {"answers": len(prompts) * args.group, "max_new_tokens": args.max_new,
              "transformers": {"wall_s": hf_wall, "cpu_s": hf_cpu, "tokens": hf_tokens},
              "llama_cpp": {"wall_s": cpp_wall, "cpu_s": cpp_cpu, "tokens": cpp_tokens}}
    if args.run:
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "kollama", "tune", "export", str(args.run), "--out",
                                   f"{tmp}/a.gguf", "--adapter-only"], capture_output=True, text=True)
            result["export_adapter_s"] = round(time.perf_counter() - began, 2) if proc.returncode == 0 else proc.stderr
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
