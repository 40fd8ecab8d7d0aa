"""The course's settings (attnlab.settings): read when asked, so a variable set in a notebook or a test counts
from the next call on; an override lasts as long as its `with` and never touches the user's environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnlab import settings
from attnlab.models import preset
from attnlab.tasks.rationale import make_rationale_task
from attnlab.zoo import cached_model
from attnlab.zoo.shipped import trained_from_scratch


def test_each_setting_follows_the_environment_at_call_time(tmp_path, monkeypatch):
    for name in (settings.CACHE_DIR_ENV, settings.CHECKPOINTS_ENV, settings.RETRAIN_ENV, settings.CHROMIUM_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(settings.RECORDING_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings.cache_dir() == tmp_path / "home" / ".cache" / "attnlab"
    assert settings.use_shipped_checkpoints() and not settings.recording() and not settings.retrain_all()
    assert settings.chromium() == Path("/usr/bin/chromium")

    monkeypatch.setenv(settings.CACHE_DIR_ENV, str(tmp_path / "models"))
    monkeypatch.setenv(settings.CHECKPOINTS_ENV, "own")
    monkeypatch.setenv(settings.RECORDING_ENV, "1")
    monkeypatch.setenv(settings.RETRAIN_ENV, "all")
    monkeypatch.setenv(settings.CHROMIUM_ENV, str(tmp_path / "chrome"))
    assert settings.cache_dir() == tmp_path / "models"
    assert not settings.use_shipped_checkpoints() and settings.recording() and settings.retrain_all()
    assert settings.chromium() == tmp_path / "chrome"

    monkeypatch.setenv(settings.CACHE_DIR_ENV, "")  # `export ATTNLAB_CACHE_DIR=` means the default
    assert settings.cache_dir() == tmp_path / "home" / ".cache" / "attnlab"
    monkeypatch.setenv(settings.CACHE_DIR_ENV, "~/models")  # quoted in a shell, or set in Python
    assert settings.cache_dir() == tmp_path / "home" / "models"


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("ATTNLAB_CHECKPOINTS", "mine", "ATTNLAB_CHECKPOINTS must be 'shipped' or 'own', got 'mine'"),
        ("ATTNLAB_RETRAIN", "everything", "ATTNLAB_RETRAIN must be 'all', got 'everything'"),
    ],
)
def test_a_misspelt_choice_is_refused_with_the_variable_and_its_values(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    read = settings.use_shipped_checkpoints if name == settings.CHECKPOINTS_ENV else settings.retrain_all
    with pytest.raises(ValueError, match=says):
        read()


def test_an_override_wins_while_it_lasts_and_leaves_the_environment_alone(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.CACHE_DIR_ENV, str(tmp_path / "users"))
    monkeypatch.delenv(settings.CHECKPOINTS_ENV, raising=False)
    environment = dict(os.environ)
    with settings.overridden(cache_dir=tmp_path / "scratch", checkpoints="own"):
        assert settings.cache_dir() == tmp_path / "scratch" and not settings.use_shipped_checkpoints()
        with settings.overridden(checkpoints="shipped"):  # nested: only what it names changes
            assert settings.cache_dir() == tmp_path / "scratch" and settings.use_shipped_checkpoints()
        assert not settings.use_shipped_checkpoints()
        assert dict(os.environ) == environment
        # a process started meanwhile has the user's settings, not the override
        child = "from attnlab import settings; print(settings.cache_dir(), settings.use_shipped_checkpoints())"
        shown = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout
        assert shown.split() == [str(tmp_path / "users"), "True"]
    assert settings.cache_dir() == tmp_path / "users" and settings.use_shipped_checkpoints()
    with pytest.raises(RuntimeError), settings.overridden(cache_dir=tmp_path / "scratch"):
        raise RuntimeError("a failed run")
    assert settings.cache_dir() == tmp_path / "users"
    with pytest.raises(ValueError, match="checkpoints must be 'shipped' or 'own', got 'mine'"):
        with settings.overridden(checkpoints="mine"):
            pass


def test_retraining_from_scratch_trains_into_its_scratch_folder_not_the_users_cache(tmp_path, monkeypatch):
    # what `make checkpoints` relies on: nothing shipped or cached is loaded, nothing lands in the user's cache
    monkeypatch.setenv(settings.CACHE_DIR_ENV, str(tmp_path / "users"))
    train, test = make_rationale_task(12, seed=0).split(8)
    cfg = preset("one-layer", vocab_size=50, max_len=16)
    build = lambda model: {"accuracy": 1.0}  # noqa: E731
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "trained"
    assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "cache"
    with trained_from_scratch() as scratch:
        assert cached_model("demo", {"seed": 0}, cfg, train, test, build).source == "trained"
        assert len(list(scratch.glob("demo-*.pt"))) == 1
        assert os.environ[settings.CACHE_DIR_ENV] == str(tmp_path / "users")
    assert not scratch.exists()
    assert len(list((tmp_path / "users").glob("demo-*.pt"))) == 1
