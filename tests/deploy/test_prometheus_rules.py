"""The recording and alerting rules in ``deploy/prometheus/rules.yml``, checked by the real
``promtool`` (Debian's prometheus package): the file is valid, the scrape config loads it, and
``tests/deploy/prometheus_rules_test.yml`` shows every alert both firing and quiet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stream_al.metrics import METRIC_TYPES
from tests.fixtures.deploy import DEPLOY, run_script
from tests.promql import metric_for_series, referenced_series

pytestmark = pytest.mark.prometheus

RULES = DEPLOY / "prometheus" / "rules.yml"
UNIT_TESTS = Path(__file__).with_name("prometheus_rules_test.yml")
MONITORING_DOC = DEPLOY.parent / "docs" / "monitoring.md"
RECORDED = r"\bjob:[a-z0-9_:]+"
"""A recording rule's name (level:metric:operations), as PromQL reads it."""

ALERTS = {
    "StreamAlWorkerDown",
    "StreamAlNoCoordinator",
    "StreamAlSplitCoordinator",
    "StreamAlDeadLetters",
    "StreamAlConsumerLag",
    "StreamAlLabelToModelSlow",
    "StreamAlDriftAlarm",
    "StreamAlModelNotUpdating",
    "StreamAlBudgetOverspend",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool of Debian's prometheus package, installed by deploy/prometheus.sh if missing."""
    if shutil.which("promtool") is None:
        run_script("prometheus.sh", "install", dict(os.environ))
    path = shutil.which("promtool")
    assert path, "deploy/prometheus.sh install left no promtool on PATH"
    return path


def run(promtool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> dict[str, dict]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def unit_test_cases() -> list[dict]:
    return [case for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
            for case in test.get("alert_rule_test", [])]


# ------------------------------------------------------------------------------ promtool
def test_the_rules_file_passes_promtool_check(promtool):
    checked = run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_scrape_config_loads_the_rules_and_passes_promtool_check(promtool):
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert [(DEPLOY / f).resolve() for f in config["rule_files"]] == [RULES.resolve()]
    checked = run(promtool, "check", "config", str(DEPLOY / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "15 rules found" in checked.stdout


def test_every_alert_behaves_as_its_unit_tests_say(promtool):
    tested = run(promtool, "test", "rules", str(UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_unit_tests_evaluate_recordings_before_the_alerts_that_read_them():
    # promtool otherwise orders the groups at random: an alert then sees a recorded series one
    # interval late, and a `for` that should just have elapsed has not (1 run in 10 failed).
    groups = [group["name"] for group in yaml.safe_load(RULES.read_text())["groups"]]
    assert yaml.safe_load(UNIT_TESTS.read_text())["group_eval_order"] == groups
    assert groups == ["stream-al.recording", "stream-al.alerts"]


# ------------------------------------------------------------------------------ coverage
def test_the_alerts_are_the_ones_the_issue_asks_for_and_the_coordinator_checks():
    assert set(alerts()) == ALERTS


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_every_alert_is_tested_firing_and_quiet(name):
    cases = [case for case in unit_test_cases() if case["alertname"] == name]
    assert any(case["exp_alerts"] for case in cases), f"{name} is never shown firing"
    assert any(not case["exp_alerts"] for case in cases), f"{name} is never shown quiet"


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_every_alert_has_a_severity_a_summary_and_an_operator_section(name):
    rule = alerts()[name]
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert f"### {name}" in MONITORING_DOC.read_text(), f"docs/monitoring.md: no section {name}"


def test_every_alert_keeps_the_job_label_so_dashboards_can_filter_it():
    for name, rule in alerts().items():
        expr = " ".join(rule["expr"].split())
        keeps_job = "by (job" in expr or re.match(r"^(up|job:)", expr)
        assert keeps_job, f"{name}: {expr}"


def test_rules_read_only_metrics_that_stream_al_exports():
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        recorded_here = re.findall(RECORDED, rule["expr"])
        for name in recorded_here:
            assert name in recorded, f"{rule}: {name} is not a recording rule here"
        for series in referenced_series(re.sub(RECORDED, "", rule["expr"])):
            assert metric_for_series(series, METRIC_TYPES), f"{rule}: {series}"


def test_coordinator_gauges_are_never_summed_across_workers():
    for rule in rules():
        expr = " ".join(rule["expr"].split())
        for gauge in ("stream_al_budget_", "stream_al_model_version"):
            assert not re.search(r"sum[^(]*\([^()]*" + gauge, expr), expr
