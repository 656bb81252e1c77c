"""Korean fidelity baked into the model file: `kollama tune smooth` (and an ORPO export) against the base model,
and (with --runs) base, SFT, ORPO and RL runs side by side.

Targets, each printed with PASS/FAIL:
- smooth: answers with foreign-script characters, lock off, fall by >= 90% (ko-basic + LCB Korean prompts);
- orpo on smollm2 (with --orpo): fidelity with the lock off rises by >= 30 points over base;
- both: ko_grammar and kobest_copa (real KoBEST test set) accuracy within 2 points of base;
- the smoothed GGUF loads in raw llama-cpp-python and answers;
- `tune smooth` on gemma3 (262k vocabulary): under 60 s and under 2 GB extra memory (peak RSS of the
  smoothing process minus that of a process that only starts kollama).
Beside fidelity it prints naturalness (kollama compare's mean log-probability per character under a reference
model, gemma3 by default): pushing a model off foreign scripts must not make its Korean worse.

    flock /tmp/kollama-bench.lock .venv/bin/python benchmarks/bake_in.py [--models smollm2,gemma3]
        [--lcb 100] [--temperatures 0.7,1.0] [--orpo runs/orpo] [--copa-limit N] [--out bake_in.json]
        [--reference-model M | --no-naturalness] [--runs base=smollm2,sft=DIR,orpo=DIR,rl=DIR,rl-orpo=DIR]

RL targets (--runs, labels starting with `rl`): fidelity >= 95% at t=0.7 and >= 90% at t=1.0, naturalness within
0.2 nats/char of base, ko_grammar and kobest_copa within 2 points of base, no collapse by the run's guards.

Needs ../shared/realdata (LCB prompts, KoBEST COPA test); exits cleanly without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from realdata import realdata_or_exit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def timed_run(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, peak RSS in MB, process) of `python -m kollama ARGS` under GNU time."""
    with tempfile.NamedTemporaryFile(suffix=".time") as stats:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", stats.name, sys.executable, "-m", "kollama", *args],
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        wall, rss_kb = Path(stats.name).read_text().split()[-2:]
    return float(wall), int(rss_kb) / 1024, proc


def copa_file(folder: Path) -> Path:
    """The real KoBEST COPA test split in the field names kollama's kobest_copa task reads (temp file)."""
    source = realdata_or_exit("kobest", "copa_test.jsonl")
    out = folder / "copa_test.jsonl"
    with open(source, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            r = json.loads(line)
            dst.write(json.dumps({"premise": r["sentence"], "question": r["question"], "alternative_1": r["1"],
                                  "alternative_2": r["2"], "label": r["hf_label"]}, ensure_ascii=False) + "\n")
    return out


def accuracy(model: str, copa: Path, copa_limit: int | None) -> dict[str, float]:
    from kollama.console import ProgressBar
    from kollama.evaluate.runner import EvalOptions, run_eval

    with ProgressBar(transient=True) as progress:
        _, grammar, _ = run_eval(EvalOptions(model=model, tasks=["ko_grammar"]), progress.report)
        _, kobest, _ = run_eval(EvalOptions(model=model, tasks=["kobest_copa"], data=str(copa), limit=copa_limit),
                                progress.report)
    return {"ko_grammar": grammar[0].results["acc"], "kobest_copa": kobest[0].results["acc"]}


def raw_llama_cpp_answer(path: str) -> str:
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=256, verbose=False, n_threads=2)
    try:
        return llm.create_completion("### 질문:\n한국의 수도는 어디인가요?\n\n### 답변:\n", max_tokens=24,
                                     temperature=0)["choices"][0]["text"]
    finally:
        llm.close()


def summary(side: dict) -> dict:
    """A side's figures without its per-answer samples (those go to --out)."""
    return {t: {k: v for k, v in row.items() if k != "samples"} if isinstance(row, dict) else row
            for t, row in side.items()}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def nat(row: dict) -> str:
    """Naturalness (mean log-probability per character under the reference model), '-' when not scored."""
    return "-" if row.get("naturalness") is None else f"{row['naturalness']:.3f}"


def compare_runs(spec: str, prompts: list[str], copa: Path, copa_limit: int | None, temperatures: list[float],
                 max_tokens: int, reference: str | None) -> dict:
    """`--runs base=smollm2,sft=DIR,orpo=DIR,rl=DIR,rl-orpo=DIR`: every model on the same prompts and seeds, lock
    off, side by side (fidelity, naturalness, foreign-script answers, accuracy, wall time), then the RL targets
    for each label that starts with `rl` against the row labelled `base`."""
    import time

    from kollama.tune.report import model_file

    rows: dict = {}
    for item in [s for s in spec.split(",") if s]:
        label, _, ref = item.partition("=")
        began = time.perf_counter()
        model = model_file(ref or label)
        row: dict = {"model": model}
        row.update({str(t): answer_fidelity_row(model, prompts, t, max_tokens, reference) for t in temperatures})
        row["accuracy"] = accuracy(model, copa, copa_limit)
        row["wall_seconds"] = round(time.perf_counter() - began, 1)
        report = Path(ref) / "train_report.json" if ref and Path(ref).is_dir() else None
        row["guards"] = json.loads(report.read_text()).get("guards") if report and report.is_file() else None
        rows[label] = row
        print(f"   {label}: {json.dumps(summary(row), ensure_ascii=False)}", flush=True)
    labels = list(rows)
    print("\n== side by side (lock off): " + " | ".join(labels))
    for t in temperatures:
        for key in ("fidelity", "intrusion_rate"):
            print(f"   {key} t={t}: " + " | ".join(f"{rows[k][str(t)][key]:.1%}" for k in labels))
        print(f"   naturalness t={t}: " + " | ".join(nat(rows[k][str(t)]) for k in labels))
    for task in ("ko_grammar", "kobest_copa"):
        print(f"   {task}: " + " | ".join(f"{rows[k]['accuracy'][task]:.1%}" for k in labels))
    print("   wall seconds: " + " | ".join(str(rows[k]["wall_seconds"]) for k in labels))
    base = rows.get("base")
    for label in [k for k in labels if k.startswith("rl") and base]:
        row = rows[label]
        hi, lo = (row[str(t)]["fidelity"] for t in (0.7, 1.0)) if {0.7, 1.0} <= set(temperatures) else (None, None)
        if hi is not None:
            print(f"   {label}: fidelity t=0.7 {hi:.1%} (>= 95%) -> {verdict(hi >= 0.95)}; "
                  f"t=1.0 {lo:.1%} (>= 90%) -> {verdict(lo >= 0.90)}")
        for t in temperatures:
            b, r = base[str(t)].get("naturalness"), row[str(t)].get("naturalness")
            if b is not None and r is not None:
                print(f"   {label}: naturalness t={t} {b:.3f} -> {r:.3f} (within 0.2) -> {verdict(r >= b - 0.2)}")
        for task in ("ko_grammar", "kobest_copa"):
            b, r = base["accuracy"][task], row["accuracy"][task]
            print(f"   {label}: {task} {b:.1%} -> {r:.1%} (within 2 points) -> {verdict(abs(r - b) <= 0.02)}")
        if row["guards"]:
            print(f"   {label}: guards -> {'FAIL, collapsed: ' + '; '.join(row['guards']['reasons']) if row['guards']['collapsed'] else 'PASS, no collapse'}")
    return rows


def answer_fidelity_row(model: str, prompts: list[str], t: float, max_tokens: int, reference: str | None) -> dict:
    from kollama.console import ProgressBars
    from kollama.tune.report import answer_fidelity

    with ProgressBars() as progress:
        return answer_fidelity(model, prompts, t, max_tokens, reference=reference, progress=progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="smollm2,gemma3")
    parser.add_argument("--strength", default="0.5", help="one value or a comma-separated sweep (base measured once)")
    parser.add_argument("--lcb", type=int, default=100, help="LCB Korean prompts after ko-basic")
    parser.add_argument("--temperatures", default="0.7,1.0")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--copa-limit", type=int, default=None)
    parser.add_argument("--orpo", default=None, help="an ORPO run directory or exported GGUF of smollm2")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--base-from", type=Path, default=None,
                        help="--orpo: take smollm2's base row from this earlier --out JSON (same prompts, "
                             "temperatures and max tokens) instead of measuring it again")
    parser.add_argument("--runs", default=None, help="LABEL=MODEL_OR_RUN,...: side by side on the same prompts and "
                        "seeds (e.g. base=smollm2,sft=runs/sft,orpo=runs/orpo,rl=runs/rl,rl-orpo=runs/rl-orpo); "
                        "labels starting with 'rl' are checked against the RL targets")
    parser.add_argument("--reference-model", default=None, help="scores naturalness (default: compare's, gemma3)")
    parser.add_argument("--no-naturalness", action="store_true")
    args = parser.parse_args()
    lcb = realdata_or_exit("lcb", "lcb_ko.jsonl")
    from kollama.models.reference import resolve
    from kollama.tune.report import NATURALNESS_REFERENCE, bake_in_prompts, model_file

    temperatures = [float(t) for t in args.temperatures.split(",")]
    reference = None if args.no_naturalness else args.reference_model or NATURALNESS_REFERENCE
    prompts = bake_in_prompts([lcb], args.lcb)
    work = Path(tempfile.mkdtemp(prefix="bake_in-"))
    copa = copa_file(work)
    baseline_wall, baseline_rss, _ = timed_run(["--version"])
    results: dict = {"prompts": len(prompts), "temperatures": temperatures, "max_tokens": args.max_tokens,
                     "strength": args.strength, "baseline_process_rss_mb": round(baseline_rss, 1), "models": {}}
    print(f"{len(prompts)} prompts (ko-basic + {args.lcb} LCB), lock off, temperatures {temperatures}; "
          f"a process that only starts kollama peaks at {baseline_rss:.0f} MB", flush=True)
    if args.runs:
        results["runs"] = compare_runs(args.runs, prompts, copa, args.copa_limit, temperatures, args.max_tokens,
                                       reference)
    for name in [m for m in args.models.split(",") if m]:  # --models "" with --orpo: the ORPO comparison only
        out = work / f"{name}.smooth.gguf"
        wall, rss, proc = timed_run(["tune", "smooth", name, "--strength", args.strength, "--out", str(out)])
        if proc.returncode != 0:
            raise SystemExit(f"tune smooth {name} failed: {proc.stderr.strip()}")
        written = json.loads(proc.stdout)["strengths"]  # one file per strength (a sweep: FILE-sS.gguf)
        first = written[0]
        row: dict = {"smooth": {"seconds": wall, "peak_rss_mb": round(rss, 1), "extra_mb": round(rss - baseline_rss, 1),
                                "strengths": len(written), "rows_scaled": first["rows_scaled"],
                                "vocab": first["vocab_size"], "route": first["route"],
                                "output_type": first["output_type"]}}
        answer = raw_llama_cpp_answer(first["out"])
        row["raw_llama_cpp_answer"] = answer
        sides = [("base", str(resolve(name).path))] + [(f"smooth-s{w['strength']:g}", w["out"]) for w in written]
        for label, model in sides:
            row[label] = {str(t): answer_fidelity_row(model, prompts, t, args.max_tokens, reference)
                          for t in temperatures}
            print(f"   {name} {label}: {json.dumps(summary(row[label]), ensure_ascii=False)}", flush=True)
            row[label]["accuracy"] = accuracy(model, copa, args.copa_limit)
            print(f"   {name} {label} accuracy: {row[label]['accuracy']}", flush=True)
            if args.out:  # a long run keeps what it has measured so far
                args.out.write_text(json.dumps({**results, "models": {**results["models"], name: row}},
                                               ensure_ascii=False, indent=2), encoding="utf-8")
        results["models"][name] = row
        print(f"\n== {name}: tune smooth {wall:.1f} s for {len(written)} file(s), peak RSS {rss:.0f} MB "
              f"(+{rss - baseline_rss:.0f} MB), {first['rows_scaled']}/{first['vocab_size']} rows, {first['route']}")
        print(f"   raw llama-cpp-python answers: {answer.strip()[:60]!r} -> {verdict(bool(answer.strip()))}")
        for label, _ in sides[1:]:
            print(f"   -- {label}")
            for t in temperatures:
                b, s = row["base"][str(t)], row[label][str(t)]
                n_b, n_s = round(b["intrusion_rate"] * b["answers"]), round(s["intrusion_rate"] * s["answers"])
                fall = 1 - s["intrusion_rate"] / b["intrusion_rate"] if b["intrusion_rate"] else None
                row.setdefault("intrusion_fall", {}).setdefault(label, {})[str(t)] = fall
                shown = "n/a (base had none)" if fall is None else f"{fall:.0%} -> {verdict(fall >= 0.9)}"
                print(f"   t={t}: foreign-script answers {n_b}/{b['answers']} -> {n_s}/{s['answers']}: fall {shown} "
                      f"(malformed-byte answers, not a script: {b.get('malformed_answers')} -> {s.get('malformed_answers')}); "
                      f"fidelity {b['fidelity']:.1%} -> {s['fidelity']:.1%}; naturalness {nat(b)} -> {nat(s)}")
            for task in ("ko_grammar", "kobest_copa"):
                b, s = row["base"]["accuracy"][task], row[label]["accuracy"][task]
                print(f"   {task}: {b:.1%} -> {s:.1%} ({(s - b) * 100:+.1f} points) -> {verdict(abs(s - b) <= 0.02)}")
        if name == "gemma3":
            print(f"   gemma3 timing target (<60 s, <2 GB extra): {verdict(wall < 60 and rss - baseline_rss < 2048)}"
                  + ("" if len(written) == 1 else f" (for {len(written)} files)"))
    if args.orpo:
        orpo = model_file(args.orpo)
        base = str(resolve("smollm2").path)
        row = {"model": orpo}
        sides = [("base", base), ("orpo", orpo)]
        earlier = json.loads(args.base_from.read_text()) if args.base_from else results
        if "smollm2" in earlier["models"]:
            same = all(earlier[k] == results[k] for k in ("prompts", "temperatures", "max_tokens"))
            if not same:
                raise SystemExit(f"{args.base_from}: other prompts, temperatures or max tokens than this run")
            row["base"] = earlier["models"]["smollm2"]["base"]
            sides = sides[1:]
            print(f"   orpo base: smollm2's base row from {args.base_from or 'this run'}", flush=True)
        for label, model in sides:
            row[label] = {str(t): answer_fidelity_row(model, prompts, t, args.max_tokens, reference)
                          for t in temperatures}
            row[label]["accuracy"] = accuracy(model, copa, args.copa_limit)
            print(f"   orpo {label}: {json.dumps(summary(row[label]), ensure_ascii=False)}", flush=True)
        results["orpo_smollm2"] = row
        print(f"\n== ORPO on smollm2 ({orpo})")
        for t in temperatures:
            b, o = row["base"][str(t)]["fidelity"], row["orpo"][str(t)]["fidelity"]
            print(f"   t={t}: fidelity lock off {b:.1%} -> {o:.1%} ({(o - b) * 100:+.1f} points) -> {verdict(o - b >= 0.30)}; "
                  f"foreign-script answers {row['base'][str(t)]['intrusion_rate']:.1%} -> "
                  f"{row['orpo'][str(t)]['intrusion_rate']:.1%}; "
                  f"naturalness {nat(row['base'][str(t)])} -> {nat(row['orpo'][str(t)])}")
        for task in ("ko_grammar", "kobest_copa"):
            b, o = row["base"]["accuracy"][task], row["orpo"]["accuracy"][task]
            print(f"   {task}: {b:.1%} -> {o:.1%} ({(o - b) * 100:+.1f} points) -> {verdict(abs(o - b) <= 0.02)}")
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"\nwritten: {args.out}")
    from results import record  # benchmarks/results.py (this function's `results` is a dict)

    falls = [f"{name} {label}: " + ", ".join(f"t={t} {'n/a' if f is None else f'{f:.0%}'}" for t, f in by_t.items())
             for name, row in results["models"].items() for label, by_t in row.get("intrusion_fall", {}).items()]
    figure = "foreign-script answers, lock off, fall by " + "; ".join(falls)
    if "orpo_smollm2" in results:
        row = results["orpo_smollm2"]
        figure += "; ORPO on smollm2: fidelity " + ", ".join(
            f"t={t} {row['base'][str(t)]['fidelity']:.1%} -> {row['orpo'][str(t)]['fidelity']:.1%}" for t in temperatures)
    record("bake-in", figure)
    shutil.rmtree(work, ignore_errors=True)  # the smoothed GGUFs (a few hundred MB for gemma3)


if __name__ == "__main__":
    main()
