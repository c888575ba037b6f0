"""The model registry (issue 5, "Registry and validation"): fitted models saved in a plain,
versioned, verifiable form under `<home>/models`.

Layout::

    <home>/models/<segment>/v1/model.json
    <home>/models/<segment>/v2/model.json
    <home>/models/<segment>/champion        {"version": "v1"}

`model.json` holds the model's `kind` and its compiled form under `scorer`: a scorecard
(`CompiledScorecard.to_json`, parsed), a LightGBM challenger (`CompiledChallenger.to_dict`),
or a two-layer enterprise model (the segment, version and content hash of its enterprise and
person models, and the stacking weights; loading verifies each part), the
calibrator (`Calibrator.to_dict`), the master scale table, the features, the metrics
(`cv_auc`, `cv_ks`, `oot_auc`, `oracle_auc`; None when unknown), the SHA-256 of the training
data, the package version, `created_at`, and `content_hash`: the SHA-256 of the canonical JSON
(sorted keys, no spaces, UTF-8) of every other key. `load` recomputes it and refuses a file
that does not match. Versions are numbered per segment; the first model of a segment becomes
its champion, `promote` switches. Files are written to a temporary name and moved into place
(`os.replace`), so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import tempfile
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from purecredit.core.errors import Invalid, NotFound
from purecredit.score.calibration import Calibrator
from purecredit.score.challenger import Challenger
from purecredit.score.compiled import CompiledChallenger, CompiledScorecard
from purecredit.score.fit import CrossValidation, cross_validate, labelled
from purecredit.score.master_scale import MASTER_SCALE, MasterScale
from purecredit.score.reasons import Reason
from purecredit.score.scorecard import MARKET_SCALING, PointsScaling
from purecredit.score.two_layer import Linked, TwoLayer

FORMAT = 1
KINDS = ("scorecard", "lightgbm", "two_layer")
MODEL_FILE = "model.json"
CHAMPION_FILE = "champion"
METRIC_KEYS = ("cv_auc", "cv_ks", "oot_auc", "oracle_auc")

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VERSION = re.compile(r"^v([1-9][0-9]*)$")


# --- hashes ----------------------------------------------------------------------------------


def canonical_json(doc: Any) -> bytes:
    """The bytes the content hash is taken of: sorted keys, no whitespace, UTF-8, no NaN."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def content_hash(doc: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of every key of `doc` except `content_hash`."""
    body = {k: v for k, v in doc.items() if k != "content_hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (how the CLI hashes the table it was given)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a canonical CSV dump of a frame: `to_csv(index=False)` with "\\n" line ends,
    UTF-8 (for a frame that did not come from a file)."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- paths -----------------------------------------------------------------------------------


def models_dir(home: Path) -> Path:
    return Path(home) / "models"


def _checked_segment(segment: str) -> str:
    if not _SEGMENT.match(segment):
        raise Invalid(
            f"segment {segment!r} must be letters, digits, '_', '.' or '-' (at most 64)",
            field="segment",
        )
    return segment


def _version_number(version: str) -> int:
    found = _VERSION.match(version)
    if found is None:
        raise Invalid(f"version {version!r} is not of the form v1, v2, ...", field="version")
    return int(found.group(1))


def _versions(segment_dir: Path) -> list[str]:
    """The segment's versions, in order (directories named v<n> holding a model file)."""
    if not segment_dir.is_dir():
        return []
    found = [
        p.name
        for p in segment_dir.iterdir()
        if _VERSION.match(p.name) and (p / MODEL_FILE).exists()
    ]
    return sorted(found, key=_version_number)


def _write_atomic(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- the registered model --------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredModel:
    """A loaded `model.json`: the compiled scorer and its calibrator, ready to score, and the
    record that came with them (`doc`, the file's JSON as read)."""

    segment: str
    version: str
    path: Path
    scorer: CompiledScorecard | CompiledChallenger | Linked
    calibrator: Calibrator
    master_scale: MasterScale
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def features(self) -> list[str]:
        return [str(f) for f in self.doc["features"]]

    @property
    def metrics(self) -> dict[str, float | None]:
        return dict(self.doc["metrics"])

    @property
    def content_hash(self) -> str:
        return str(self.doc["content_hash"])

    def pd_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Calibrated 12-month PD of each row."""
        return self.calibrator.apply(self.scorer.pd_batch(columns))

    @property
    def reason_scale(self) -> float:
        """Units of a reason's impact per unit of log-odds: points for a scorecard."""
        return self.scorer.factor if isinstance(self.scorer, CompiledScorecard) else 1.0

    def pd_one(self, record: Mapping[str, object]) -> float:
        """Calibrated 12-month PD of one applicant, without pandas (a decision's path)."""
        return float(self.calibrator.apply([self.scorer.pd_one(record)])[0])

    def grade_of(self, pd_bad: float) -> str:
        """`MasterScale.grade` of one PD, by bisection on the same bounds (its
        `searchsorted(side="right")`): a decision's path, where numpy's set-up for one value
        cost more than the search."""
        if not 0.0 <= pd_bad <= 1.0:  # NaN too
            raise Invalid("PDs must be numbers in [0, 1]")
        scale = self.master_scale
        return str(scale.labels[bisect_right(scale.uppers, pd_bad, hi=len(scale.uppers) - 1)])

    def reasons_one(self, record: Mapping[str, object], *, top: int = 4) -> list[Reason]:
        return self.scorer.reasons_one(record, top=top)

    def reasons(self, columns: Mapping[str, np.ndarray], *, top: int = 4) -> list[list[Reason]]:
        """Each row's reason codes, largest first (`reasons` explains how each kind ranks)."""
        return self.scorer.reasons_batch(columns, top=top)

    def grade_batch(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Master scale grade of each row."""
        return self.master_scale.grade(self.pd_batch(columns))


def _scale_table(scale: MasterScale) -> list[dict[str, Any]]:
    return scale.table()


def _scale_from_table(rows: list[dict[str, Any]]) -> MasterScale:
    return MasterScale(
        labels=tuple(str(r["grade"]) for r in rows),
        uppers=tuple(float(r["pd_high"]) for r in rows),
    )


def _from_doc(
    home: Path, doc: dict[str, Any], segment: str, version: str, path: Path
) -> RegisteredModel:
    return RegisteredModel(
        segment=segment,
        version=version,
        path=path,
        scorer=_scorer_from_doc(home, doc),
        calibrator=Calibrator.from_dict(doc["calibrator"]),
        master_scale=_scale_from_table(doc["master_scale"]),
        doc=doc,
    )


def _scorer_from_doc(
    home: Path, doc: dict[str, Any]
) -> CompiledScorecard | CompiledChallenger | Linked:
    kind = doc.get("kind")
    if kind == "scorecard":
        return CompiledScorecard.from_json(json.dumps(doc["scorer"]))
    if kind == "lightgbm":
        return CompiledChallenger.from_dict(doc["scorer"])
    if kind == "two_layer":
        spec = doc["scorer"]
        parts = {role: _part(home, spec[role]) for role in ("enterprise", "person")}
        return Linked(parts["enterprise"], parts["person"], TwoLayer.from_dict(spec["stack"]))
    raise Invalid(f"unknown model kind {kind!r}", field="kind")


def _part(home: Path, ref: Mapping[str, Any]) -> RegisteredModel:
    """A two-layer model's component, which must be exactly the one it was fitted with."""
    model = load(home, str(ref["segment"]), str(ref["version"]))
    if model.content_hash != ref["content_hash"]:
        raise Invalid(
            f"model {ref['segment']}/{ref['version']} is not the one the two-layer model was "
            "fitted with (content hash differs)",
            field="version",
        )
    return model


def _ref(model: RegisteredModel) -> dict[str, str]:
    return {"segment": model.segment, "version": model.version, "content_hash": model.content_hash}


def _scorer_doc(
    scorer: CompiledScorecard | CompiledChallenger | Linked,
) -> tuple[str, Any, list[str]]:
    """(kind, saved form, features) of a compiled model."""
    if isinstance(scorer, CompiledScorecard):
        return "scorecard", json.loads(scorer.to_json()), list(scorer.names)
    if isinstance(scorer, CompiledChallenger):
        return "lightgbm", scorer.to_dict(), [*scorer.numeric, *scorer.text]
    parts = (scorer.enterprise, scorer.person)
    if not all(isinstance(p, RegisteredModel) for p in parts):
        raise Invalid("a two-layer model is registered from registered parts", field="scorer")
    spec = {
        "enterprise": _ref(scorer.enterprise),  # type: ignore[arg-type]
        "person": _ref(scorer.person),  # type: ignore[arg-type]
        "stack": scorer.stack.to_dict(),
    }
    return "two_layer", spec, scorer.features


def register(
    home: Path,
    segment: str,
    *,
    scorer: CompiledScorecard | CompiledChallenger | Linked,
    calibrator: Calibrator,
    metrics: Mapping[str, float | None],
    data_sha256: str,
    data_hash_of: str,
    master_scale: MasterScale = MASTER_SCALE,
    extra: Mapping[str, Any] | None = None,
    make_champion: bool = False,
) -> RegisteredModel:
    """Save a model as the segment's next version; the first of a segment becomes champion,
    and so does this one when `make_champion`. `data_hash_of` says what `data_sha256` was
    taken of (e.g. "file bytes"). `extra` is stored as is under `training` (JSON-ready: e.g.
    the cross-validation figures)."""
    _checked_segment(segment)
    unknown = set(metrics) - set(METRIC_KEYS)
    if unknown:
        raise Invalid(f"unknown metrics: {', '.join(sorted(unknown))}", field="metrics")
    kind, saved, features = _scorer_doc(scorer)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "segment": segment,
        "kind": kind,
        "scorer": saved,
        "calibrator": calibrator.to_dict(),
        "master_scale": _scale_table(master_scale),
        "features": features,
        "metrics": {k: (None if metrics.get(k) is None else metrics[k]) for k in METRIC_KEYS},
        "data_sha256": data_sha256,
        "data_hash_of": data_hash_of,
        "package_version": importlib.metadata.version("purecredit"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": dict(extra or {}),
    }
    segment_dir = models_dir(home) / segment
    segment_dir.mkdir(parents=True, exist_ok=True)
    # Claim the next version with mkdir, which fails if another writer took it first.
    number = max(
        (_version_number(p.name) for p in segment_dir.iterdir() if _VERSION.match(p.name)),
        default=0,
    )
    while True:
        number += 1
        version = f"v{number}"
        try:
            (segment_dir / version).mkdir()
            break
        except FileExistsError:
            continue
    doc["version"] = version
    doc["content_hash"] = content_hash(doc)
    path = segment_dir / version / MODEL_FILE
    _write_atomic(path, json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n")
    if make_champion or not (segment_dir / CHAMPION_FILE).exists():
        _write_champion(segment_dir, version)
    return _from_doc(home, doc, segment, version, path)


def load(home: Path, segment: str, version: str | None = None) -> RegisteredModel:
    """A registered model, its content hash verified; `version` None means the champion."""
    _checked_segment(segment)
    if version is None:
        version = champion(home, segment)
        if version is None:
            raise NotFound(f"no models registered for segment {segment!r}", field="segment")
    _version_number(version)
    path = models_dir(home) / segment / version / MODEL_FILE
    if not path.is_file():
        raise NotFound(f"no model {segment}/{version} (looked for {path})", field="version")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"model file {path} is not valid JSON: {exc}", record=str(path)) from None
    if not isinstance(doc, dict) or "content_hash" not in doc:
        raise Invalid(f"model file {path} has no content hash", record=str(path))
    expected = content_hash(doc)
    if doc["content_hash"] != expected:
        raise Invalid(
            f"model file {path} fails its content check (recorded {doc['content_hash']}, "
            f"content hashes to {expected}): it was changed after registration",
            record=str(path),
        )
    if doc.get("segment") != segment or doc.get("version") != version:
        raise Invalid(f"model file {path} records another segment or version", record=str(path))
    return _from_doc(home, doc, segment, version, path)


# --- champion --------------------------------------------------------------------------------


def _write_champion(segment_dir: Path, version: str) -> None:
    _write_atomic(segment_dir / CHAMPION_FILE, json.dumps({"version": version}) + "\n")


def champion(home: Path, segment: str) -> str | None:
    """The segment's champion version, None if the segment has no models."""
    path = models_dir(home) / _checked_segment(segment) / CHAMPION_FILE
    if not path.is_file():
        return None
    try:
        version = json.loads(path.read_text(encoding="utf-8"))["version"]
    except (ValueError, KeyError, TypeError):
        raise Invalid(f"champion file {path} is not valid", record=str(path)) from None
    return str(version)


def scoring_segment(home: Path, kind: str, segment: str) -> str:
    """The registry segment whose champion scores a subject: a person segment's own model
    where one is promoted, else the pooled person model; a firm, the two-layer enterprise
    model. Decisions and post-loan rescoring choose alike."""
    if kind == "enterprise":
        return "enterprise"
    own = f"person_{segment}"
    return own if champion(home, own) is not None else "person"


def promote(home: Path, segment: str, version: str) -> RegisteredModel:
    """Make `version` the segment's champion; the model is loaded (and verified) first."""
    model = load(home, segment, version)
    _write_champion(models_dir(home) / segment, version)
    return model


def list_models(home: Path) -> list[dict[str, Any]]:
    """Every registered model, by segment then version: `segment`, `version`, `champion`
    (bool), `metrics`, `created_at`, `content_hash`. Each file is verified as it is read."""
    root = models_dir(home)
    if not root.is_dir():
        return []
    out: list[dict[str, Any]] = []
    for segment_dir in sorted(p for p in root.iterdir() if p.is_dir() and _SEGMENT.match(p.name)):
        segment = segment_dir.name
        best = champion(home, segment)
        for version in _versions(segment_dir):
            model = load(home, segment, version)
            out.append(
                {
                    "segment": segment,
                    "version": version,
                    "champion": version == best,
                    "kind": model.kind,
                    "metrics": model.metrics,
                    "created_at": model.doc["created_at"],
                    "content_hash": model.content_hash,
                }
            )
    return out


# --- fit and register ------------------------------------------------------------------------


def fit_and_register(
    frame: pd.DataFrame,
    target: str,
    *,
    home: Path,
    segment: str,
    bad: object = 1,
    id_column: str | None = None,
    n_folds: int = 5,
    seed: int = 0,
    data_sha256: str | None = None,
    data_hash_of: str = "file bytes",
    on_fold: Callable[[str], None] | None = None,
    scaling: PointsScaling = MARKET_SCALING,
) -> tuple[CrossValidation, list[RegisteredModel]]:
    """Cross-validate both models (`cross_validate`), fit each on every labelled row,
    calibrate it on its out-of-fold probabilities (the same folds), compile and register it:
    the scorecard and the LightGBM challenger as two versions of the segment, the one with the
    higher CV AUC made champion. `data_sha256` None means a canonical CSV dump of `frame` is
    hashed (`frame_sha256`); otherwise it is recorded as given, with `data_hash_of` saying of
    what. (A table has no later period to test on: `oot_auc` and `oracle_auc` stay null.)
    `scaling` is the scorecard's points scaling (`PointsScaling.from_settings`).
    """
    _checked_segment(segment)
    result = cross_validate(
        frame, target, bad=bad, id_column=id_column, n_folds=n_folds, seed=seed, on_fold=on_fold
    )
    features, y = labelled(frame, target, bad=bad, id_column=id_column)
    scorecard = scaling.scorecard().fit(features, y)
    challenger = Challenger(trends=scorecard.monotone_trends(), seed=seed).fit(features, y)
    compiled: dict[str, CompiledScorecard | CompiledChallenger] = {
        "scorecard": CompiledScorecard.compile(scorecard),
        "lightgbm": CompiledChallenger.compile(challenger),
    }
    if data_sha256 is None:
        data_sha256, data_hash_of = frame_sha256(frame), "csv dump of frame"
    models = []
    for name, scorer in compiled.items():
        cv = result.models[name]
        calibrator = Calibrator(n_folds=n_folds, seed=seed).fit(cv.oof, y)
        models.append(
            register(
                home,
                segment,
                scorer=scorer,
                calibrator=calibrator,
                metrics={
                    "cv_auc": cv.cv_auc,
                    "cv_ks": cv.cv_ks,
                    "oot_auc": None,
                    "oracle_auc": None,
                },
                data_sha256=data_sha256,
                data_hash_of=data_hash_of,
                extra={
                    "target": target,
                    "bad": str(bad),
                    "id_column": id_column,
                    "n_folds": n_folds,
                    "seed": seed,
                    "selection": dict(sorted(scorecard.selection_.items())),
                    "cross_validation": result.as_json(),
                },
                make_champion=name == result.champion,
            )
        )
    return result, models
