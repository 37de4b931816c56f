"""``docs/configuration.md``: generated from the Settings model, up to date, and its YAML block
is a working configuration file that states every default."""

from __future__ import annotations

import re

from pydantic import BaseModel

from stream_al.config import Settings
from stream_al.settings_reference import DOC, settings_reference


def yaml_block() -> str:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    return block


def leaf_settings(model: type[BaseModel], path: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names += leaf_settings(kind, f"{path}{name}.")
        else:
            names.append(path + name)
    return names


def test_the_reference_on_disk_is_the_one_the_settings_generate():
    assert DOC.read_text() == settings_reference(), "regenerate: python -m stream_al.settings_reference"


def test_its_yaml_block_loads_and_states_every_default(tmp_path):
    config = tmp_path / "all.yaml"
    config.write_text(yaml_block())
    loaded, defaults = Settings.load(config), Settings.load()
    assert loaded.model_dump() == defaults.model_dump()


def test_every_setting_has_a_row_with_its_environment_variable():
    text = DOC.read_text()
    for name in leaf_settings(Settings):
        env = "STREAM_AL_" + name.replace(".", "__").upper()
        assert f"| `{name}` |" in text and f"`{env}`" in text, name


def test_the_label_policy_class_list_and_deadline_are_explained():
    text = DOC.read_text()
    for setting in ("kafka.label_policy", "kafka.label_classes", "kafka.label_deadline_s"):
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{setting}` |")]
        assert row.rstrip(" |").split("|")[-1].strip(), f"{setting} has no meaning"
