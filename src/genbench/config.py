"""Typed study configuration, the presets that ship with genbench, and ``--set`` overrides.

A study is plain data: which datasets, which models with which training settings, how
many seeds, which metrics. Everything a user can type is validated here, at the
boundary, and a problem becomes one :class:`GenbenchError` line naming the key, the value
and what was expected.
"""
from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)

from genbench.data import check_dataset_params, check_params
from genbench.errors import GenbenchError
from genbench.features import FEATURES
from genbench.metrics import METRICS
from genbench.models import MODELS
from genbench.plugins import activate, resolve_source


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainSettings(_Strict):
    """Optimisation settings for one model on one dataset."""

    epochs: PositiveInt
    batch_size: PositiveInt = 128
    lr: PositiveFloat = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    lr_d: PositiveFloat | None = Field(None, description="GAN discriminator learning rate; default: lr")
    betas_d: tuple[float, float] | None = Field(None, description="GAN discriminator betas; default: betas")
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_frac: float = Field(0.0, ge=0.0, lt=1.0, description="share of steps with linear warm-up (cosine only)")
    fused_adam: bool = True
    d_steps: PositiveInt = Field(1, description="GAN discriminator steps per generator step")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "fp32", description="bf16: autocast matmuls and convolutions to bfloat16; auto: bf16 where it is fast "
                            "(CPUs with AVX512-BF16 or AMX, GPUs with bf16 in hardware; not on AMX or a GPU for models "
                            "of Linear layers at most 64 wide), else fp32 (genbench.hardware)")
    compile: bool | Literal["auto"] = Field(
        False, description="torch.compile the training step (inductor; compiled once per machine, cached under "
                           "~/.cache/genbench/inductor); auto: when the run is long enough to repay the compile time")
    channels_last: bool = Field(False, description="NHWC memory layout for convolutional models")


class ModelEntry(_Strict):
    params: dict[str, Any] = {}
    train: TrainSettings


class DataSettings(_Strict):
    """How datasets are split; sizes of None take each kind's default (2D: 2000 / 500 /
    2000 points; images: every training image but a 10% hold-out, the whole test split)."""

    protocol: Literal["genbench", "study000", "study"] = "genbench"
    n_train: PositiveInt | None = None
    n_holdout: PositiveInt | None = None
    n_test: PositiveInt | None = None
    data_seed: int = 54301


class ExternalSamples(_Strict):
    """Samples made elsewhere, scored beside the study's models: one "seed" per source (an
    .npy/.npz array or a folder of PNG/JPEG files)."""

    dataset: str | None = Field(None, description="the dataset they imitate; default: the study's only dataset")
    sources: list[str] = Field(min_length=1)

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class StudyConfig(_Strict):
    name: str
    description: str = ""
    seeds: PositiveInt = 5
    first_seed: int = Field(0, ge=0)
    datasets: dict[str, dict[str, Any]]
    models: dict[str, ModelEntry]
    # dataset -> model -> TrainSettings fields that differ for that pair (e.g. epochs).
    train_overrides: dict[str, dict[str, dict[str, Any]]] = {}
    data: DataSettings = DataSettings()
    metrics: list[str]
    features: list[str] = Field(["evaluator"], description="feature extractors for image metrics")
    analysis: bool = Field(True, description="image runs: interpolation, traversal, t-SNE and OOD figures and numbers")
    n_samples: PositiveInt = Field(2000, description="generated samples scored per run")
    sample_every: int = Field(0, ge=0, description="image runs: save sample grids every k epochs (0: only at the end)")
    checkpoint_every: int = Field(1, ge=0, description="save a resumable checkpoint every k epochs (0: only at the end)")
    checkpoint_seconds: float = Field(30.0, ge=0, description="but at most once per this many seconds (0: every "
                                      "checkpoint_every epochs); the last epoch and a stop always save")
    # metric -> dataset -> model -> the study's published number.
    published: dict[str, dict[str, dict[str, float]]] = {}
    published_source: str = Field("", description="where the published numbers come from and how they were measured")
    plugins: list[str] = Field([], description="plugin .py files (absolute, or relative to the study file) or modules")
    # name -> samples from elsewhere, as a source, a list of sources, or {dataset, sources}.
    external: dict[str, ExternalSamples] = {}

    @field_validator("external", mode="before")
    @classmethod
    def _external_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: {"sources": v} if isinstance(v, (str, list)) else v for k, v in value.items()}

    def external_dataset(self, name: str) -> str:
        """The dataset external samples ``name`` belong to."""
        return self.external[name].dataset or next(iter(self.datasets))

    def entries(self, dataset: str) -> list[str]:
        """Everything scored on ``dataset`` beside the oracle: the models, then external samples."""
        return [*self.models, *(n for n in self.external if self.external_dataset(n) == dataset)]

    def seeds_of(self, name: str) -> list[int]:
        """The seeds of a model, or the sources (numbered from 0) of external samples."""
        return list(range(len(self.external[name].sources))) if name in self.external else self.seed_list()

    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def train_settings(self, dataset: str, model: str) -> TrainSettings:
        """The model's settings with this dataset's overrides applied (and validated)."""
        base = self.models[model].train
        override = self.train_overrides.get(dataset, {}).get(model, {})
        return validate_as(TrainSettings, {**base.model_dump(), **override}, f"train_overrides.{dataset}.{model}")


def validate_as(cls: type[BaseModel], raw: Any, where: str = "") -> Any:
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        raise GenbenchError(_one_line(exc, where)) from None


def _shown_key(key: str) -> str:
    """A key as an error message shows it: as typed, or quoted when it holds a newline or
    another unprintable character (the message stays one line)."""
    return key if key.isprintable() else repr(key)


def _one_line(exc: ValidationError, where: str) -> str:
    parts = []
    for err in exc.errors():
        key = _shown_key(".".join(str(p) for p in (where, *err["loc"]) if p != ""))
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        elif err["type"] == "missing":
            parts.append(f"missing key {key!r}")
        else:
            parts.append(f"{key}={err.get('input')!r}: {err['msg']}")
    return "invalid config: " + "; ".join(parts)


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("genbench.presets").iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw mapping of a shipped preset (``toy2d``, ``mnist``, ...). A preset may say
    ``extends: <preset>``: it then takes that preset's keys and replaces those it sets."""
    names = preset_names()
    if name not in names:
        raise GenbenchError(f"unknown study {name!r}; choose one of: {', '.join(names)}")
    return with_base(yaml.safe_load(resources.files("genbench.presets").joinpath(f"{name}.yaml").read_text()))


def with_base(raw: dict[str, Any]) -> dict[str, Any]:
    """``extends: <preset>``: that preset's keys, replaced by the ones ``raw`` sets."""
    raw = dict(raw)
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise GenbenchError(f"extends={base!r}: expected the name of a study (genbench list studies)")
    return {**load_preset(base), **raw}


def study_source(study: str | Path) -> dict[str, Any]:
    """The raw mapping of a shipped preset by name, or of a YAML study file of the same
    shape; a file's relative plugin and external-sample paths are made absolute against
    the file's folder."""
    path = Path(study)
    if path.suffix not in (".yaml", ".yml"):
        return load_preset(str(study))
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise GenbenchError(f"cannot read study file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise GenbenchError(f"study file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise GenbenchError(f"study file {path} must hold a mapping of study settings")
    base = path.resolve().parent
    if isinstance(raw.get("plugins"), list):
        raw["plugins"] = [resolve_source(p, base) if isinstance(p, str) else p for p in raw["plugins"]]
    if isinstance(raw.get("external"), dict):
        raw["external"] = {k: _absolute_sources(v, base) for k, v in raw["external"].items()}
    return with_base(raw)


def _absolute_sources(entry: Any, base: Path) -> Any:
    """External sources relative to ``base``, in any of the entry's shapes."""
    if isinstance(entry, str):
        return str((base / Path(entry).expanduser()).resolve())
    if isinstance(entry, list):
        return [_absolute_sources(e, base) if isinstance(e, str) else e for e in entry]
    if isinstance(entry, dict) and "sources" in entry:
        return {**entry, "sources": _absolute_sources(entry["sources"], base)}
    return entry


def parse_sets(assignments: list[str]) -> dict[str, Any]:
    """``--set key.sub=value`` assignments as a {dotted key: value} mapping; values are
    parsed as YAML (``3``, ``1e-3``, ``[0.5, 0.9]``, ``cosine``)."""
    out = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise GenbenchError(f"--set expects key=value, got {item!r} (e.g. --set seeds=3)")
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise GenbenchError(f"--set {_shown_key(key)}: cannot parse value {text!r}") from None
    return out


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys (``models.mlp-vae.train.lr``) to values; keys are checked when the
    result is validated."""
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        if not isinstance(key, str) or not key:
            raise GenbenchError(f"override key {key!r}: expected a dotted key like models.mlp-vae.train.lr")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise GenbenchError(f"--set {_shown_key(key)}: {part!r} holds a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def set_all_epochs(raw: dict[str, Any], epochs: int) -> dict[str, Any]:
    """``--epochs N``: every model trains N epochs on every dataset (overrides dropped).
    Sections of the wrong shape are left as they are, for validation to name."""
    out = copy.deepcopy(raw)
    models = out.get("models")
    for entry in models.values() if isinstance(models, dict) else []:
        train = entry.setdefault("train", {}) if isinstance(entry, dict) else None
        if isinstance(train, dict):
            train["epochs"] = epochs
    overrides = out.get("train_overrides")
    for per_model in overrides.values() if isinstance(overrides, dict) else []:
        for fields in per_model.values() if isinstance(per_model, dict) else []:
            if isinstance(fields, dict):
                fields.pop("epochs", None)
    return out


def with_train_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Each model's registered training defaults (``ModelSpec.train_defaults``: its paper's
    optimiser settings) beneath the settings the study gives it, so a study that names
    only the epochs of ``wgan-gp`` trains it as Gulrajani et al. did."""
    out = copy.deepcopy(raw)
    for name, entry in out["models"].items():
        if name in MODELS and isinstance(entry.get("train"), dict):
            entry["train"] = {**MODELS.get(name).train_defaults, **entry["train"]}
    return out


def resolve(raw: dict[str, Any]) -> StudyConfig:
    """Validate a raw study mapping, including every name and parameter it mentions. The
    plugins it lists (and installed ones) are imported first, so their names are known,
    and each model's training defaults then fill what the study leaves out."""
    config = validate_as(StudyConfig, raw)
    activate(config.plugins)
    config = validate_as(StudyConfig, with_train_defaults(raw))
    for dataset, params in config.datasets.items():
        check_dataset_params(dataset, params)
    for model, entry in config.models.items():
        check_params(MODELS.get(model).cls.__init__, entry.params, f"model {model!r}", skip=2)
    for metric in config.metrics:
        METRICS.get(metric)
    for name in config.features:
        FEATURES.get(name)
    for name, entry in config.external.items():
        if name in config.models or name == "oracle":
            raise GenbenchError(f"external.{name}: the name is taken by a model of the study (or the oracle); "
                                f"give the samples another name")
        if entry.dataset is None and len(config.datasets) != 1:
            raise GenbenchError(f"external.{name}: the study has {len(config.datasets)} datasets; say which one "
                                f"the samples are of ({{dataset: ..., sources: [...]}})")
        if config.external_dataset(name) not in config.datasets:
            raise GenbenchError(f"external.{name}: dataset {entry.dataset!r} is not one of the study's: "
                                f"{', '.join(config.datasets)}")
    for dataset, per_model in config.train_overrides.items():
        if dataset not in config.datasets:
            raise GenbenchError(f"train_overrides names dataset {dataset!r}, which the study does not use")
        for model in per_model:
            if model not in config.models:
                raise GenbenchError(f"train_overrides.{dataset} names model {model!r}, which the study does not use")
            config.train_settings(dataset, model)
    return config
