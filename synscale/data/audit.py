"""The workspace as Snakemake sees it, for the audit (``python -m synscale.verify``) and the
Snakefile's hooks.

* ``parse_plan``: the jobs of a ``snakemake -n`` (rule, outputs, reason) and whether the workspace
  is locked; ``explained``: which pending jobs the damaged files account for (their own rebuild,
  or downstream of it), so that anything else pending is named as other work;
* ``run_tied``: a child command (snakemake) that dies with its parent: it runs in its own process
  group under a small supervisor (``python -m synscale.data.audit --tie PID -- CMD``) that stops
  the whole group (SIGINT, as Ctrl-C would: running jobs end, the lock is released) when the
  parent dies, even by SIGKILL, or is interrupted;
* ``before_run`` (onstart) and ``stopped`` (onerror): SLURM's tools present when the run goes
  through the slurm executor; no input a job of the run would read differs from its manifest,
  checked before any job starts; a run stopped by SIGTERM said to be that, not a failure.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from synscale.data.integrity import before_run as damaged_message
from synscale.data.integrity import damaged_inputs

NOTHING = "Nothing to be done"
LOCKED = "Directory cannot be locked"
SLURM_TOOLS = ("sbatch", "squeue", "sacct")


# ---------------------------------------------------------------- the plan of a dry run
@dataclass(frozen=True)
class Job:
    rule: str
    outputs: tuple[str, ...] = ()
    reason: str = ""
    wildcards: str = ""

    def describe(self, limit: int = 3) -> str:
        outs = ", ".join(self.outputs[:limit]) + (f" and {len(self.outputs) - limit} more" if len(self.outputs) > limit
                                                  else "")
        return f"{self.rule}" + (f" -> {outs}" if outs else "") + (f"  [{self.reason}]" if self.reason else "")


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    locked: bool = False
    nothing_to_do: bool = False


_HEADER = re.compile(r"^(\s*)(?:local)?(?:rule|checkpoint) ([A-Za-z_][\w]*):$")  # indented inside a group job


def job_blocks(text: str) -> list[dict[str, str]]:
    """Each job a ``snakemake -n`` printed, in order, as {"rule": name, key: value} of its lines
    (``input:``, ``output:``, ``log:``, ``jobid:``, ``benchmark:``, ``reason:``, ``wildcards:``,
    ``resources:``; a key without a value maps to ""). The jobs of a group job are printed indented
    under it and read the same way. The one reader of a dry run's text: the audit's ``parse_plan``
    and the planner's ``synscale.ops.dryrun.parse`` build on it."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] | None = None
    body = "    "
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            cur, body = {"rule": m.group(2)}, m.group(1) + "    "
            blocks.append(cur)
            continue
        inside = line.startswith(body) and line[len(body):len(body) + 1] not in ("", " ", "\t")
        if cur is not None and inside and ": " in line:
            key, value = line.strip().split(": ", 1)
            cur.setdefault(key, value)
        elif cur is not None and inside and line.strip().endswith(":"):
            cur.setdefault(line.strip()[:-1], "")
        elif cur is not None:
            cur = None
    return blocks


def parse_plan(text: str) -> Plan:
    """The jobs a ``snakemake -n`` printed (rule, outputs, reason, wildcards), and whether it said
    the workspace is locked or that there is nothing to do."""
    return Plan(jobs=[Job(b["rule"], tuple(b["output"].split(", ")) if b.get("output") else (), b.get("reason", ""),
                          b.get("wildcards", "")) for b in job_blocks(text)],
                locked=LOCKED in text, nothing_to_do=NOTHING in text)


def _names(text: str, known: set[str]) -> list[str] | None:
    """The file names of a comma-separated list, all of them in ``known`` (names may hold ', '), or
    None when the list holds a name not in ``known``."""
    out, cur = [], None
    for tok in text.split(", "):
        cur = tok if cur is None else f"{cur}, {tok}"
        if cur in known:
            out.append(cur)
            cur = None
    return out if cur is None else None


def explained(jobs: Sequence[Job], bad: Iterable[str]) -> tuple[list[Job], list[Job]]:
    """(explained, other): pending jobs the ``bad`` files (missing or damaged) account for, whose
    reasons are only "Missing output files" / "Updated input files" naming bad files, or "Input
    files updated by another job" naming outputs of explained jobs; and every other pending job
    (a changed config, code or input, a new target), which a repair must leave to snakemake."""
    bad = set(bad)
    producer = {o: j for j in jobs for o in j.outputs}
    known = bad | set(producer)
    memo: dict[Job, bool] = {}

    def ok(job: Job) -> bool:
        if job in memo:
            return memo[job]
        memo[job] = False
        result = bool(job.reason)
        for seg in job.reason.split("; "):
            kind, _, files = seg.partition(": ")
            names = _names(files, known) if files else None
            if kind in ("Missing output files", "Updated input files"):
                result = result and names is not None and set(names) <= bad
            elif kind == "Input files updated by another job":
                result = result and names is not None and all(n in producer and ok(producer[n]) for n in names)
            else:
                result = False
        memo[job] = result
        return result

    yes = [j for j in jobs if ok(j)]
    return yes, [j for j in jobs if not memo[j]]


# ---------------------------------------------------------------- children that die with their parent
def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def run_tied(cmd: Sequence[str], capture: bool = False) -> subprocess.CompletedProcess:
    """Run ``cmd`` (as subprocess.run) so that it and everything it starts stop when this process
    dies or is interrupted: under the supervisor ``python -m synscale.data.audit --tie``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    sup = [sys.executable, "-m", "synscale.data.audit", "--tie", str(os.getpid()), "--", *cmd]
    pipe = subprocess.PIPE if capture else None
    sys.stdout.flush()  # what was printed comes before the child's output
    with subprocess.Popen(sup, stdout=pipe, stderr=pipe, text=True, env=env) as proc:
        try:
            out, err = proc.communicate()
        except KeyboardInterrupt:  # the supervisor got it too and is stopping its group: let it finish
            proc.wait()
            raise
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _stop_group(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """Stop ``proc``'s process group (snakemake and its jobs): SIGINT (Snakemake cancels its jobs
    and releases its lock), then SIGTERM, then SIGKILL for what is left."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + wait
        while time.time() < deadline:
            proc.poll()  # reap the leader, so that its group can be seen to be empty
            if not _group_alive(proc.pid):
                break
            time.sleep(0.1)
        else:
            continue
        break
    proc.poll()


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """SIGINT handled again (a command started in the background by a shell ignores it, and so
    would snakemake and its jobs), and, on Linux, SIGINT to the child when the supervisor itself
    dies (best effort)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def tie(parent: int, cmd: Sequence[str], poll: float = 0.5) -> int:
    """The supervisor: run ``cmd`` in a new process group and stop the group when ``parent`` (the
    process that started this one) is gone, or on SIGINT / SIGTERM; ``cmd``'s exit status."""
    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    proc = subprocess.Popen(list(cmd), start_new_session=True, preexec_fn=_child_setup)
    try:
        while True:
            try:
                return proc.wait(timeout=poll)
            except subprocess.TimeoutExpired:
                if os.getppid() != parent:
                    print(f"synscale: process {parent}, which started `{' '.join(cmd)[:200]}`, ended; stopping it",
                          file=sys.stderr, flush=True)
                    _stop_group(proc)
                    return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        _stop_group(proc)
        return 128 + signal.SIGINT


# ---------------------------------------------------------------- the Snakefile's hooks
def slurm_missing(executor: str | None, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The error for a run through the slurm executor where SLURM's tools are not on PATH."""
    if executor != "slurm":
        return None
    missing = [t for t in SLURM_TOOLS if which(t) is None]
    if not missing:
        return None
    return (f"SLURM is not installed or not on PATH ({'/'.join(missing)} not found): install it (or put its "
            "bin directory on PATH), or run without --profile slurm")


def before_run(workflow) -> str | None:
    """onstart (a real run, before any job starts): why the run must not start, or None."""
    plugin = getattr(workflow, "executor_plugin", None)
    why = slurm_missing(getattr(plugin, "name", None))
    if why or workflow.touch:
        return why
    jobs = list(workflow.dag.needrun_jobs())
    made = [str(f) for j in jobs for f in j.output]
    t0 = time.time()
    problems = damaged_inputs(((map(str, j.input), _manifests(j)) for j in jobs), made)
    if time.time() - t0 > 30:
        print(f"synscale: inputs checked against their manifests in {time.time() - t0:.0f}s", file=sys.stderr)
    if not problems:
        return None
    here = os.getcwd()
    directory = None if os.path.samefile(here, workflow.workdir_init) else here
    return damaged_message(problems, [str(f) for f in workflow.overwrite_configfiles or ()], directory)


def _manifests(job) -> list[str]:
    m = job.input.get("manifests")
    return [] if m is None else [str(m)] if isinstance(m, str) else [str(x) for x in m]


def stopped(workflow) -> str | None:
    """onerror: the message for a run stopped by SIGTERM in which no job failed (Snakemake's own,
    "At least one job did not complete successfully", reads as a failure), or None."""
    sched = getattr(workflow, "scheduler", None)
    if sched is None or getattr(sched, "_user_kill", None) != "graceful":
        return None
    if sched.failed or getattr(sched, "_errors", False):
        return None
    dag = workflow.dag
    done = sum(1 for j in dag.needrun_jobs(exclude_finished=False) if dag.finished(j))
    left = len(sched.remaining_jobs)
    return (f"snakemake was stopped by SIGTERM: no job failed; the jobs that were running finished and kept "
            f"their outputs ({done} job(s) done) and {left} job(s) were not started. Run the same command again "
            "to finish them.")


def _main(argv: Sequence[str]) -> int:
    if len(argv) >= 4 and argv[0] == "--tie" and argv[2] == "--":
        return tie(int(argv[1]), argv[3:])
    print("usage: python -m synscale.data.audit --tie PARENT_PID -- COMMAND ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
