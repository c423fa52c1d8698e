"""README (Configuration): the timm model checks that passed are cached in
``$XDG_CACHE_HOME/synscale/model-checks.json`` (else ``~/.cache``) per timm and torch version; a
check that failed is never cached, so it runs again and says why every time."""
import json

import pytest

from synscale.config import models as M


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(M, "_MODEL_CHECKS", {})
    return tmp_path / "xdg" / "synscale" / "model-checks.json"


def test_a_passed_check_is_cached_under_xdg_cache_home_and_reused(cache, monkeypatch):
    assert M._timm_error("classifier", "resnet10t", {}, 1, 28) is None
    keys = json.loads(cache.read_text())
    assert len(keys) == 1 and json.loads(keys[0])[:4] == ["resnet10t", "{}", 1, 28]
    # a new process (empty memory) takes the cached verdict without building the model
    monkeypatch.setattr(M, "_MODEL_CHECKS", {})
    import timm

    def no_build(*a, **k):
        raise AssertionError("the model was built again")

    monkeypatch.setattr(timm, "create_model", no_build)
    assert M._timm_error("classifier", "resnet10t", {}, 1, 28) is None


def test_a_failed_check_is_not_cached(cache):
    err = M._timm_error("classifier", "no_such_net", {}, 1, 28)
    assert err == "config key 'classifier.arch': timm has no model 'no_such_net'; see timm.list_models()"
    assert not cache.exists()


def test_a_read_only_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the directory should be
    monkeypatch.setattr(M, "_MODEL_CHECKS", {})
    assert M._timm_error("classifier", "resnet10t", {}, 1, 28) is None
