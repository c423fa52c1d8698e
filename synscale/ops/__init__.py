"""Operating the grid on a shared cluster: what it costs, how far along it is, what failed.

Owns: asking Snakemake what it would run (``dryrun``: ``snakemake -n`` parsed job by job, with
inputs, outputs, log, benchmark and resources), the cost model (``cost``: a job's work units, its
GPUs and the rates of the config's ``cost:`` table), the ledger of jobs that ran (``ledger``:
Snakemake's benchmark files joined with each job's JSON record), the planner (``plan``: GPU-hours
per rule and run and the makespan on N GPUs of the pending jobs) and the status of a workspace
(``status``: per run, scales done / running / pending / failed; running jobs from SLURM's squeue).
Built on Snakemake's and SLURM's own mechanisms; nothing here schedules a job.

May import: ``synscale.config``, ``synscale.data`` (the supervised child process of
``synscale.data.audit``), ``synscale.io`` (and the standard library). The report's figures of
the ledger are ``synscale.report.cost``; the rule's step is ``synscale.steps.ledger``.
"""
