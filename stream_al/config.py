"""The one typed configuration object for stream-al.

Every component takes the part of :class:`Settings` it needs, passed down explicitly. Settings
are immutable once built: a changed copy is ``settings.model_copy(update={...})``.

:meth:`Settings.load` takes values from (highest priority first) its keyword arguments (the
command-line flags), environment variables (``STREAM_AL_`` prefix, ``__`` between nested
names, e.g. ``STREAM_AL_BUDGET__FRACTION=0.05``), a YAML config file, and the defaults below.
The config file is ``--config FILE`` if given, else the file ``STREAM_AL_CONFIG`` names, else
the first that exists of ``./stream-al.yaml`` and ``~/.config/stream-al/config.yaml``
(``$XDG_CONFIG_HOME`` if set).
"""

from __future__ import annotations

import hashlib
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stream_al.errors import StreamAlError

EmbedderName = Literal["hashing", "static", "minilm"]


class ConfigError(StreamAlError, ValueError):
    """A configuration value is out of range; the message names the fix."""


IMMUTABLE = ("settings are immutable once built: change a copy, "
             "settings.model_copy(update={...})")


class _FrozenList(list):
    """A list-valued setting: reads as the list it is, refuses every change."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(IMMUTABLE)

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenList, (list(self),))


class _FrozenDict(dict):
    """A mapping-valued setting: reads as the dict it is, refuses every change."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(IMMUTABLE)

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenDict, (dict(self),))


class _Part(BaseModel):
    """A part of :class:`Settings`: immutable once built (change one with ``model_copy``); its
    list and mapping values too."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _frozen_values(self) -> _Part:
        for name, value in self.__dict__.items():
            if type(value) is list:
                object.__setattr__(self, name, _FrozenList(value))
            elif type(value) is dict:
                object.__setattr__(self, name, _FrozenDict(value))
        return self

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any:
        """A changed copy; its list and mapping values refuse changes too (an update is not
        validated, so they are frozen here)."""
        return super().model_copy(update=update, deep=deep)._frozen_values()


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "stream-al"


UserPath = Annotated[Path, AfterValidator(Path.expanduser)]
"""A path in which ``~`` is the user's home directory, as a shell reads it."""


class EmbedderSettings(_Part):
    name: EmbedderName = "static"
    batch_size: int | None = Field(
        None, ge=1,
        description="texts per model call; None: the embedder's own best (minilm 16)",
    )
    hashing_features: int = Field(2**18, ge=16)
    static_dim: int = Field(256, ge=8, description="PCA dimension of the distilled model2vec model")
    cache_dir: UserPath = Field(default_factory=_cache_dir,
                                description="the distilled static model and embedding caches")


class LearnerSettings(_Part):
    l2: float | None = Field(
        None, gt=0, description="L2 penalty on the summed log-loss (1/C in scikit-learn's "
        "terms); null (the default): chosen by cross-validation on the labels as they grow "
        "(cv_*), which brings the all-labels ceiling to scikit-learn's LogisticRegressionCV "
        "(benchmarks/README.md); a number: that fixed penalty (1e-3 over-fits)")
    l2_prior: float = Field(1e-3, gt=0, description="l2 until the first search: the weakest "
                            "of its grid (a prior C=1 made 15-label runs collapse to the "
                            "majority class: benchmarks/README.md)")
    cv_folds: int = Field(5, ge=2, description="folds of the search for l2")
    cv_rows: int = Field(1000, ge=10, description="labels the search for l2 uses at most "
                         "(a stratified sample): bounds its cost")
    cv_growth: float = Field(1.5, gt=1, description="search l2 again when the labels grew by "
                             "this factor since the last search")
    cv_rule: Literal["best", "one_se", "nll", "nll_se", "smooth", "evidence",
                     "evidence_dims", "evidence_per_class", "evidence_binary"] = Field(
        "evidence_binary", description="the search's choice: evidence_binary (the default), "
        "the highest Laplace evidence of all the rows searched (no folds; "
        "stream_al/learn/evidence.py) once the learner knows two classes and the rows hold "
        "cv_evidence_rows a class, unless that is the strongest l2 whose fit predicts two "
        "classes (the evidence then has no optimum in the grid); best otherwise (at full size, "
        "MiniLM: the default +0.7 to +2.3 points on the binary sets at 5%, every seed, and +0.9 "
        "to +1.4 at 200 labels; on more classes the evidence lost, so it acts on two); "
        "best, the best held-out accuracy of the folds (ties: log-loss); one_se, the strongest "
        "l2 within one standard error of it; nll, the lowest held-out log-loss; nll_se, the "
        "lowest log-loss among values within one standard error of the best accuracy; smooth, "
        "the best accuracy averaged with the grid's neighbours; evidence, the evidence at every "
        "search; evidence_dims, the evidence once the rows searched are at least the "
        "embedding's dimensions; evidence_per_class, the evidence from cv_evidence_rows a "
        "class (measured at 100), any number of classes. The others are settings for "
        "measurement (benchmarks/README.md, \"Issue 14: a steadier l2 search\", \"the learner's "
        "l2 by the Laplace evidence\", \"the evidence for two classes becomes the default\" and "
        "\"the evidence from 50 rows a class\")")
    cv_evidence_rows: int = Field(50, ge=1, description="cv_rule evidence_binary and "
                                  "evidence_per_class: the rows searched a class from which "
                                  "the evidence chooses (the folds before). 100 until session "
                                  "25; 50 acts at 200 labels too, where MiniLM's default gains "
                                  "+0.9 to +1.4 points at full size (benchmarks/README.md, "
                                  "\"the evidence from 50 rows a class\")")
    served_rule: Literal["best", "one_se", "nll", "nll_se", "smooth"] | None = Field(
        None, description="null (the default): one model selects and predicts; a rule: the "
        "learner also fits a served head whose l2 that rule picks from the same search folds "
        "(nll: the lowest held-out log-loss), while the selecting model keeps cv_rule's choice; "
        "the simulator measures the served head, and each model on models carries it (in the "
        "snapshot, about one committee member's size: a rebuild and a rollback continue it, "
        "scorers still rank with the selecting model). "
        "Measured at full size on SST-2/MR/SUBJ with nll: the default +0.7 points (6 of 6 "
        "cells ahead), random -0.2 (its 5% cells behind), the served refits 12-22% of the "
        "learner's; on the five multi-class sets the default -0.1 (AG News 5% -0.9, HWU64 5% "
        "-0.5) and the all-labels ceiling under scikit-learn's on Banking77, HWU64 and SNIPS: "
        "off (benchmarks/README.md, \"Issue 14: a served model\" and \"validation rules for "
        "bought labels\"). Needs l2 null and a fold rule as cv_rule (e.g. best)")
    cv_validation: Literal["accuracy", "log_loss", "off"] = Field(
        "accuracy", description="how the search for l2 scores each value on the labels drawn "
        "uniformly from the stream (selection.validation_share) held out in its folds: once "
        "they are as many as a search needs (cv_min_labels, and cv_folds per class the "
        "learner knows) and of two classes or more, a value better than cv_rule's "
        "choice on them by more than a standard error (paired per row) replaces it; accuracy "
        "or log-loss (off: cv_rule alone). No such labels: cv_rule alone")
    cv_repeats: int = Field(1, ge=1, description="fold splits of the search for l2, scores "
                            "summed (its cost grows in proportion)")
    search_process: bool = Field(True, description="the Kafka worker runs each search for "
                                 "l2 after the learner's first in a process of its own and "
                                 "applies its choice when it comes back (a new model version), "
                                 "learning at the previous l2 meanwhile; false: in the "
                                 "coordinator's refit, which holds control for the search's "
                                 "seconds (stream_al/stream/searching.py; the simulator: "
                                 "simulation.search_lag). A learner rebuilt after a restart "
                                 "continues the l2 and search schedule of the last model "
                                 "published (in its snapshot), so its next search runs "
                                 "apart too")
    cv_min_labels: int = Field(10, ge=2, description="labels before the first search for l2 "
                               "(and at least cv_folds per class seen: one per class and fold)")
    max_iter: int = Field(60, ge=1, description="L-BFGS iterations per update (warm started)")
    pseudo_labels: float = Field(0.0, ge=0, description="self-training: per label of a class, "
                                 "the main model also learns this many of the unlabelled "
                                 "stream items it predicts in that class most confidently, "
                                 "once the l2 search could run (cv_min_labels, cv_folds per "
                                 "class); 0 (the default): labels only. 3 lifts random's "
                                 "labels more than the default selector's and loses on ATIS "
                                 "at 5% (benchmarks/README.md, stream_al/learn/self_training.py)."
                                 " In the worker the sample holds what reaches the coordinator "
                                 "(only candidates with scale.preselect) and starts empty "
                                 "after a restart")
    unlabelled_memory: int = Field(5000, ge=1, description="stream embeddings kept (a uniform "
                                   "reservoir) for self-training")
    memory: int = Field(10_000, ge=10, description="labeled examples kept for replay (beyond: "
                        "a uniform reservoir; memory and refit time stay bounded)")
    committee_size: int = Field(4, ge=2)
    refit_every_s: float = Field(
        0.25, ge=0, description="the worker refits at most this often: labels that arrive "
        "sooner wait for the next refit (a refit is on the whole replay memory, so its cost "
        "does not depend on how many labels it adds); 0: one refit per record of labels"
    )
    seed: int = 0


class BudgetSettings(_Part):
    fraction: float = Field(0.05, description="share of the stream that may be labeled, in (0, 1]")
    window_items: int = Field(0, ge=0, description="0: budget over the whole stream; else per window")
    warmup_labels: int = Field(0, ge=0, description="labels allowed before any items are seen")

    @field_validator("fraction")
    @classmethod
    def _fraction_in_range(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError(f"budget must be in (0, 1], got {v}")
        return v


class SelectionSettings(_Part):
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
        " max_clusters / 2): see stream_al/select/diverse.py and benchmarks/README.md;"
        " balanced buys as soon as one label is affordable and keeps candidates at most"
        " this many items"
    )
    novelty_weight: float = Field(0.0, ge=0, description="weight of distance to labelled items")
    novelty_capacity: int = Field(2048, ge=1, description="bought items the novelty index "
                                  "keeps (the most recent; memory stays bounded): each purchase "
                                  "is measured against all of them, ~6 us per 1,000 at 256 "
                                  "dims, so at 5% this many cost ~0.6 us per stream text "
                                  "(10,000: 3.4)")
    purchase_novelty: bool = Field(False, description="each purchase carries its novelty "
                                   "(distance to the items bought before) even when the "
                                   "selector does not read novelty: one product per purchase "
                                   "against the novelty index at the coordinator, ~0.5 us per "
                                   "stream text at 5% fresh and ~1 after 2,048 bought (issue "
                                   "17, seventeenth pass). No decision reads it; off: purchases "
                                   "carry novelty only when the selector read it")
    density_weight: float = Field(
        0.5, ge=0, description="exponent of typicality (information density, Settles & Craven 2008)"
    )
    cold_labels: int = Field(
        2, ge=0, description="balanced: coverage until the model knows two classes and has this"
        " many bought labels per class it knows (stream_al/select/balanced.py)"
    )
    explore: float = Field(0.0, ge=0, le=1, description="balanced, trusted: share of purchases "
                           "drawn uniformly among the candidates (0.2 measured on the binary "
                           "sets: +1 point on SST-2/MR at 1-5%, -1 on SUBJ; benchmarks/README.md)")
    validation_share: float = Field(0.0, ge=0, lt=1, description="share of the budget spent "
                                    "on labels drawn uniformly from the stream (reason "
                                    "'validation'), whatever the strategy (not random, whose "
                                    "labels all are): the l2 search validates on them "
                                    "(learner.cv_validation); they are also learned; "
                                    "the draws start once this share of the labels bought "
                                    "reaches what the search needs to be overruled (learner."
                                    "cv_min_labels, cv_folds per class seen), at the whole "
                                    "budget's rate until they are that many, then at this "
                                    "share. 0.1 with cv_validation log_loss at full size, 5 "
                                    "seeds: MR 5% +1.5 points, SST-2 1% +0.5, 10 of 16 cells "
                                    "unchanged (no draw), AG News 5% -1.1 and SNIPS 5% -0.3 "
                                    "(every seed behind): off (benchmarks/README.md, \"a "
                                    "validation trickle that catches up\")")
    quotas: bool = Field(True, description="balanced, trusted: class-balancing quotas "
                       "(off measured on the binary sets: within noise; benchmarks/README.md)")
    margin_density: float | None = Field(None, ge=0, description="balanced, trusted: exponent "
                                         "of typicality on the margin (unset: density_weight; 0 "
                                         "measured on the binary sets: within noise, SUBJ 1% -3.8)")
    sampling: Literal["top", "proportional"] = Field("top", description="balanced, trusted: "
                                                     "the most informative, or draws ∝ it "
                                                     "(measured: -0.65 points on the binary sets)")
    text_weight: float = Field(
        0.0, ge=0, description="balanced: weight of the text signals of score/linguistic.py when"
        " the batches carry them (measured not to pay: benchmarks/README.md)"
    )
    # bandit over strategies
    bandit_arms: list[str] = Field(default_factory=lambda: ["balanced", "uncertainty"],
                                   description="arms of the bandit (measured: benchmarks/README.md)")
    bandit_gamma: float = Field(0.1, gt=0, le=1)


class TopicSettings(_Part):
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
    checkpoint: str = Field("stream-al.checkpoint", description="one partition, compacted: the "
                            "coordinator's checkpoints (a rebuild reads the newest one and what "
                            "came after it)")
    reference: str = Field("stream-al.reference", description="one partition, compacted by "
                           "ring slot: the labelled rows the coordinator sends its scorers with "
                           "scale.ood_at_scorers (stream/reference.py)")
    expert: str = Field("stream-al.expert", description="items for an expert: unresolved "
                        "disagreements and suspicious labels (ExpertRequest)")
    commands: str = Field("stream-al.commands", description="one partition, kept forever: the "
                          "operator's rollbacks; on a secured cluster only the operator role "
                          "writes it; the coordinator relays them to control and applies one "
                          "only if it is here")
    partitions: int = Field(4, ge=1)
    replication_factor: int | None = Field(
        None, ge=1, description="copies of every partition on distinct brokers; unset: 3 when "
        "the cluster has 3 brokers or more, else as many as it has (with a warning). A topic "
        "that exists with fewer is reported at start with the command that fixes it")
    min_insync_replicas: int | None = Field(
        None, ge=1, description="copies that must have a record before the broker "
        "acknowledges it (producers of labels and selections use acks=all); unset: "
        "replication_factor - 1 (2 with 3 copies), at least 1")
    vendors: list[str] = Field(
        default_factory=list, description="secured clusters: one labels topic per vendor, "
        "<labels>.<vendor> (plus <labels>.expert for experts); the workers read them and "
        "namespace each annotator_id by the topic: <vendor>/<annotator>. Empty: the one labels "
        "topic, annotator ids as sent (development)",
    )

    def labels_of(self, vendor: str) -> str:
        """The labels topic only ``vendor`` may write (``expert``: the experts')."""
        return f"{self.labels}.{vendor}"


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "PLAIN"]


class KafkaSecuritySettings(_Part):
    """How every Kafka client authenticates and encrypts (``kafka.security``).

    ``PLAINTEXT`` is for local development only. ``SASL_SSL`` authenticates with a user name and
    a password (SCRAM-SHA-512, or PLAIN) over TLS; ``SSL`` encrypts, and with ``cert_file`` and
    ``key_file`` authenticates by client certificate (mTLS). The password comes from
    ``password`` (best set by the environment: ``STREAM_AL_KAFKA__SECURITY__PASSWORD``) or from
    ``password_file``; it is a :class:`~pydantic.SecretStr`, so it never appears in a repr or a log.
    :mod:`stream_al.stream.clients` turns this block into every client's configuration.
    """

    protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: SecretStr | None = Field(None, description="SASL password (prefer the environment)")
    password_file: Path | None = Field(None, description="a file whose first line is the password")
    ca_file: Path | None = Field(None, description="PEM CA that signed the broker's certificate "
                                 "(None: the system's trust store)")
    cert_file: Path | None = Field(None, description="PEM client certificate (mTLS)")
    key_file: Path | None = Field(None, description="PEM private key of cert_file (mTLS)")
    check_hostname: bool = Field(True, description="the broker certificate must name the host")

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecuritySettings:
        if self.protocol == "SASL_SSL":
            if not self.username:
                raise ValueError("kafka.security.username is required for SASL_SSL")
            if self.password is None and self.password_file is None:
                raise ValueError("kafka.security.protocol SASL_SSL needs a password: set "
                                 "STREAM_AL_KAFKA__SECURITY__PASSWORD or "
                                 "kafka.security.password_file")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("kafka.security.cert_file and key_file go together (mTLS): set both")
        for name in ("password_file", "ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"kafka.security.{name} {path} is not a readable file")
        return self

    def secret(self) -> str:
        """The SASL password, read now (a rotated ``password_file`` is picked up by new clients)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            lines = Path(self.password_file).read_text().splitlines()
            return lines[0] if lines else ""
        return ""


class KafkaSettings(_Part):
    bootstrap: str = Field("127.0.0.1:9092", description="the brokers, host:port[,host:port]")
    app_id: str = Field("stream-al", description="the workers' consumer group (texts: "
                        "<app_id>.texts); one per deployment")
    security: KafkaSecuritySettings = Field(default_factory=KafkaSecuritySettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    max_text_bytes: int = Field(20_000, ge=64, description="longer texts are cut on a UTF-8 "
                                "boundary, flagged in metadata and reported as a truncated event")
    batch_max: int = Field(2048, ge=1, description="records a worker reads and scores at once "
                           "(their values at most 8 MiB together)")
    batch_within_s: float = Field(0.2, gt=0, description="how long a batch waits to fill")
    control_merge: int = Field(1, ge=1, description="control records the coordinator reads at "
                               "once (waiting up to control_within_s): each run of up to this "
                               "many scored batches is selected as one, in one transaction; 1: "
                               "one record at a time")
    control_within_s: float = Field(0.02, gt=0, description="with control_merge > 1, how long "
                                    "the coordinator waits for more control records")
    label_policy: Literal["accept_new_class", "reject"] = Field(
        "accept_new_class", description="accept_new_class: a label of any class is learned "
        "(a new class too); reject: a label whose class is not in label_classes is "
        "dead-lettered (reason unknown_class)")
    label_classes: list[str] = Field(
        default_factory=list,
        description="label_policy reject: the allowed classes (empty: those learned so far, "
        "once the model knows two)",
    )
    new_classes_per_hour: int = Field(
        25, ge=0, description="label_policy accept_new_class: classes the model does not know "
        "yet admitted in any hour; labels of more are dead-lettered (class_cap) with an event "
        "(loop/class_gate.py). label_classes are always admitted",
    )
    label_deadline_s: float = Field(3600.0, gt=0, description="seconds a vendor has to answer "
                                    "a selected item (its deadline); then its cost is released")
    metrics_port: int = Field(9464, ge=0, description="/metrics, /healthz and /readyz; 0: any "
                              "free port")
    metrics_host: str = Field("127.0.0.1", description="address /metrics, /healthz and /readyz "
                              "bind to: this host only by default; 0.0.0.0 for every interface")
    state_dir: UserPath = Field(
        None, validate_default=False,
        description="local state (faust's data, the model registry); unset: "
        "~/.cache/stream-al/state/<app_id>-<8 hex digits of bootstrap and topic names>, one per "
        "deployment",
    )

    @model_validator(mode="after")
    def _state_dir_per_deployment(self) -> KafkaSettings:
        if self.state_dir is None:
            # frozen: set once, while validating
            object.__setattr__(self, "state_dir", _cache_dir() / "state" / deployment_name(self))
        return self


def deployment_name(kafka: KafkaSettings) -> str:
    """``<app_id>-<hash>``: the same for every worker of one deployment (broker, group and
    topics), different for two deployments on one machine even with the same ``app_id``.

    >>> deployment_name(KafkaSettings(app_id="shop"))
    'shop-5f10b73b'
    """
    t = kafka.topics
    names = [kafka.bootstrap, kafka.app_id, t.texts, t.labels, t.selected, t.control, t.models]
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:8]
    return f"{kafka.app_id}-{digest}"


class SimulationSettings(_Part):
    text_column: str = "text"
    label_column: str = "label"
    test_size: int = Field(2000, ge=1)
    label_delay: int = Field(100, ge=0, description="stream items between a purchase and its label")
    checkpoints: int = Field(20, ge=2)
    chunk_size: int = Field(50, ge=1)
    seed: int = 0
    seconds_per_item: float = Field(1.0, gt=0, description="the simulated clock: stream items "
                                    "arrive this many seconds apart (deadlines, refits, publishing)")
    annotator_accuracy: float = Field(1.0, ge=0, le=1, description="the simulated vendor: "
                                      "chance each annotator gives the true class")
    partitions: int = Field(1, ge=1, description="texts partitions the stream is dealt over, "
                            "each with its own scorer (with scale.preselect: its own pre-selector)")
    merge_records: bool = Field(False, description="the coordinator takes each chunk's "
                                "partition records together (Coordinator.on_scored_many), as a "
                                "driver reading control in batches would")
    reference_lag: int = Field(0, ge=0, description="with scale.ood_at_scorers: stream items "
                               "between the coordinator learning a labelled row and the scorers "
                               "checking candidates against it (0: from the next chunk on)")
    search_lag: int | None = Field(None, ge=0, description="the learner's search for l2 "
                                   "apart, as the Kafka worker runs it (a process of its own): "
                                   "each search after the first answers this many stream items "
                                   "after the refit that asked for it (0: before the next chunk), "
                                   "the model learning at the previous l2 meanwhile; null: in "
                                   "that refit")
    scorers: int = Field(1, ge=1, description="scorers the texts partitions are dealt over "
                         "(partition p to scorer p mod scorers), each with its own OOD check "
                         "(scale.ood_at_scorers) calibrated on its own candidates and its own "
                         "drift feature sums (scale.drift_at_scorers), as W Kafka workers "
                         "are; at most partitions")


class ScaleSettings(_Part):
    """Two-level selection (docs/scaling.md): scorers forward only candidates to ``control``."""

    preselect: bool = Field(False, description="scorers forward about candidate_multiple x "
                            "budget.fraction of the texts (by informativeness, with the count of "
                            "texts each stands for) instead of every text")
    candidate_multiple: float = Field(3.0, ge=1, description="candidates forwarded per label "
                                      "the budget allows (with preselect; 3 keeps label "
                                      "efficiency within the seed spread of 4 and ~16% more "
                                      "coordinator ceiling: benchmarks/README.md, issue 17 "
                                      "tenth pass)")
    candidate_floor: float = Field(0.1, gt=0, le=1, description="a text's chance to be forwarded "
                                   "is at least this share of an average text's (with preselect; "
                                   "1: no text below the average text's chance)")
    ood_at_scorers: bool = Field(False, description="with preselect: each scorer checks the "
                                 "candidates it forwards against the labelled rows the "
                                 "coordinator publishes to scorers (its own threshold, from its "
                                 "own candidates) and forwards each one's OOD distance and flag; "
                                 "the coordinator's OOD cap reads those instead of checking "
                                 "(docs/scaling.md; needs ood.sample 1)")
    drift_at_scorers: bool = Field(False, description="with preselect: each scorer sums the "
                                   "random Fourier features of the embedding drift test's "
                                   "kernel over blocks of the candidates it forwards "
                                   "(drift.features, block_items, sample) and forwards the "
                                   "sums; the coordinator runs one test of the whole stream on "
                                   "them (its windows in candidates of every scorer, as its "
                                   "own test's) instead of the kernel test, and keeps the "
                                   "uncertainty and prequential-error tests (stream_al/drift/"
                                   "forwarded.py)")
    precision: Literal["float32", "float16", "int8"] = Field(
        "float32", description="embeddings on control: int8 keeps a scale per row")
    envelope: Literal["json", "binary", "deflated"] = Field(
        "deflated", description="scored batches on control: deflated (a binary envelope whose "
        "JSON metadata is zlib-compressed, version 2), binary (JSON metadata, raw rows; what "
        "workers before version 2 read: set it until every worker reads deflated) or json (rows "
        "in base64, as workers before issue 17 wrote them); workers read all three")


class DemoSettings(_Part):
    data: Path | None = Field(
        None, description="labelled CSV (text,label) that `stream-al demo` streams; None: the "
        "AG News copy shipped with the package"
    )


class DriftSettings(_Part):
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
    sample: float = Field(1.0, gt=0, le=1, description="share of the scored items (a seeded "
                          "random sample) the stream's detectors (embedding MMD, mean "
                          "uncertainty) read: below 1 they cost that much less per item, and "
                          "their windows and check_every span 1/sample as many items, so a "
                          "drift is seen that much later")
    project: int = Field(64, ge=0, description="embedding detector: dimensions of the fixed "
                         "random projection it reads the embeddings through (0: none); its "
                         "kernel rows then cost that many multiply-adds instead of the "
                         "embedding's, with the same windows")
    features: int = Field(128, ge=1, description="scale.drift_at_scorers: random Fourier "
                          "features of the embedding test's kernel (rbf: the mean of rbf "
                          "kernels of sigma² 0.25-2, fixed for unit vectors; linear: the "
                          "projected rows, project of them) each scorer sums per block of "
                          "candidates for the coordinator's test of the whole stream "
                          "(stream_al/drift/forwarded.py)")
    block_items: int = Field(10, ge=1, description="scale.drift_at_scorers: candidates per "
                             "block a scorer sums the features of (at most; a record's "
                             "candidates are cut into even blocks; never more than "
                             "window_items or check_every): the test's windows and checks are "
                             "placed to a block, and each block costs features float16 on "
                             "the control topic")
    frequencies: int = Field(64, ge=0, description="embedding detector at the coordinator "
                             "(rbf; the linear kernel ignores it): random Fourier frequencies "
                             "its MMD² is computed through (0: the exact kernel, ~1.3x the "
                             "coordinator's CPU at the ceiling); a new item then costs its "
                             "features instead of kernel rows against the reference and "
                             "recent windows, and a test the window's mean")
    seed: int = 0


class OODSettings(_Part):
    quantile: float = Field(0.95, gt=0, lt=1, description="of a sample of stream items' "
                            "distances to their nearest labelled item: the out-of-distribution "
                            "threshold (stream items are flagged at 1 - quantile)")
    reference_items: int = Field(1000, ge=100, description="stream items sampled to calibrate the "
                                 "threshold (until 100 are measured, the labelled items' own "
                                 "leave-one-out distances stand in)")
    reference_horizon: int = Field(
        20_000, ge=1, description="the sample is uniform over the stream's first this many "
        "items, then weighted to about its last this many: a new domain stays OOD until labels "
        "cover it or it makes up 1 - quantile of the sample"
    )
    max_share: float = Field(0.1, ge=0, le=1, description="most of the budget OOD items may take")
    burst_window: int = Field(
        500, ge=10, description="stream items over which the OOD cap measures the share flagged: "
        "it buys OOD items only while that share is above 1 - quantile (what a stationary "
        "stream's own outliers make up) at burst_confidence"
    )
    burst_confidence: float = Field(
        0.999, ge=0, lt=1, description="confidence of the one-sided test (Wilson score bound) "
        "that the recent share flagged is above 1 - quantile before the OOD cap buys: one "
        "window in 1 / (1 - this) of a stationary stream is taken for a new domain (0: no "
        "test, every flagged item is bought while the cap allows, outliers included)"
    )
    cap_window_items: int = Field(
        1000, ge=0, description="the OOD cap never holds more than this many items' worth of "
        "allowance, so a quiet stretch cannot save up for a burst (0: no limit)"
    )
    sample: float = Field(1.0, gt=0, le=1, description="share of the candidates (a seeded "
                          "random sample) checked against every labelled item as they arrive: "
                          "below 1 the check costs that much less per item, only sampled items "
                          "are flagged, counted towards the burst test and bought as OOD, and "
                          "the others are measured only if another reason buys them")
    min_labels: int = Field(20, ge=2, description="labels before anything is called OOD")
    capacity: int = Field(10_000, ge=10, description="labelled vectors kept in the index "
                          "(the most recent; memory stays bounded)")


class PacingSettings(_Part):
    """Budget pacing (stream_al/pace/): spend less while labels stop paying, all again when the
    stream changes. Off by default: benchmarks/README.md says where it pays and where not."""

    enabled: bool = Field(False, description="turn the spending rate down when the stopping "
                          "signals say labels no longer pay")
    floor: float = Field(0.2, gt=0, le=1, description="lowest spending rate, x the budget; "
                         "this share of the budget always buys random items (the control "
                         "trickle: unbiased accuracy, calibration and learning-curve estimates)")
    step_down: float = Field(0.5, gt=0, lt=1, description="the rate is multiplied by this at "
                             "each check the signals say stop (down to floor), and divided by it "
                             "at each check the predicted loss exceeds the tolerance")
    check_every: int = Field(250, ge=10, description="stream items between two checks")
    min_labels: int = Field(100, ge=1, description="labels bought before the rate may go down")
    stop_set_size: int = Field(500, ge=20, description="unlabelled items the successive "
                               "models' predictions are compared on (Cohen's kappa)")
    stop_set_refresh_items: int = Field(5000, ge=100, description="stream items after which "
                                        "the stop set is replaced by a fresh sample")
    kappa: float = Field(0.97, gt=0, le=1, description="successive checks' models count as "
                         "stable when their mean Cohen's kappa reaches this, or when it stopped "
                         "rising (the last kappa_window checks' mean no higher than the window "
                         "before's by more than their noise; stabilising predictions)")
    kappa_window: int = Field(3, ge=1, description="checks the mean kappa is taken over")
    tolerance: float = Field(0.01, ge=0, description="accuracy (0.01: one point) the user "
                             "accepts to lose against spending the whole budget: the rate goes "
                             "down while the learning curve (pacing.curve) predicts "
                             "less loss than this at the horizon, and up again when more")
    curve: Literal["control", "prequential", "crossval"] = Field(
        "control", description="the learning curve the predicted loss is read from: 'control', "
        "fitted to whether each random control label was predicted right before it was learned "
        "(unbiased, but only the trickle's labels); 'prequential', the same over every label "
        "bought (biased towards hard items); 'crossval', cross-validated on the labelled set "
        "itself (models fitted to the first 1/8 to 3/4 of the labels bought, scored on the "
        "held-out rest: every label; its rise is used, not its level)")
    crossval_folds: int = Field(4, ge=2, description="folds of the 'crossval' curve")
    horizon: float = Field(1.0, gt=0, description="the loss is predicted where the stream will "
                           "be after this many times the items seen so far (1: as long again)")
    resume_hold_items: int = Field(1000, ge=0, description="after a resume, stream items at "
                                   "full rate before the rate may go down again")
    ood_rise: float = Field(0.1, gt=0, le=1, description="resume when the share of stream items "
                            "flagged OOD rises this far above its level when spending went down")
    accuracy_drop: float = Field(0.1, gt=0, le=1, description="resume when the control labels' "
                                 "prequential accuracy falls this far below its level when "
                                 "spending went down")
    borrow_cap: float = Field(0.0, ge=0, description="on a resume, up to this many cost units "
                              "of the money saved may be spent on top of the rate (never "
                              "beyond the budget ledger); 0: saved money stays saved")
    seed: int = 0


class CalibrationSettings(_Part):
    bins: int = Field(15, ge=2, description="equal-width confidence bins of the ECE")
    window_labels: int = Field(1000, ge=10, description="recent labels kept for calibration")
    min_labels: int = Field(60, ge=10, description="labels before a temperature is fitted")
    held_out_share: float = Field(0.5, gt=0, lt=1, description="newest share kept to measure")
    reasons: list[str] = Field(
        default_factory=lambda: ["random", "pace_control"],
        description="selection reasons whose labels sample the stream without bias; only their "
        "labels calibrate (uncertain/diverse/ood picks over-represent hard items). Empty: all",
    )


class RegistrySettings(_Part):
    dir: UserPath | None = Field(
        None, description="None: <kafka.state_dir>/registry/<kafka.app_id> (one per deployment)"
    )
    enabled: bool = Field(True, description="the worker registers every model version it publishes")
    keep_snapshots: int = Field(
        1000, ge=1, description="newest snapshots kept on disk (older versions stay listed)"
    )


class CheckpointSettings(_Part):
    """The coordinator's periodic checkpoint (``kafka.topics.checkpoint``, stream/checkpoint.py):
    a rebuild reads it and only the topics' records after it, not all of their history."""

    enabled: bool = Field(True, description="write checkpoints, and rebuild from the newest one "
                          "(false: every rebuild reads every topic in full; at 1M labels that "
                          "took 1.5x as long, benchmarks/README.md failover.py)")
    every_s: float = Field(300.0, gt=0, description="a checkpoint at most this often, once "
                           "something new is on the topics")
    every_labels: int = Field(20_000, ge=1, description="...or sooner, after this many new "
                              "labels reached the coordinator")
    max_segments: int = Field(16, ge=1, description="each checkpoint adds the records since "
                              "the last one as a segment; past this many, the next checkpoint "
                              "merges them into one")
    image: bool = Field(True, description="format 3: each checkpoint also holds an image of "
                        "a restore of its records (label store, bought texts, verdicts, the "
                        "caps...; loop/resume.py), so a rebuild reads and folds only the "
                        "records after it; each image is made off the lock from the last one "
                        "and the records since (at 1M labels 12 s CPU, 200 MB; false: format 2, "
                        "a rebuild restores every record of the checkpoint)")


CostUnit = Literal["labels", "minutes", "money"]


class CostSettings(_Part):
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


class AnnotationSettings(_Part):
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
                                          "only against a model at least this sure ...")
    noise_confidence_quantile: float = Field(
        0.25, ge=0, lt=1, description="... or at least as sure as this quantile of its top "
        "probabilities on the last 1,000 labels checked, whichever is lower (a softer model, "
        "learner.l2 by cross-validation, the default, is rarely 0.7 sure; 0: the fixed threshold "
        "alone)"
    )
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
    """All settings, immutable once built. Build them with :meth:`load`."""

    model_config = SettingsConfigDict(
        env_prefix="STREAM_AL_", env_nested_delimiter="__", frozen=True
    )

    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    simulation: SimulationSettings = Field(default_factory=SimulationSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    ood: OODSettings = Field(default_factory=OODSettings)
    pacing: PacingSettings = Field(default_factory=PacingSettings)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    annotation: AnnotationSettings = Field(default_factory=AnnotationSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    scale: ScaleSettings = Field(default_factory=ScaleSettings)

    @model_validator(mode="after")
    def _arms_known(self) -> Settings:
        if not self.selection.bandit_arms:
            raise ValueError("selection.bandit_arms must name at least one strategy")
        return self

    @model_validator(mode="after")
    def _ood_at_scorers_consistent(self) -> Settings:
        if self.scale.ood_at_scorers and not self.scale.preselect:
            raise ValueError("scale.ood_at_scorers checks the candidates a scorer forwards: "
                             "set scale.preselect true too, or ood_at_scorers false")
        if self.scale.ood_at_scorers and self.ood.sample < 1:
            raise ValueError("ood.sample spares the coordinator's check; with "
                             "scale.ood_at_scorers every candidate is checked at its scorer: "
                             "set ood.sample to 1")
        if self.simulation.scorers > self.simulation.partitions:
            raise ValueError(f"simulation.scorers ({self.simulation.scorers}) hold the texts "
                             f"partitions: set it at most simulation.partitions "
                             f"({self.simulation.partitions})")
        if self.scale.drift_at_scorers and not self.scale.preselect:
            raise ValueError("scale.drift_at_scorers tests the candidates a scorer forwards: "
                             "set scale.preselect true too, or drift_at_scorers false")
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
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from the config file, the environment and ``overrides`` (the flags).

        Highest priority first: ``overrides`` (nested mappings, e.g.
        ``kafka={"bootstrap": "host:9092"}``), environment variables, the config file
        (``path``, else the one :func:`config_file` finds), the defaults. Raises
        :class:`ConfigError` with every bad value named.
        """
        found = Path(path) if path is not None else config_file()
        token = _FILE_VALUES.set(read_config_file(found) if found is not None else {})
        try:
            return cls(**overrides)
        except ValidationError as e:
            source = f" (config file {found})" if found is not None else ""
            raise ConfigError(describe(e) + source) from None
        finally:
            _FILE_VALUES.reset(token)


CONFIG_ENV = "STREAM_AL_CONFIG"
"""Environment variable naming the config file of every command."""


def default_config_paths() -> list[Path]:
    """Where a config file is looked for when neither ``--config`` nor ``STREAM_AL_CONFIG``
    names one: ``./stream-al.yaml``, then ``$XDG_CONFIG_HOME/stream-al/config.yaml``
    (``~/.config/stream-al/config.yaml`` by default)."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path("stream-al.yaml"), Path(xdg) / "stream-al" / "config.yaml"]


def config_file() -> Path | None:
    """The config file to read when no path is given: ``STREAM_AL_CONFIG`` (which must exist),
    else the first of :func:`default_config_paths` that exists, else None (no file)."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        if not Path(named).is_file():
            raise ConfigError(f"{CONFIG_ENV}={named} names no file; fix the path or unset it")
        return Path(named)
    return next((p for p in default_config_paths() if p.is_file()), None)


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings a YAML file holds, as nested mappings (its sections and fields)."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")
    return data


def describe(error: ValidationError) -> str:
    """Every invalid value on one line: ``budget.fraction: Value error, budget must be ...``."""
    return "; ".join(
        f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in error.errors()
    )


_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("stream_al_config_file", default=None)
"""The config file's values while :meth:`Settings.load` builds settings from them."""


class _ConfigFileSource(PydanticBaseSettingsSource):
    """The config file, below the environment and the keyword arguments."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_FILE_VALUES.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get() or {})
