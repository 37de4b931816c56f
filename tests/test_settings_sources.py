"""Where settings come from: flags > environment variables > config file > defaults; which
config file is read; and settings that cannot change once built."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from stream_al.config import CONFIG_ENV, ConfigError, Settings, config_file

DEFAULT = Settings().budget.fraction  # 0.05
FILE, ENV, FLAG = 0.2, 0.3, 0.4


@pytest.fixture
def in_empty_dir(tmp_path, monkeypatch):
    """A working directory without ./stream-al.yaml and no config file at the user's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv("STREAM_AL_BUDGET__FRACTION", raising=False)
    return tmp_path


def write(path, fraction=FILE, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"budget": {"fraction": fraction}, **extra}))
    return path


# ---- precedence, one test per pair of sources ------------------------------------------------
def test_flags_win_over_the_environment(in_empty_dir, monkeypatch):
    monkeypatch.setenv("STREAM_AL_BUDGET__FRACTION", str(ENV))
    assert Settings.load(budget={"fraction": FLAG}).budget.fraction == FLAG


def test_flags_win_over_the_config_file(in_empty_dir):
    config = write(in_empty_dir / "run.yaml")
    assert Settings.load(config, budget={"fraction": FLAG}).budget.fraction == FLAG


def test_flags_win_over_the_defaults(in_empty_dir):
    assert Settings.load(budget={"fraction": FLAG}).budget.fraction == FLAG


def test_the_environment_wins_over_the_config_file(in_empty_dir, monkeypatch):
    config = write(in_empty_dir / "run.yaml")
    monkeypatch.setenv("STREAM_AL_BUDGET__FRACTION", str(ENV))
    assert Settings.load(config).budget.fraction == ENV


def test_the_environment_wins_over_the_defaults(in_empty_dir, monkeypatch):
    monkeypatch.setenv("STREAM_AL_BUDGET__FRACTION", str(ENV))
    assert Settings.load().budget.fraction == ENV


def test_the_config_file_wins_over_the_defaults(in_empty_dir):
    assert Settings.load(write(in_empty_dir / "run.yaml")).budget.fraction == FILE
    assert Settings.load().budget.fraction == DEFAULT


def test_sources_merge_field_by_field_within_a_section(in_empty_dir, monkeypatch):
    config = write(in_empty_dir / "run.yaml", kafka={"app_id": "from-file", "batch_max": 7})
    monkeypatch.setenv("STREAM_AL_KAFKA__APP_ID", "from-env")
    kafka = Settings.load(config, kafka={"bootstrap": "flag:9092"}).kafka
    assert (kafka.bootstrap, kafka.app_id, kafka.batch_max) == ("flag:9092", "from-env", 7)


# ---- which config file ---------------------------------------------------------------------
def test_without_a_config_file_the_defaults_apply(in_empty_dir):
    assert config_file() is None
    assert Settings.load() == Settings()


def test_stream_al_config_names_the_file_of_every_command(in_empty_dir, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(write(in_empty_dir / "elsewhere" / "prod.yaml")))
    assert Settings.load().budget.fraction == FILE


def test_a_config_flag_wins_over_stream_al_config(in_empty_dir, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(write(in_empty_dir / "env.yaml", fraction=0.6)))
    assert Settings.load(write(in_empty_dir / "flag.yaml", fraction=0.7)).budget.fraction == 0.7


def test_stream_al_config_naming_no_file_says_so(in_empty_dir, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(in_empty_dir / "typo.yaml"))
    with pytest.raises(ConfigError, match=f"{CONFIG_ENV}=.*typo.yaml names no file"):
        Settings.load()


def test_stream_al_yaml_in_the_working_directory_is_read(in_empty_dir):
    write(in_empty_dir / "stream-al.yaml")
    assert Settings.load().budget.fraction == FILE


def test_the_user_config_file_is_read_when_the_directory_has_none(in_empty_dir):
    write(in_empty_dir / "xdg" / "stream-al" / "config.yaml", fraction=0.6)
    assert Settings.load().budget.fraction == 0.6
    write(in_empty_dir / "stream-al.yaml")  # the working directory's comes first
    assert Settings.load().budget.fraction == FILE


def test_a_missing_or_malformed_config_file_is_a_config_error(in_empty_dir):
    with pytest.raises(ConfigError, match="config file .*missing.yaml does not exist"):
        Settings.load(in_empty_dir / "missing.yaml")
    (in_empty_dir / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        Settings.load(in_empty_dir / "list.yaml")


def test_a_bad_value_names_the_field_and_the_file(in_empty_dir):
    config = write(in_empty_dir / "run.yaml", fraction=1.5)
    with pytest.raises(ConfigError, match=r"budget.fraction: .*budget must be in \(0, 1\], got 1.5 "
                       r"\(config file .*run.yaml\)"):
        Settings.load(config)


# ---- immutable once built -----------------------------------------------------------------
def test_settings_cannot_change_once_built():
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.budget = settings.budget
    with pytest.raises(ValidationError, match="frozen"):
        settings.kafka.metrics_port = 0
    with pytest.raises(ValidationError, match="frozen"):
        settings.kafka.topics.texts = "other"


def test_list_and_mapping_settings_cannot_change_in_place_either():
    settings = Settings.load(cost={"task_factor": {"intent": 2.0}})
    with pytest.raises(TypeError, match="immutable once built"):
        settings.selection.bandit_arms.append("random")
    with pytest.raises(TypeError, match="immutable once built"):
        settings.cost.task_factor["intent"] = 3.0
    with pytest.raises(TypeError, match="immutable once built"):
        settings.kafka.topics.vendors += ["acme"]
    assert settings.selection.bandit_arms == ["balanced", "uncertainty"]
    assert settings.cost.task_factor == {"intent": 2.0} and settings.kafka.topics.vendors == []
    copy = settings.kafka.model_copy(update={"label_classes": ["World"]})
    with pytest.raises(TypeError, match="immutable once built"):
        copy.label_classes.append("Sports")


def test_a_changed_copy_leaves_the_original_as_it_was():
    settings = Settings()
    kafka = settings.kafka.model_copy(update={"metrics_port": 0})
    changed = settings.model_copy(update={"kafka": kafka})
    assert (changed.kafka.metrics_port, settings.kafka.metrics_port) == (0, 9464)
