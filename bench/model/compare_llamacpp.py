#!/usr/bin/python3
"""Side-by-side timing of `ecpo generate` and llama.cpp (llbench) on the same ~102M model, the issue #14 figures:
prefill and decode tok/s in f32 and bf16 at 1 and 2 threads (so the 1 -> 2 thread scaling), a 2,000-token prefill, and
the process overhead of ecpo (wall - prefill - decode of a 1-token generate). Engines alternate within each round and
the order rotates; medians with (min-max). Optional: a baseline ecpo binary (e.g. the main branch's) measured beside.

Needs the llama.cpp work dir from ../shared/bench/llamacpp/setup.sh ($LLAMABENCH_DIR, default $TMPDIR/llamabench:
node_modules with the prebuilt libraries, build/llbench, small/ and small-{f32,bf16}.gguf).
The build machines are shared; --rt runs every measured process under `chrt -f 10` (SCHED_FIFO, root only), which
keeps the other processes off the two cores for those few seconds — without it, 2-thread figures under a load
average of 7 are mostly the scheduler's.

Usage: /usr/bin/python3 bench/model/compare_llamacpp.py --ecpo BUILD/tools/ecpo/ecpo [--baseline OTHER_ECPO]
           [--rounds 3] [--rt] [--long 2000] [--kernels avx2] [WORK_DIR]
"""
import json
import os
import statistics
import subprocess
import sys
import time

args = sys.argv[1:]
ECPO, BASE, ROUNDS, RT, LONG, KERNELS, WORK = None, None, 3, False, 2000, None, None
i = 0
while i < len(args):
    a = args[i]
    if a == "--ecpo":
        ECPO = args[i + 1]; i += 2
    elif a == "--baseline":
        BASE = args[i + 1]; i += 2
    elif a == "--rounds":
        ROUNDS = int(args[i + 1]); i += 2
    elif a == "--rt":
        RT = True; i += 1
    elif a == "--long":
        LONG = int(args[i + 1]); i += 2
    elif a == "--kernels":
        KERNELS = args[i + 1]; i += 2
    else:
        WORK = a; i += 1
if not ECPO:
    raise SystemExit("--ecpo PATH is required")
WORK = WORK or os.environ.get("LLAMABENCH_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "llamabench"))
LIB = os.path.join(WORK, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")
LLB = os.path.join(WORK, "build/llbench")
HF = os.path.join(WORK, "small")
V = json.load(open(os.path.join(HF, "config.json")))["vocab_size"]
ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
if KERNELS:
    ENV["ECPO_KERNELS"] = KERNELS
GEN = 64


def ids(n):
    return ",".join(str((i * 7919 + 13) % (V - 16)) for i in range(n))


def run(cmd):
    if RT:
        cmd = ["chrt", "-f", "10"] + cmd
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    wall = (time.monotonic() - t0) * 1000
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])}... failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1]), wall


def llama(dtype, threads, prompt, gen):
    j, _ = run([LLB, "--model", os.path.join(WORK, f"small-{dtype}.gguf"), "--libdir", LIB, "--threads", str(threads),
                "--prompt", str(prompt), "--gen", str(gen), "--reps", "2", "--warmup", "0"])
    warm = j["reps"][1]  # the second rep: llama.cpp warm (its first is comparable to a fresh process)
    return {"prefill": warm["prefill_tps"], "decode": warm["decode_tps"], "prefill_ms": warm["prefill_ms"]}


def ecpo(binary, dtype, threads, prompt, gen):
    j, wall = run([binary, "generate", "--model", HF, "--dtype", "float32" if dtype == "f32" else "bfloat16",
                   "--threads", str(threads), "--ids", ids(prompt), "--max-tokens", str(gen), "--json"])
    n = j["completion_tokens"]
    return {"prefill": j["prompt_tokens"] / (j["prefill_ms"] / 1000),
            "decode": (n - 1) / (j["decode_ms"] / 1000) if n > 1 else float("nan"),
            "prefill_ms": j["prefill_ms"], "overhead_ms": wall - j["prefill_ms"] - j["decode_ms"]}


engines = [("llama.cpp", None), ("ecpo", ECPO)] + ([("ecpo-baseline", BASE)] if BASE else [])
configs = [(e, b, dt, t) for dt in ("f32", "bf16") for t in (1, 2) for e, b in engines]
results = {}
loads = []
for r in range(ROUNDS):
    order = configs[r % len(configs):] + configs[:r % len(configs)]
    for e, b, dt, t in order:
        loads.append(float(open("/proc/loadavg").read().split()[0]))
        res = llama(dt, t, 128, GEN) if e == "llama.cpp" else ecpo(b, dt, t, 128, GEN)
        results.setdefault((e, dt, t), []).append(res)
        print(json.dumps({"round": r, "engine": e, "dtype": dt, "threads": t, **res}), file=sys.stderr, flush=True)
    if LONG > 0:
        for e, b in engines:
            for dt in ("f32", "bf16"):
                res = llama(dt, 2, LONG, 8) if e == "llama.cpp" else ecpo(b, dt, 2, LONG, 8)
                results.setdefault((e, dt, "long"), []).append(res)
                print(json.dumps({"round": r, "engine": e, "dtype": dt, "long": LONG, **res}), file=sys.stderr, flush=True)
    # process overhead of a 1-token generate (ecpo only)
    for e, b in engines[1:]:
        res = ecpo(b, "f32", 2, 3, 1)
        results.setdefault((e, "f32", "overhead"), []).append(res)
        res = ecpo(b, "bf16", 2, 3, 1)
        results.setdefault((e, "bf16", "overhead"), []).append(res)

med = lambda xs: statistics.median(xs)


def cell(xs, prec=1):
    xs = [x for x in xs if x == x]
    return f"{med(xs):.{prec}f} ({min(xs):.{prec}f}–{max(xs):.{prec}f})" if xs else "–"


print(f"rounds={ROUNDS}, prompt 128, {GEN} new tokens, greedy{', under chrt -f 10' if RT else ''}"
      f"{', ECPO_KERNELS=' + KERNELS if KERNELS else ''}; medians (min–max); load average before runs "
      f"{min(loads):.2f}–{max(loads):.2f}\n")
print("| engine | dtype | threads | prefill tok/s | decode tok/s |")
print("|---|---|---|---|---|")
for e, _ in engines:
    for dt in ("f32", "bf16"):
        for t in (1, 2):
            rs = results[(e, dt, t)]
            print(f"| {e} | {dt} | {t} | {cell([x['prefill'] for x in rs])} | {cell([x['decode'] for x in rs])} |")
print()
for dt in ("f32", "bf16"):
    L2, E2 = results[("llama.cpp", dt, 2)], results[("ecpo", dt, 2)]
    E1 = results[("ecpo", dt, 1)]
    L1 = results[("llama.cpp", dt, 1)]
    print(f"- {dt}: ecpo / llama.cpp at 2 threads: prefill {med([x['prefill'] for x in E2]) / med([x['prefill'] for x in L2]):.2f}x, "
          f"decode {med([x['decode'] for x in E2]) / med([x['decode'] for x in L2]):.2f}x; "
          f"1 -> 2 threads prefill: ecpo {med([x['prefill'] for x in E2]) / med([x['prefill'] for x in E1]):.2f}x, "
          f"llama.cpp {med([x['prefill'] for x in L2]) / med([x['prefill'] for x in L1]):.2f}x")
if LONG > 0:
    print(f"\n{LONG}-token prefill, 2 threads:\n")
    print("| engine | dtype | time s | tok/s |")
    print("|---|---|---|---|")
    for e, _ in engines:
        for dt in ("f32", "bf16"):
            rs = results[(e, dt, "long")]
            print(f"| {e} | {dt} | {cell([x['prefill_ms'] / 1000 for x in rs], 2)} | {cell([x['prefill'] for x in rs])} |")
print("\nprocess overhead of a 1-token `ecpo generate` (wall − prefill − decode), 2 threads:\n")
for e, _ in engines[1:]:
    for dt in ("f32", "bf16"):
        rs = results[(e, dt, "overhead")]
        print(f"- {e} {dt}: {cell([x['overhead_ms'] for x in rs], 0)} ms")
