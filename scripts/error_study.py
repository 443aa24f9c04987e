"""Measures the distribution of every error the fresh-seed tests compare with a tolerance, over many seeds,
so that each tolerance can be set from the errors' measured tail rather than from one run.

Runs the selected tests ARL2_SEED_REPEAT times, each with its own seed (tests/python/conftest.py), collects
every rel_err they compute, and prints, per test and per error (its place among the test's rel_err calls),
the count, median, 99th percentile and maximum, with the seed of the maximum; writes the same as JSON.

    python3 scripts/error_study.py --repeat 200 -k "test_matches_naive and cpu and fp32" --json errors.json
    python3 scripts/error_study.py --scan --repeat 2000 --device cpu --json scan.json

--scan measures gdn_block_scan's case table in this process against the float64 op instead of the float64
token loop (9 s a seed at T = 4680; the op takes a fraction of that, and agrees with the loop to 1e-12, which
the first seeds check): the same inputs, outputs and gradients as test_matches_naive, thousands of seeds.

Offline: not part of the test command. A tolerance should stand well above the maximum over thousands of
seeds (the comment beside it says by how much); a long tail (a maximum far above the 99th percentile) says
the computation, not the tolerance, needs the fix.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_tests(repeat, selection, log, extra):
    env = dict(os.environ, ARL2_SEED_REPEAT=str(repeat), ARL2_ERROR_LOG=str(log), PYTHONPATH=str(ROOT / "python"))
    env.pop("ARL2_TEST_SEED", None)  # every repetition draws its own seed
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tests/python"), "-q", "-p", "no:cacheprovider", "-k", selection]
    return subprocess.run(cmd + extra, env=env, cwd=ROOT).returncode


def without_repetition(test):
    """The test's id without the repetition's "seedN" parameter."""
    match = re.fullmatch(r"(.*)\[(.*)\]", test)
    if not match:
        return test
    params = [p for p in match.group(2).split("-") if not re.fullmatch(r"seed\d+", p)]
    return match.group(1) + (f"[{'-'.join(params)}]" if params else "")


def summarise(log):
    errors = defaultdict(list)  # (test without its repetition index, index) -> [(error, seed)]
    for line in Path(log).read_text().splitlines():
        r = json.loads(line)
        errors[(without_repetition(r["test"]), r["index"])].append((r["error"], r["seed"]))
    return [row(test, index, values) for (test, index), values in sorted(errors.items())]


def scan_study(repeat, device, selection):
    """gdn_block_scan's errors over the case table (the cases whose id holds every word of `selection`), against
    the float64 op, `repeat` seeds a case and layout."""
    sys.path.insert(0, str(ROOT / "tests/python"))
    sys.path.insert(0, str(ROOT / "python"))
    import torch
    import test_gdn_block_scan as t
    from conftest import CASES

    def float64_op(x, block_len):
        return t.scan(x, block_len)

    rows = []
    for case in CASES:
        if selection and not all(word in str(case) for word in selection.split()):
            continue
        for layout in ("contiguous", "strided"):
            errors = defaultdict(list)
            for i in range(repeat):
                seed = int.from_bytes(os.urandom(4), "little")
                if i < 3:  # the faster reference is the token loop's equal
                    torch.manual_seed(seed)
                    fast = t.scan_errors(case, "cpu", "contiguous", float64_op)
                    torch.manual_seed(seed)
                    loop = t.scan_errors(case, "cpu", "contiguous")
                    assert all(abs(fast[n] - loop[n]) <= 1e-9 * max(1.0, loop[n]) + 1e-12 for n in loop), (fast, loop)
                torch.manual_seed(seed)
                for name, err in t.scan_errors(case, device, layout, float64_op).items():
                    errors[name].append((err, seed))
            for name, values in errors.items():
                rows.append(row(f"test_matches_naive[{device}-{layout}-{case}]", name, values))
            print(f"{device}-{layout}-{case}: " + ", ".join(f"{r['index']} {r['max']:.2e}" for r in rows[-len(errors):]))
    return rows


def row(test, index, values):
    errs = sorted(e for e, _ in values)
    worst, worst_seed = max(values)
    return {
        "test": test,
        "index": index,
        "count": len(errs),
        "median": statistics.median(errs),
        "p99": errs[min(len(errs) - 1, int(0.99 * len(errs)))],
        "max": worst,
        "max_seed": worst_seed,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1000, help="seeds per test (default 1000)")
    parser.add_argument(
        "-k", dest="selection", help="pytest -k expression selecting the tests (with --scan: words of the case ids)"
    )
    parser.add_argument("--scan", action="store_true", help="gdn_block_scan's case table in process (see above)")
    parser.add_argument("--device", default="cpu", help="with --scan: cpu or cuda (default cpu)")
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("pytest_args", nargs="*", help="further pytest arguments (after --)")
    args = parser.parse_args()

    if args.scan:
        rc, rows = 0, scan_study(args.repeat, args.device, args.selection)
    else:
        if not args.selection:
            parser.error("-k selects the tests (or --scan)")
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "errors.jsonl"
            log.touch()
            rc = run_tests(args.repeat, args.selection, log, args.pytest_args)
            rows = summarise(log)
    print(f"{'test':<100} {'#':>6} {'n':>6} {'median':>9} {'p99':>9} {'max':>9}  seed of max")
    for r in rows:
        print(
            f"{r['test']:<100} {r['index']:>6} {r['count']:>6} {r['median']:9.2e} {r['p99']:9.2e} {r['max']:9.2e}"
            f"  {r['max_seed']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"repeat": args.repeat, "selection": args.selection, "rows": rows}, indent=1))
    return rc


if __name__ == "__main__":
    sys.exit(main())
