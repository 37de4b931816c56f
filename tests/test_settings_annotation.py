"""Cost and annotation settings are part of the one Settings object, with the old imports kept."""

import pytest

from stream_al.annotation.base import AnnotationSettings as FromAnnotation
from stream_al.config import AnnotationSettings, ConfigError, CostSettings, Settings
from stream_al.select.cost import CostSettings as FromCost


def test_settings_carry_cost_annotation_and_the_expert_topic():
    s = Settings.load(cost={"unit": "minutes", "amount": 2.0},
                      annotation={"annotators_per_item": 2, "learn_from": "labels"})
    assert s.cost.unit == "minutes" and s.cost.amount == 2.0
    assert s.annotation.annotators_per_item == 2 and s.annotation.learn_from == "labels"
    assert s.kafka.topics.expert == "stream-al.expert"
    assert Settings().annotation.learn_from == "verdicts"  # adjudicated labels by default


def test_environment_reaches_the_nested_settings(monkeypatch):
    monkeypatch.setenv("STREAM_AL_COST__UNIT", "money")
    monkeypatch.setenv("STREAM_AL_ANNOTATION__GOLD_FRACTION", "0.1")
    s = Settings.load()
    assert s.cost.unit == "money" and s.annotation.gold_fraction == 0.1


def test_old_import_paths_name_the_same_classes():
    assert FromCost is CostSettings and FromAnnotation is AnnotationSettings


def test_a_cap_below_the_annotators_asked_for_names_the_fix():
    with pytest.raises(ConfigError, match="raise it or lower the others"):
        Settings.load(annotation={"gold_annotators": 7, "max_annotators": 5})
