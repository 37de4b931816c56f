"""The one typed configuration object for stream-al.

Every component takes the part of :class:`Settings` it needs, passed down explicitly.
Values come from (highest priority first) keyword arguments, environment variables
(``STREAM_AL_`` prefix, ``__`` between nested names, e.g. ``STREAM_AL_BUDGET__FRACTION=0.05``),
a YAML file given to :meth:`Settings.load`, and the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

EmbedderName = Literal["hashing", "static", "minilm"]


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the fix."""


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "stream-al"


class EmbedderSettings(BaseModel):
    name: EmbedderName = "static"
    batch_size: int | None = Field(
        None, ge=1,
        description="texts per model call; None: the embedder's own best (minilm 16)",
    )
    hashing_features: int = Field(2**18, ge=16)
    static_dim: int = Field(256, ge=8, description="PCA dimension of the distilled model2vec model")
    cache_dir: Path = Field(default_factory=_cache_dir)


class LearnerSettings(BaseModel):
    l2: float | None = Field(
        None, gt=0, description="L2 penalty on the summed log-loss (1/C in scikit-learn's "
        "terms); None: chosen by cross-validation on the labels as they grow (cv_*)")
    l2_prior: float = Field(1.0, gt=0, description="l2 until cv_min_labels labels came")
    cv_folds: int = Field(5, ge=2, description="folds of the search for l2")
    cv_rows: int = Field(1000, ge=10, description="labels the search for l2 uses at most "
                         "(a stratified sample): bounds its cost")
    cv_growth: float = Field(1.5, gt=1, description="search l2 again when the labels grew by "
                             "this factor since the last search")
    cv_min_labels: int = Field(10, ge=2, description="labels before the first search for l2")
    max_iter: int = Field(60, ge=1, description="L-BFGS iterations per update (warm started)")
    memory: int = Field(10_000, ge=10, description="labeled examples kept for replay (beyond: "
                        "a uniform reservoir; memory and refit time stay bounded)")
    committee_size: int = Field(4, ge=2)
    refit_every_s: float = Field(
        0.25, ge=0, description="the worker refits at most this often: labels that arrive "
        "sooner wait for the next refit (a refit is on the whole replay memory, so its cost "
        "does not depend on how many labels it adds); 0: one refit per record of labels"
    )
    seed: int = 0


class BudgetSettings(BaseModel):
    fraction: float = Field(0.05, description="share of the stream that may be labeled, in (0, 1]")
    window_items: int = Field(0, ge=0, description="0: budget over the whole stream; else per window")
    warmup_labels: int = Field(0, ge=0, description="labels allowed before any items are seen")

    @field_validator("fraction")
    @classmethod
    def _fraction_in_range(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError(f"budget must be in (0, 1], got {v}")
        return v


class SelectionSettings(BaseModel):
    strategy: str = "default"
    seed: int = 0
    uncertainty: Literal["entropy", "margin", "least_confidence"] = "margin"
    # variable-threshold uncertainty (Zliobaite et al. 2014)
    vu_threshold: float = Field(0.9, gt=0, le=1)
    vu_step: float = Field(0.01, gt=0, lt=1)
    vu_delta: float = Field(1.0, ge=0)
    # reservoir-style diverse selection
    max_clusters: int = Field(64, ge=1)
    cluster_radius: float = Field(0.0, ge=0, description="0: learned from the stream")
    reservoir_size: int = Field(32, ge=1, description="candidates kept per cluster")
    batch_interval: int = Field(
        1000, ge=1, description="at most this many stream items between two batches; sooner"
        " once the accrued budget buys one label per known class (at least 2, at most"
        " max_clusters / 2): see stream_al/select/diverse.py and benchmarks/README.md"
    )
    novelty_weight: float = Field(0.0, ge=0, description="weight of distance to labelled items")
    novelty_capacity: int = Field(10_000, ge=1, description="bought items the novelty index "
                                  "keeps (the most recent; memory stays bounded)")
    density_weight: float = Field(
        0.5, ge=0, description="exponent of typicality (information density, Settles & Craven 2008)"
    )
    # bandit over strategies
    bandit_arms: list[str] = Field(default_factory=lambda: ["random", "uncertainty", "diverse"])
    bandit_gamma: float = Field(0.1, gt=0, le=1)


class TopicSettings(BaseModel):
    texts: str = "stream-al.texts"
    scored: str = "stream-al.scored"
    selected: str = "stream-al.selected"
    labels: str = "stream-al.labels"
    models: str = "stream-al.models"
    events: str = "stream-al.events"
    deadletter: str = "stream-al.deadletter"
    control: str = Field("stream-al.control",
                         description="one partition: scored batches and labels, totally ordered")
    state: str = Field("stream-al.state", description="compacted: the coordinator's budget ledger")
    expert: str = Field("stream-al.expert", description="items for an expert: unresolved "
                        "disagreements and suspicious labels (ExpertRequest)")
    partitions: int = Field(4, ge=1)


class KafkaSettings(BaseModel):
    bootstrap: str = "127.0.0.1:9092"
    app_id: str = "stream-al"
    topics: TopicSettings = Field(default_factory=TopicSettings)
    max_text_bytes: int = Field(20_000, ge=64, description="longer texts are truncated and flagged")
    batch_max: int = Field(512, ge=1)
    batch_within_s: float = Field(0.2, gt=0)
    label_policy: Literal["accept_new_class", "reject"] = "accept_new_class"
    label_classes: list[str] = Field(
        default_factory=list,
        description="label_policy reject: the allowed classes (empty: those learned so far, "
        "once the model knows two)",
    )
    label_deadline_s: float = Field(3600.0, gt=0)
    metrics_port: int = Field(9464, ge=0)
    state_dir: Path = Field(default_factory=lambda: _cache_dir() / "state")


class SimulationSettings(BaseModel):
    text_column: str = "text"
    label_column: str = "label"
    test_size: int = Field(2000, ge=1)
    label_delay: int = Field(100, ge=0, description="stream items between a purchase and its label")
    checkpoints: int = Field(20, ge=2)
    chunk_size: int = Field(50, ge=1)
    seed: int = 0


class DriftSettings(BaseModel):
    """Drift detectors (stream embeddings, model uncertainty, prequential error) and the response."""

    reference_items: int = Field(400, ge=10, description="embedding detector: reference window")
    window_items: int = Field(200, ge=10, description="embedding detector: recent window")
    check_every: int = Field(50, ge=1, description="stream items between two tests")
    kernel: Literal["rbf", "linear"] = "rbf"
    alpha: float = Field(1e-4, gt=0, lt=1, description="false-alarm probability of one test")
    permutations: int = Field(500, ge=50, description="reference permutations for the threshold")
    patience: int = Field(2, ge=1, description="consecutive tests over threshold for an alarm")
    error_delta: float = Field(0.002, gt=0, lt=1, description="ADWIN confidence, prequential error")
    uncertainty_block: int = Field(25, ge=1, description="items per mean-uncertainty observation")
    uncertainty_warmup_blocks: int = Field(20, ge=2, description="blocks that calibrate sigma")
    uncertainty_k: float = Field(0.5, gt=0, description="Page-Hinkley slack, in sigmas")
    uncertainty_h: float = Field(8.0, gt=0, description="Page-Hinkley threshold, in sigmas")
    response_items: int = Field(600, ge=0, description="items a response lasts; 0 disables it")
    boost: float = Field(3.0, ge=1, description="spending rate during a response, x the budget")
    max_credit: float = Field(
        0.0, ge=0, description="cost units a response may borrow beyond the budget, repaid "
        "afterwards (0: a response only moves spending to the drifting region, and the budget "
        "is never exceeded; the simulator's recovery figures use 20)"
    )
    explore_share: float = Field(0.5, ge=0, le=1, description="share of a response's spending "
                                 "on novel items of the drifting region")
    seed: int = 0


class OODSettings(BaseModel):
    quantile: float = Field(0.95, gt=0, lt=1, description="of labelled items' leave-one-out "
                            "nearest-neighbour distances: the out-of-distribution threshold")
    max_share: float = Field(0.1, ge=0, le=1, description="most of the budget OOD items may take")
    cap_window_items: int = Field(
        1000, ge=0, description="the OOD cap never holds more than this many items' worth of "
        "allowance, so a quiet stretch cannot save up for a burst (0: no limit)"
    )
    min_labels: int = Field(20, ge=2, description="labels before anything is called OOD")
    capacity: int = Field(10_000, ge=10, description="labelled vectors kept in the index "
                          "(the most recent; memory stays bounded)")


class CalibrationSettings(BaseModel):
    bins: int = Field(15, ge=2, description="equal-width confidence bins of the ECE")
    window_labels: int = Field(1000, ge=10, description="recent labels kept for calibration")
    min_labels: int = Field(60, ge=10, description="labels before a temperature is fitted")
    held_out_share: float = Field(0.5, gt=0, lt=1, description="newest share kept to measure")
    reasons: list[str] = Field(
        default_factory=lambda: ["random"],
        description="selection reasons whose labels sample the stream without bias; only their "
        "labels calibrate (uncertain/diverse/ood picks over-represent hard items). Empty: all",
    )


class RegistrySettings(BaseModel):
    dir: Path | None = Field(
        None, description="None: <kafka.state_dir>/registry/<kafka.app_id> (one per deployment)"
    )
    enabled: bool = Field(True, description="the worker registers every model version it publishes")
    keep_snapshots: int = Field(
        1000, ge=1, description="newest snapshots kept on disk (older versions stay listed)"
    )


CostUnit = Literal["labels", "minutes", "money"]


class CostSettings(BaseModel):
    """How labels are priced and what the budget counts (``Settings.cost``).

    ``unit: labels`` (the default): the budget is ``budget.fraction`` labels per stream item and
    an item asked of k annotators costs k. ``minutes`` / ``money``: the budget is ``amount`` per
    ``period_items`` stream items, and an item costs k times its predicted annotator time (or
    its price) by length and task, learnt online from the labels' timestamps.
    """

    unit: CostUnit = Field("labels", description="what the budget counts")
    amount: float = Field(0.05, gt=0, description="labels, minutes or money per period (the "
                          "worker takes budget.fraction for labels)")
    period_items: int = Field(1, ge=1, description="stream items per budget period")
    carry_over: bool = Field(True, description="unspent budget carries into the next period")
    base_seconds: float = Field(6.0, ge=0, description="per item: decide, click, context")
    seconds_per_char: float = Field(0.06, ge=0, description="reading time per character")
    task: str = Field("", description="the task of this deployment (a key of task_factor)")
    task_factor: dict[str, float] = Field(default_factory=dict,
                                          description="time multiplier per task name")
    hourly_rate: float = Field(30.0, ge=0, description="money per annotator hour")
    fee_per_label: float = Field(0.0, ge=0, description="money per label on top of time")
    reference_chars: int = Field(
        200, ge=1, description="length of a typical item: its cost is one ledger unit")
    learn: Literal["off", "linear", "buckets"] = Field(
        "linear", description="learn seconds from observed labelling times")
    prior_weight: float = Field(20.0, gt=0, description="pseudo-observations behind the prior")
    bucket_edges: list[int] = Field(default_factory=lambda: [50, 100, 200, 400, 800],
                                    description="length buckets (chars) for learn=buckets")
    max_seconds: float = Field(600.0, gt=0, description="longer observed times are clipped")
    max_gap_s: float = Field(300.0, gt=0, description="a longer gap between two labels of one "
                             "annotator is a break, not the time spent on the second")
    aware: bool = Field(True, description="rank items by informativeness per unit of cost")
    min_cost: float = Field(0.25, gt=0, description="cost-aware: costs below this many typical "
                            "labels count as this much")

    @model_validator(mode="after")
    def _positive_factors(self) -> CostSettings:
        bad = {k: v for k, v in self.task_factor.items() if v <= 0}
        if bad:
            raise ValueError(f"cost.task_factor values must be > 0, got {bad}")
        if self.bucket_edges != sorted(set(self.bucket_edges)):
            raise ValueError(f"cost.bucket_edges must increase strictly, got {self.bucket_edges}")
        return self


class AnnotationSettings(BaseModel):
    """Multiple annotators, adjudication, batches and noise checks (``Settings.annotation``)."""

    annotators_per_item: int = Field(1, ge=1, description="k: labels asked for a normal item")
    gold_fraction: float = Field(0.0, ge=0, lt=1, description="share of items asked of more "
                                 "annotators to measure agreement and annotator quality")
    gold_annotators: int = Field(3, ge=1, description="labels asked for a gold-fraction item")
    low_confidence: float = Field(0.0, ge=0, le=1, description="model confidence below which "
                                  "an item gets low_confidence_annotators (0: never)")
    low_confidence_annotators: int = Field(3, ge=1)
    max_annotators: int = Field(5, ge=1, description="cap on labels per item")
    learn_from: Literal["verdicts", "labels"] = Field(
        "verdicts", description="verdicts: the learner learns each item's adjudicated label "
        "once; labels: every (item, annotator) label is one training example")
    adjudication: Literal["majority", "dawid_skene", "one_coin"] = "dawid_skene"
    adjudication_window: int = Field(200, ge=10, description="recent multi-labelled items "
                                     "Dawid-Skene estimates the annotators on")
    refit_every: int = Field(25, ge=1, description="Dawid-Skene: multi-labelled items between "
                             "two EM fits; in between, votes are weighed by the last fit's "
                             "annotator accuracies (or their accuracy on gold)")
    relearn_every_s: float = Field(30.0, ge=0, description="a changed verdict rebuilds the "
                                   "learner from the verdicts at most this often")
    min_confidence: float = Field(0.7, ge=0, le=1, description="verdicts of several labels "
                                  "less sure than this are escalated to an expert")
    expert_annotators: list[str] = Field(default_factory=list,
                                         description="annotator ids whose label is final")
    min_annotator_accuracy: float = Field(0.0, ge=0, lt=1, description="labels of annotators "
                                          "below this accuracy on gold are left out of "
                                          "adjudication (0: keep everyone)")
    min_gold: int = Field(10, ge=1, description="gold answers before an annotator is judged")
    batch_size: int = Field(20, ge=1, description="items per annotator batch")
    deadline_s: float = Field(3600.0, gt=0, description="seconds a batch may take")
    max_offers: int = Field(2, ge=1, description="offers of an item before its cost is released")
    noise_check: bool = Field(True, description="check labels against the model and neighbours")
    noise_model_confidence: float = Field(0.7, gt=0, le=1, description="a label is suspicious "
                                          "only against a model at least this sure")
    noise_neighbours: int = Field(10, ge=1, description="labelled neighbours that vote")
    noise_neighbour_share: float = Field(0.3, gt=0, le=1, description="suspicious when fewer "
                                         "than this share of neighbours carry the label")
    cleanlab_min_labels: int = Field(0, ge=0, description="also run cleanlab once this many "
                                     "labels exist (0: never)")

    @model_validator(mode="after")
    def _caps(self) -> AnnotationSettings:
        wanted = max(self.annotators_per_item, self.gold_annotators,
                     self.low_confidence_annotators)
        if wanted > self.max_annotators:
            raise ValueError(f"annotation.max_annotators ({self.max_annotators}) is below the "
                             f"{wanted} annotators asked for; raise it or lower the others")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STREAM_AL_", env_nested_delimiter="__")

    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    ood: OODSettings = Field(default_factory=OODSettings)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    annotation: AnnotationSettings = Field(default_factory=AnnotationSettings)

    @model_validator(mode="after")
    def _arms_known(self) -> Settings:
        if not self.selection.bandit_arms:
            raise ValueError("selection.bandit_arms must name at least one strategy")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from an optional YAML file, the environment and explicit overrides."""
        data: dict[str, Any] = {}
        if path is not None:
            p = Path(path)
            if not p.exists():
                raise ConfigError(f"config file {p} does not exist")
            data = yaml.safe_load(p.read_text()) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"config file {p} must hold a mapping at top level")
        return cls(**_deep_merge(data, overrides))


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
