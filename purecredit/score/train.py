"""Training a county's credit models from the lake: persons by segment, enterprises in two
layers, each model cross-validated, calibrated, tested out of time, registered and reported.

For every segment (a pooled `person` model, `person_trader`, `person_farmer`,
`person_salaried`, `person_other`, and `enterprise_only`):

1. both models are cross-validated on the training dates, 5 folds grouped by subject (a
   borrower's quarters never straddle a fold), the scorecard selecting by IV, stability
   across the dates and correlation;
2. both are fitted on every training row and calibrated on their out-of-fold PDs;
3. both meet the out-of-time sample, a later year they never saw;
4. both are registered; the champion is the better by cross-validated AUC (the scorecard on
   a tie), as the development evidence says, not the out-of-time test, which stays a test;
5. each gets a validation report beside its `model.json`.

A segment with too few bads to fit alone is scored by the pooled person model: a model on 40
bads would be noise with a registry entry.

The enterprise model is the two-layer one (`two_layer`): the enterprise-only champion's PD and
the legal representative's PD from the pooled person champion, stacked on the enterprise
model's out-of-fold PDs. It is registered as `enterprise` and compared in its report with the
enterprise-only model on the same out-of-time rows.

On a synthetic county, given its directory, each report and registry entry also carries the
ceiling (`ceiling.Ceiling`): what the county's true PD reaches on the same out-of-time rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from purecredit.core.errors import Invalid
from purecredit.ingest.catalog import Catalog
from purecredit.profile.compute import prepare
from purecredit.profile.feature import Kind
from purecredit.score.calibration import Calibrator
from purecredit.score.ceiling import Ceiling
from purecredit.score.challenger import Challenger
from purecredit.score.compiled import CompiledChallenger, CompiledScorecard
from purecredit.score.fit import MODELS, CrossValidation, cross_validate, folds, ks_statistic
from purecredit.score.master_scale import MASTER_SCALE
from purecredit.score.registry import RegisteredModel, frame_sha256, register
from purecredit.score.sample import (
    PERSON_SEGMENTS,
    Dates,
    build_sample,
    characteristics,
    observation_dates,
)
from purecredit.score.scorecard import MARKET_SCALING, PointsScaling, Scorecard
from purecredit.score.stability import characteristic_psi
from purecredit.score.two_layer import LEGAL_REP_PREFIX, Linked, TwoLayer
from purecredit.score.validation import (
    Sample,
    discrimination,
    iv_table,
    psi,
    render,
    scorecard_frame,
)
from purecredit.store.lake import Lake
from purecredit.store.spark import BatchSql

MIN_BADS = 100  # a segment needs this many bads in training to get models of its own
REPORT_FILE = "validation.html"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelFigures:
    """One registered model and how it did."""

    segment: str
    version: str
    kind: str
    champion: bool
    cv_auc: float | None
    oot_auc: float
    oracle_auc: float | None
    report: Path

    def as_json(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "version": self.version,
            "kind": self.kind,
            "champion": self.champion,
            "cv_auc": self.cv_auc,
            "oot_auc": self.oot_auc,
            "oracle_auc": self.oracle_auc,
            "report": str(self.report),
        }


@dataclass
class TrainReport:
    dates: Dates
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # sample -> (rows, bads)
    models: list[ModelFigures] = field(default_factory=list)
    pooled: list[str] = field(default_factory=list)  # segments scored by the pooled model

    def as_json(self) -> dict[str, Any]:
        return {
            "train_dates": [d.isoformat() for d in self.dates.train],
            "oot_date": self.dates.oot.isoformat(),
            "rows": self.rows,
            "pooled_segments": self.pooled,
            "models": [m.as_json() for m in self.models],
        }


def columns_of(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """A frame's columns as the compiled scorers take them."""
    return {name: frame[name].to_numpy() for name in names}


@dataclass
class _Fitted:
    """One segment's two models, fitted and measured."""

    cv: CrossValidation
    compiled: dict[str, CompiledScorecard | CompiledChallenger]
    calibrators: dict[str, Calibrator]
    scorecard: Scorecard
    oof_pd: dict[str, np.ndarray]
    oot_pd: dict[str, np.ndarray]


class _Trainer:
    def __init__(
        self,
        home: Path,
        ceiling: Ceiling | None,
        progress: Progress,
        n_folds: int,
        seed: int,
        scaling: PointsScaling,
    ) -> None:
        self.scaling = scaling
        self.home = home
        self.ceiling = ceiling
        self.progress = progress
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, segment: str, frame: pd.DataFrame, names: list[str]) -> _Fitted:
        train = frame[frame["sample"] == "train"].reset_index(drop=True)
        oot = frame[frame["sample"] == "oot"].reset_index(drop=True)
        y = train["bad"].to_numpy(dtype=int)
        periods = train["as_of"].astype(str).to_numpy()
        cv = cross_validate(
            train[[*names, "bad"]],
            "bad",
            n_folds=self.n_folds,
            seed=self.seed,
            periods=periods,
            groups=train["subject"].to_numpy(),
            on_fold=lambda step: self.progress(f"{segment}: {step}"),
        )
        self.progress(f"{segment}: final fit")
        scorecard = self.scaling.scorecard().fit(train[names], y, periods)
        challenger = Challenger(trends=scorecard.monotone_trends(), seed=self.seed)
        challenger.fit(train[names], y)
        compiled: dict[str, CompiledScorecard | CompiledChallenger] = {
            "scorecard": CompiledScorecard.compile(scorecard),
            "lightgbm": CompiledChallenger.compile(challenger),
        }
        calibrators = {
            name: Calibrator(n_folds=self.n_folds, seed=self.seed).fit(cv.models[name].oof, y)
            for name in MODELS
        }
        oof_pd = {name: calibrators[name].apply(cv.models[name].oof) for name in MODELS}
        oot_pd = {
            name: calibrators[name].apply(compiled[name].pd_batch(columns_of(oot, names)))
            for name in MODELS
        }
        return _Fitted(cv, compiled, calibrators, scorecard, oof_pd, oot_pd)

    def register(
        self,
        segment: str,
        kind: Kind,
        frame: pd.DataFrame,
        names: list[str],
        fitted: _Fitted,
        dates: Dates,
    ) -> dict[str, RegisteredModel]:
        """Register both models, the champion marked; write their validation reports."""
        train = frame[frame["sample"] == "train"].reset_index(drop=True)
        oot = frame[frame["sample"] == "oot"].reset_index(drop=True)
        y_oot = oot["bad"].to_numpy(dtype=int)
        oracle = self._oracle(kind, oot)
        data_hash = frame_sha256(frame[["subject", "as_of", "bad", *names]])
        sc = fitted.scorecard
        dev = scorecard_frame(sc, train[names])
        recent = scorecard_frame(sc, oot[names])
        drift = characteristic_psi(sc.binning_, sc.selected_, dev, recent)
        out: dict[str, RegisteredModel] = {}
        for name in MODELS:
            cv = fitted.cv.models[name]
            oot_auc = float(roc_auc_score(y_oot, fitted.oot_pd[name]))
            model = register(
                self.home,
                segment,
                scorer=fitted.compiled[name],
                calibrator=fitted.calibrators[name],
                metrics={
                    "cv_auc": cv.cv_auc,
                    "cv_ks": cv.cv_ks,
                    "oot_auc": oot_auc,
                    "oracle_auc": oracle,
                },
                data_sha256=data_hash,
                data_hash_of="csv dump of the training sample's keys, label and characteristics",
                extra={
                    "population": kind,
                    "train_dates": [d.isoformat() for d in dates.train],
                    "oot_date": dates.oot.isoformat(),
                    "rows": len(train),
                    "bad": int(train["bad"].sum()),
                    "oot_rows": len(oot),
                    "oot_bad": int(y_oot.sum()),
                    "oot_ks": ks_statistic(y_oot, fitted.oot_pd[name]),
                    "selection": dict(sorted(sc.selection_.items())),
                    "cross_validation": fitted.cv.as_json(),
                },
                make_champion=name == fitted.cv.champion,
            )
            self._report(
                model,
                samples=[
                    Sample(
                        "development (out-of-fold)", train["bad"].to_numpy(), fitted.oof_pd[name]
                    ),
                    Sample(f"out-of-time {dates.oot}", y_oot, fitted.oot_pd[name]),
                ],
                iv=iv_table(sc.binning_, sc.selected_, sc.selection_),
                drift=drift,
                oracle=oracle,
            )
            out[name] = model
        return out

    def _oracle(self, kind: Kind, oot: pd.DataFrame) -> float | None:
        if self.ceiling is None:
            return None
        return self.ceiling.auc(kind, oot["subject"], oot["as_of"], oot["bad"].to_numpy(dtype=int))

    def _report(
        self,
        model: RegisteredModel,
        *,
        samples: list[Sample],
        iv: pd.DataFrame,
        drift: pd.DataFrame | None,
        oracle: float | None,
        comparisons: dict[str, dict[str, float]] | None = None,
        notes: list[str] | None = None,
    ) -> Path:
        facts = {
            "segment": model.segment,
            "version": model.version,
            "kind": model.kind,
            "features": ", ".join(model.features),
            "created_at": model.doc["created_at"],
            **{k: v for k, v in model.metrics.items() if v is not None},
        }
        return render(
            model.path.with_name(REPORT_FILE),
            title=f"Validation: {model.segment} {model.version} ({model.kind})",
            model=facts,
            samples=samples,
            scale=MASTER_SCALE,
            iv=iv,
            characteristics_psi=drift,
            score_psi=psi(samples[0].pd_bad, samples[-1].pd_bad),
            oracle_auc=oracle,
            comparisons=comparisons,
            notes=notes,
        )


def _figures(model: RegisteredModel, champion: bool) -> ModelFigures:
    m = model.metrics
    return ModelFigures(
        segment=model.segment,
        version=model.version,
        kind=model.kind,
        champion=champion,
        cv_auc=m.get("cv_auc"),
        oot_auc=float(m["oot_auc"] or 0.0),
        oracle_auc=m.get("oracle_auc"),
        report=model.path.with_name(REPORT_FILE),
    )


def _counts(frame: pd.DataFrame) -> dict[str, int]:
    return {
        "train": int((frame["sample"] == "train").sum()),
        "train_bad": int(frame.loc[frame["sample"] == "train", "bad"].sum()),
        "oot": int((frame["sample"] == "oot").sum()),
        "oot_bad": int(frame.loc[frame["sample"] == "oot", "bad"].sum()),
    }


def train_county(
    lake: Lake,
    catalog: Catalog,
    home: Path,
    *,
    ceiling: Ceiling | None = None,
    progress: Progress | None = None,
    n_folds: int = 5,
    seed: int = 0,
    memory: str = "4GB",
    con: BatchSql | None = None,
    min_bads: int = MIN_BADS,
    scaling: PointsScaling = MARKET_SCALING,
) -> TrainReport:
    """Build the training samples from the lake, fit, validate and register every model.
    A person segment with fewer than `min_bads` training bads is left to the pooled model.
    `scaling` is the scorecards' points scaling (`PointsScaling.from_settings`)."""
    step = progress or (lambda _: None)
    con = con or prepare(lake, catalog, step, memory=memory)
    dates = observation_dates(con)
    trainer = _Trainer(home, ceiling, step, n_folds, seed, scaling)
    report = TrainReport(dates)

    step("person sample")
    persons = build_sample(con, "person", dates)
    step("enterprise sample")
    firms = build_sample(con, "enterprise", dates)
    # Both samples are checked before anything is registered: a lake that cannot train every
    # model leaves the registry as it was.
    for kind, frame in (("person", persons), ("enterprise", firms)):
        report.rows[kind] = _counts(frame)
        _check_trainable(kind, report.rows[kind], n_folds)
    person_names = characteristics("person", catalog)
    pooled, _ = _fit_and_register(trainer, report, "person", "person", persons, person_names, dates)
    for segment in PERSON_SEGMENTS:
        rows = persons[persons["segment"] == segment]
        name = f"person_{segment}"
        report.rows[name] = _counts(rows)
        if report.rows[name]["train_bad"] < min_bads or report.rows[name]["oot"] == 0:
            report.pooled.append(name)
            continue
        _fit_and_register(trainer, report, name, "person", rows, person_names, dates)

    own_names = [
        n for n in characteristics("enterprise", catalog) if not n.startswith(LEGAL_REP_PREFIX)
    ]
    own, fitted = _fit_and_register(
        trainer, report, "enterprise_only", "enterprise", firms, own_names, dates
    )
    _two_layer(trainer, report, firms, own, fitted, pooled, dates)
    return report


def _check_trainable(kind: str, rows: dict[str, int], n_folds: int) -> None:
    """Enough bads and goods for every fold, and an out-of-time sample with both."""
    train_good = rows["train"] - rows["train_bad"]
    oot_good = rows["oot"] - rows["oot_bad"]
    if min(rows["train_bad"], train_good) < 2 * n_folds or min(rows["oot_bad"], oot_good) < 1:
        raise Invalid(
            f"too few {kind} outcomes to train on: {rows['train_bad']} bad of {rows['train']} "
            f"in training, {rows['oot_bad']} bad of {rows['oot']} out of time",
            field=kind,
        )


def _fit_and_register(
    trainer: _Trainer,
    report: TrainReport,
    segment: str,
    kind: Kind,
    frame: pd.DataFrame,
    names: list[str],
    dates: Dates,
) -> tuple[RegisteredModel, _Fitted]:
    """Fit and register a segment's two models; returns the champion and the fit (its
    out-of-fold PDs are what the two-layer stack learns from)."""
    fitted = trainer.fit(segment, frame, names)
    models = trainer.register(segment, kind, frame, names, fitted, dates)
    for name, model in models.items():
        report.models.append(_figures(model, name == fitted.cv.champion))
    return models[fitted.cv.champion], fitted


def _two_layer(
    trainer: _Trainer,
    report: TrainReport,
    firms: pd.DataFrame,
    enterprise: RegisteredModel,
    fitted: _Fitted,
    person: RegisteredModel,
    dates: Dates,
) -> None:
    """Stack the enterprise-only champion and the representatives' person PDs; register the
    result as `enterprise` with a report comparing it to the enterprise-only model."""
    trainer.progress("enterprise: two-layer")
    train = firms[firms["sample"] == "train"].reset_index(drop=True)
    oot = firms[firms["sample"] == "oot"].reset_index(drop=True)
    y = train["bad"].to_numpy(dtype=int)
    y_oot = oot["bad"].to_numpy(dtype=int)
    best = fitted.cv.champion
    linked_untrained = Linked(enterprise, person, TwoLayer(0.0, 1.0, 0.0, 0.0))
    _, rep_train = linked_untrained.layers(columns_of(train, linked_untrained.features))
    stack = TwoLayer.fit(fitted.oof_pd[best], rep_train, y)
    linked = Linked(enterprise, person, stack)
    combined_train = stack.predict(fitted.oof_pd[best], rep_train)
    # The stack's output is a PD already; its calibrator is refitted on the stacked training
    # PDs (cross-fitted inside `Calibrator`) so every registered model carries one the same way.
    calibrator = Calibrator(n_folds=trainer.n_folds, seed=trainer.seed).fit(combined_train, y)
    oot_columns = columns_of(oot, linked.features)
    combined_oot = calibrator.apply(linked.pd_batch(oot_columns))
    oracle = trainer._oracle("enterprise", oot)
    cv_auc = _cv_auc_of_stack(fitted.oof_pd[best], rep_train, y, trainer)
    model = register(
        trainer.home,
        "enterprise",
        scorer=linked,
        calibrator=calibrator,
        metrics={
            "cv_auc": cv_auc,
            "cv_ks": ks_statistic(y, combined_train),
            "oot_auc": float(roc_auc_score(y_oot, combined_oot)),
            "oracle_auc": oracle,
        },
        data_sha256=frame_sha256(firms[["subject", "as_of", "bad", *linked.features]]),
        data_hash_of="csv dump of the training sample's keys, label and characteristics",
        extra={
            "population": "enterprise",
            "method": "logistic stack of logit PD(enterprise-only champion) and logit "
            "PD(legal representative, pooled person champion), fitted on out-of-fold "
            "enterprise PDs",
            "stack": stack.to_dict(),
            "train_dates": [d.isoformat() for d in dates.train],
            "oot_date": dates.oot.isoformat(),
            "rows": len(train),
            "bad": int(y.sum()),
            "oot_rows": len(oot),
            "oot_bad": int(y_oot.sum()),
        },
        make_champion=True,
    )
    alone = fitted.oot_pd[best]
    comparisons = {
        f"enterprise-only ({enterprise.kind})": _figures_of(y_oot, alone),
        "two-layer (enterprise + legal representative)": _figures_of(y_oot, combined_oot),
    }
    trainer._report(
        model,
        samples=[
            Sample("development (stacked out-of-fold)", y, combined_train),
            Sample(f"out-of-time {dates.oot}", y_oot, combined_oot),
        ],
        iv=iv_table(
            fitted.scorecard.binning_, fitted.scorecard.selected_, fitted.scorecard.selection_
        ),
        drift=None,
        oracle=oracle,
        comparisons=comparisons,
        notes=[
            f"Stack weights: intercept {stack.intercept:.3f}, enterprise log-odds "
            f"{stack.w_own:.3f}, representative log-odds {stack.w_rep:.3f}, no representative "
            f"{stack.w_none:.3f}.",
            "The IV table is the enterprise-only scorecard's (the first layer).",
        ],
    )
    report.models.append(_figures(model, True))


def _cv_auc_of_stack(own: np.ndarray, rep: np.ndarray, y: np.ndarray, trainer: _Trainer) -> float:
    """Mean AUC of the stack refitted on each fold of the (already out-of-fold) layer PDs."""
    aucs = []
    for train, test in folds(y, trainer.n_folds, trainer.seed):
        stack = TwoLayer.fit(own[train], rep[train], y[train])
        aucs.append(float(roc_auc_score(y[test], stack.predict(own[test], rep[test]))))
    return float(np.mean(aucs))


def _figures_of(y: np.ndarray, pd_bad: np.ndarray) -> dict[str, float]:
    d = discrimination(y, pd_bad)
    return {k: d[k] for k in ("auc", "gini", "ks", "brier")}
