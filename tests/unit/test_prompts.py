import numpy as np
import pytest

from synscale.data.embedded import DIGIT_NAMES
from synscale.prompts import sets as P

IDS = [str(i) for i in range(10)]


def test_classname():
    t = P.build_table("classname", DIGIT_NAMES, IDS)
    assert t["prompt"].tolist() == DIGIT_NAMES
    assert list(t.columns) == P.COLUMNS


@pytest.mark.parametrize("which,n", [("clip7", 7), ("clip80", 80)])
def test_clip_templates(which, n):
    t = P.build_table(which, DIGIT_NAMES, IDS)
    counts = t.groupby("class_index").size()
    assert (counts == n).all() and len(counts) == 10
    assert t["prompt"].str.contains("seven").sum() == n
    assert all(name in p for name, p in zip(t["class_name"], t["prompt"]))


def test_incap_format():
    t = P.build_table("incap", DIGIT_NAMES, IDS, labels=[7, 1], captions=["thin strokes, upright", "x"],
                      keys=["a", "b"], captioner="image_stats")
    assert "seven, thin strokes, upright" in t["prompt"].tolist()
    assert set(t["source"]) == {"image_stats:a", "image_stats:b"}


def test_unknown_and_unsupported_sets():
    with pytest.raises(ValueError, match="unknown prompt set"):
        P.build_table("nonsense", DIGIT_NAMES, IDS)
    with pytest.raises(NotImplementedError, match="word2sen"):
        P.build_table("word2sen", DIGIT_NAMES, IDS)


def test_pick_prompts_pure_and_class_correct():
    t = P.build_table("clip80", DIGIT_NAMES, IDS)
    labels = np.arange(200) % 10
    a = P.pick_prompts(t, labels, 0, "sd_cfg2_clip80", 3)
    assert a == P.pick_prompts(t, labels, 0, "sd_cfg2_clip80", 3)
    assert a != P.pick_prompts(t, labels, 0, "sd_cfg2_clip80", 4)
    assert a != P.pick_prompts(t, labels, 1, "sd_cfg2_clip80", 3)
    for lab, p in zip(labels, a):
        assert DIGIT_NAMES[lab] in p
    assert len(set(a)) > 100


def test_check_table_missing_class():
    t = P.build_table("classname", DIGIT_NAMES, IDS)
    with pytest.raises(ValueError, match=r"no prompts for classes \[9\]"):
        P.check_table(t[t.class_index < 9], 10, "x.parquet")
