"""Mutation probe: how many realistic bugs in tap_pinterest_ads/ does the fast suite catch?

    make mutate                                  # a seeded sample of 40 mutants (MUTATE_ARGS)
    .venv/bin/python -m tests.mutation.probe --sample 40 --seed 1
    .venv/bin/python -m tests.mutation.probe --modules resources.py redaction.py
    .venv/bin/python -m tests.mutation.probe --modules dates.py --tests tests/test_dates.py
    .venv/bin/python -m tests.mutation.probe --all          # every mutant: many hours
    .venv/bin/python -m tests.mutation.probe --sample 40 --seed 1 --report   # figures only

Cosmic Ray (pinned in requirements.txt) mutates files in place and runs the tests as a
subprocess, which the tests need: they run the tap and the sandbox as processes. So the probe
never touches the checkout: it mutates a copy of a commit (`git archive`, default HEAD) under
--workdir (default /tmp/tap-pinterest-ads-mutation/<commit>/), with one Cosmic Ray session per
selection there. A session resumes where it stopped: rerun the same command to finish it.
Run one probe at a time per commit (they share the copy).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkItem, WorkResult

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PACKAGE = "tap_pinterest_ads"
CONFIG = HERE / "cosmic-ray.toml"


def resolve(revision: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def fresh_tree(tree: Path, commit: str) -> None:
    """The committed files only, extracted anew: a stopped run may have left a mutant behind."""
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
    if archive.wait():
        raise SystemExit(f"git archive {commit} failed")
    # The probe's own test-ordering plugin, also for commits older than it.
    (tree / "tests" / "mutation").mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "order.py", tree / "tests" / "mutation" / "order.py")


def selection_name(args: argparse.Namespace) -> str:
    modules = "-".join(m.removesuffix(".py").replace("/", ".") for m in args.modules or ())
    parts = [f"modules-{modules}"] if modules else []
    parts += [f"tests-{len(args.tests)}"] if args.tests else []
    parts += [] if args.all else [f"sample{args.sample}-seed{args.seed}"]
    return "_".join(parts) or "all"


def write_config(args: argparse.Namespace, path: Path) -> None:
    text = CONFIG.read_text().replace("{python}", sys.executable)
    for test in args.deselect or ():
        text = text.replace(' tests"\n', f' --deselect {test} tests"\n')
    if args.tests:  # a subset: what it catches is a lower bound for the fast suite's score
        text = text.replace(' tests"\n', f' {" ".join(args.tests)}"\n')
    if args.modules:
        paths = ", ".join(f'"{PACKAGE}/{m}"' for m in args.modules)
        text = text.replace(f'module-path = "{PACKAGE}"', f"module-path = [{paths}]")
    path.write_text(text)


def cosmic_ray(tree: Path, tool: str, *argv: str) -> None:
    if subprocess.run([str(Path(sys.executable).parent / tool), *argv], cwd=tree).returncode:
        # Against the unmutated copy the suite must pass, or every mutant would count as caught.
        why = ": the fast suite fails on the unmutated commit" if argv[0] == "baseline" else ""
        raise SystemExit(f"`{tool} {argv[0]}` failed in {tree}{why}")


def position(item: WorkItem) -> tuple[str, int, int, str, int]:
    mutation = item.mutations[0]
    return (
        str(mutation.module_path),
        *mutation.start_pos,
        mutation.operator_name,
        mutation.occurrence,
    )


def keep_sample(session: Path, size: int, seed: int) -> None:
    """Skip all but a seeded sample of the pending mutants (the same sample for the same code)."""
    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sorted(db.pending_work_items, key=position)
        chosen = {
            item.job_id for item in random.Random(seed).sample(pending, min(size, len(pending)))
        }
        dropped = [item.job_id for item in pending if item.job_id not in chosen]
        db.set_multiple_results(
            dropped, WorkResult(output="not in the sample", worker_outcome=WorkerOutcome.SKIPPED)
        )


def prepare(args: argparse.Namespace, tree: Path, session: Path, config: Path) -> None:
    write_config(args, config)
    cosmic_ray(tree, "cosmic-ray", "baseline", str(config))
    cosmic_ray(tree, "cosmic-ray", "init", str(config), str(session))
    cosmic_ray(tree, "cr-filter-operators", str(session), str(config))
    if not args.all:
        keep_sample(session, args.sample, args.seed)


def changed_line(diff: str) -> str:
    def lines(sign: str) -> str:
        picked = (
            line[1:].strip()
            for line in diff.splitlines()
            if re.match(rf"\{sign}(?!\{sign}\{sign})", line)
        )
        return " ".join(line for line in picked if line)

    return f"`{lines('-')}` -> `{lines('+')}`"


def family(item: WorkItem) -> str:
    """`ReplaceComparisonOperator` for `core/ReplaceComparisonOperator_Lt_LtE`."""
    return item.mutations[0].operator_name.removeprefix("core/").split("_")[0]


def tally(pairs: list[tuple[WorkItem, WorkResult]], key: Callable[[WorkItem], str]) -> str:
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for item, result in pairs:
        counts[key(item)][0] += result.test_outcome == TestOutcome.KILLED
        counts[key(item)][1] += 1
    return ", ".join(f"{name} {k}/{n}" for name, (k, n) in sorted(counts.items()))


def report(session: Path, seconds: float | None) -> str:
    with use_db(str(session), WorkDB.Mode.open) as db:
        results = list(db.completed_work_items)
        pending = sum(1 for _ in db.pending_work_items)
    realistic = pending + sum(1 for _, r in results if r.output != "Filtered operator")
    done = [pair for pair in results if pair[1].worker_outcome != WorkerOutcome.SKIPPED]
    scored = [pair for pair in done if pair[1].test_outcome != TestOutcome.INCOMPETENT]
    killed = sum(1 for _, r in scored if r.test_outcome == TestOutcome.KILLED)
    survived = sorted(
        (pair for pair in scored if pair[1].test_outcome == TestOutcome.SURVIVED),
        key=lambda pair: position(pair[0]),
    )
    lines = [
        f"caught by the fast suite: {killed} of {len(scored)} mutants"
        + (f" ({killed / len(scored):.0%})" if scored else "")
        + f"; {len(done)} run of {realistic} in the selection"
        + (f", {len(done) - len(scored)} incompetent" if len(done) > len(scored) else "")
        + (f", {pending} pending" if pending else ""),
        "by module: " + tally(scored, lambda item: Path(item.mutations[0].module_path).name),
        "by operator: " + tally(scored, family),
    ]
    if seconds is not None and done:
        lines.append(f"{seconds / 60:.0f} min this run, about {seconds / len(done):.0f} s a mutant")
    for item, result in survived:
        mutation = item.mutations[0]
        where = f"{mutation.module_path}:{mutation.start_pos[0]}"
        operator = mutation.operator_name.removeprefix("core/")
        lines.append(f"- survived {where} {operator}: {changed_line(result.diff or '')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.probe", description=__doc__)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--sample", type=int, default=40, help="mutants drawn (default 40)")
    which.add_argument("--all", action="store_true", help="every mutant of the selection")
    parser.add_argument("--seed", type=int, default=1, help="which sample")
    parser.add_argument("--modules", nargs="+", help=f"files under {PACKAGE}/, e.g. resources.py")
    parser.add_argument("--tests", nargs="+", help="test files to run instead of the fast suite")
    parser.add_argument("--commit", default="HEAD", help="the commit to probe (default HEAD)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/tap-pinterest-ads-mutation"))
    parser.add_argument(
        "--deselect",
        action="append",
        metavar="NODEID",
        help="a test that already fails on the commit (say so with the score)",
    )
    parser.add_argument("--report", action="store_true", help="print the session's figures only")
    args = parser.parse_args(argv)

    commit = resolve(args.commit)
    base = args.workdir / commit[:12]
    tree, name = base / "tree", selection_name(args)
    session, config = base / f"{name}.sqlite", base / f"{name}.toml"
    if args.report:
        print(report(session, None))
        return 0
    fresh_tree(tree, commit)
    os.environ["MUTATION_DURATIONS"] = str(base / "durations.json")  # order.py: the baseline's
    if not session.exists():
        prepare(args, tree, session, config)
    started = time.perf_counter()
    cosmic_ray(tree, "cosmic-ray", "exec", str(config), str(session))
    text = report(session, time.perf_counter() - started)
    (base / f"{name}.md").write_text(text + "\n")
    print(text)
    print(f"session: {session} (rerun the same command to resume; --report to reread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
