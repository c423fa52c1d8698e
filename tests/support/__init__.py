"""Helpers shared by the test suite (not tests themselves; pytest collects nothing here).

* ``repo``: the repository's paths (ROOT, the test configs) and the helpers that run Snakemake and
  other subprocesses on it with this checkout first on PYTHONPATH;
* ``assets``, ``assets_families``, ``assets_quality``: the offline miniature inputs (webdataset
  shards, tiny randomly initialised models, weight files) that the paper-shaped tests run on;
* ``dag``: the workflow's DAG built in-process through Snakemake's API (no job runs);
* ``browser``: headless Chromium for the test that opens the built report;
* ``spy_worker``: the training jobs' worker with the loader stream spied on (which samples each
  process reads), for ``tests/workflow/test_distributed.py``.

Tests import them as ``from support.assets import ...`` (``tests/conftest.py`` puts ``tests/``
on ``sys.path``).
"""
