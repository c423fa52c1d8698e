import numpy as np

from synscale.prompts.statistics_captioner import SIZE, SLANT, THICKNESS, caption_images, measure


def _stroke(h=16, w=16, shear=0.0, thick=1, length=10):
    img = np.zeros((h, w), dtype=np.uint8)
    for r in range(3, 3 + length):
        c = int(round(w / 2 + shear * (h / 2 - r)))
        img[r, max(0, c - thick // 2): c + (thick + 1) // 2] = 255
    return img


def test_slant_sign():
    m = measure(np.stack([_stroke(shear=0.5), _stroke(shear=-0.5), _stroke()]))
    assert m["slant"][0] > 0.2 > abs(m["slant"][2])
    assert m["slant"][1] < -0.2


def test_thickness_and_height():
    m = measure(np.stack([_stroke(thick=1), _stroke(thick=3), _stroke(length=5)]))
    assert m["thickness"][1] > m["thickness"][0]
    assert m["height"][2] < m["height"][0]


def test_captions_deterministic_and_from_vocabulary():
    imgs = np.stack([_stroke(shear=s, thick=t) for s in (-0.5, 0, 0.5) for t in (1, 2, 3)])
    a, b = caption_images(imgs), caption_images(imgs)
    assert a == b and len(a) == 9
    for cap in a:
        parts = cap.split(", ")
        assert parts[0].split()[0] in THICKNESS
        assert parts[1] in SLANT
        assert parts[2] in SIZE
    assert "leaning right" in a[-1] and "leaning left" in a[0]
