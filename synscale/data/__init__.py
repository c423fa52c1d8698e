"""Real data and the shard format: the embedded default's MNIST / scikit-learn digits
(``embedded``), ImageNet's class index (``imagenet``), webdataset shards written and read with
every failure naming the file (``shards``), the streaming DataLoader over them (``loader``) and
the manifests every job checks what it reads against (``integrity``).

May import: ``synscale.config`` and the base modules (``io``, ``logs``, ``device``,
``provenance``, ``seeds``).
"""
