"""README (OOD sets): ``class_subset: timm:imagenet_a`` / ``timm:imagenet_r`` resolve to the 200
ImageNet-1k label indices of ImageNet-A and -R (the lists timm ships); a file of indices and a list
work alike; an index outside the classes or a missing file names the key."""
import pytest

from synscale.measure.ood import class_subset

KEY = "data.ood.imagenet_a.class_subset"


@pytest.mark.parametrize("spec, first", [("timm:imagenet_a", [6, 11, 13]),   # stingray, junco, American robin
                                         ("timm:imagenet_r", [1, 2, 4])])   # goldfish, great white shark, hammerhead
def test_timm_subsets_are_the_200_imagenet_indices(spec, first):
    idx = class_subset(spec, 1000, KEY)
    assert len(idx) == 200 and idx == sorted(set(idx)) and idx[:3] == first and idx[-1] < 1000


def test_the_two_timm_subsets_differ_and_do_not_fit_a_smaller_label_space():
    a, r = class_subset("timm:imagenet_a", 1000, KEY), class_subset("timm:imagenet_r", 1000, KEY)
    assert a != r and len(set(a) & set(r)) < 200
    with pytest.raises(ValueError, match=rf"config key '{KEY}': label indices .* outside the 10 classes"):
        class_subset("timm:imagenet_a", 10, KEY)


def test_a_file_or_a_list_of_indices(tmp_path):
    f = tmp_path / "idx.txt"
    f.write_text("7\n3\n3\n")
    assert class_subset(str(f), 10, KEY) == [3, 7] == class_subset([7, 3], 10, KEY)
    with pytest.raises(FileNotFoundError, match=rf"config key '{KEY}' = .*nope.txt.*not found"):
        class_subset(str(tmp_path / "nope.txt"), 10, KEY)
    f.write_text("three\n")
    with pytest.raises(ValueError, match="one integer label index per line"):
        class_subset(str(f), 10, KEY)
    assert class_subset(None, 10, KEY) is None
