"""A job reads only the configuration its rule passes it: reading a key the whole configuration has
but the rule's slice left out stops the job naming the rule and the key (a step reading
``reference_classifier.path`` from a slice without it got None and fed an external reference the
wrong normalisation); keys absent from the configuration behave as in a plain dict."""
import copy
import json
import pickle
from types import SimpleNamespace

import pytest

from synscale import config as C
from synscale.config.declared import DeclaredConfig, UndeclaredConfigKey
from synscale.steps.job import from_snakemake

FULL = {"results": "res", "seed": 0, "reference_classifier": {"arch": "resnet10t", "path": "/w/ref.pt", "amp": None}}


def _slice():
    return DeclaredConfig(C.pick(FULL, "results", "reference_classifier.arch"), FULL, rule="quality")


@pytest.mark.parametrize("read", [lambda c: c["seed"], lambda c: c.get("seed", 1), lambda c: "seed" in c,
                                  lambda c: c["reference_classifier"].get("path"),
                                  lambda c: c["reference_classifier"]["amp"],
                                  lambda c: c["reference_classifier"].setdefault("path", None),
                                  lambda c: c["reference_classifier"].pop("path", None)],
                         ids=["item", "get", "in", "nested-get", "nested-item", "setdefault", "pop"])
def test_reading_a_key_the_rule_did_not_pass_stops_the_job(read):
    with pytest.raises(UndeclaredConfigKey, match=r"rule quality reads config key '(reference_classifier\.)?"
                                                 r"(seed|path|amp)'.*Add the key to the rule's keys"):
        read(_slice())


def test_declared_keys_and_keys_nobody_has_read_as_in_a_dict():
    c = _slice()
    assert c["reference_classifier"]["arch"] == "resnet10t" and c["results"] == "res"
    assert c.get("no_such_key", 5) == 5 and "no_such_key" not in c
    with pytest.raises(KeyError):
        c["reference_classifier"]["no_such_key"]
    # it stays a dict for everything else a step does with its config
    assert json.loads(json.dumps(c)) == {"results": "res", "reference_classifier": {"arch": "resnet10t"}}
    for again in (copy.deepcopy(c), pickle.loads(pickle.dumps(c))):
        assert again == c
        with pytest.raises(UndeclaredConfigKey):
            again["reference_classifier"]["path"]


def test_every_job_gets_its_slice_checked_against_the_whole_configuration():
    named = SimpleNamespace
    smk = named(input=named(items=lambda: []), output=named(items=lambda: [("out", "o.json")]),
                params=named(items=lambda: [("config", C.pick(FULL, "results"))]), threads=1, log=[],
                resources=named(items=lambda: []), config=FULL, rule="fit")
    job = from_snakemake(smk)
    assert job.config["results"] == "res"
    with pytest.raises(UndeclaredConfigKey, match="rule fit reads config key 'seed'"):
        job.config["seed"]


def test_a_slice_in_a_checkpoint_is_stored_as_plain_values(tmp_path):
    """Checkpoints keep parts of the job's config in their metadata; they must load with
    ``weights_only=True`` (a class of ours in them would be refused as code)."""
    from collections import OrderedDict

    import torch

    from synscale.io import load_tensors, save_tensors

    c = _slice()
    save_tensors({"model": OrderedDict(w=torch.ones(2)), "meta": {"rc": c["reference_classifier"], "xs": (c, [c])}},
                 tmp_path / "m.pt")
    back = load_tensors(tmp_path / "m.pt", "a checkpoint")
    assert type(back["meta"]["rc"]) is dict and back["meta"]["rc"] == {"arch": "resnet10t"}
    assert type(back["meta"]["xs"][0]) is dict and type(back["meta"]["xs"][1][0]) is dict
    assert isinstance(back["model"], OrderedDict) and torch.equal(back["model"]["w"], torch.ones(2))
