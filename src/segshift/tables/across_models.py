"""Across models: effective robustness on every target (and each suite's mPC), and whether the synthetic
corruptions rank the models as the real targets do. Same ruler only: a target and the source are
compared on the classes both annotate, as in the transfer gap table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from segshift import across_models
from segshift.evaluation import bootstrap
from segshift.tables.gaps import _class_mean, gap_values
from segshift.tables.layout import (
    CI,
    Estimate,
    Layout,
    Ratio,
    _confidence,
    _interval_note,
    _models_note,
    _omitted_note,
    _resampled,
    estimate,
    protocol,
)

EFFECTIVE_ROBUSTNESS_COLUMNS = ["target", "target_metric", "model", "label", "family", "backbone", "iou_type", "metric",
                                "value", *CI]


SYNTHETIC_VS_REAL_COLUMNS = ["target", "suite", "corruption", "severity", "pair", "best", "iou_type", "metric", "value",
                             *CI]


IOU_TYPES = ("bbox", "segm")


@dataclass
class Shift:
    """One target across models: each model's source AP on the classes the target shares with the
    source and its target AP (or mPC), with per-resample values where both domains were resampled."""

    name: str  # a domain, or a suite for its mPC
    metric: str  # AP or mPC
    classes: list[str]
    models: list[str]
    source: np.ndarray
    target: np.ndarray
    source_draws: np.ndarray | None  # (resamples, models)
    target_draws: np.ndarray | None

    def population(self, confidence: float) -> across_models.Population:
        return across_models.population(self.models, self.source, self.target, self.source_draws, self.target_draws,
                                        confidence)


def shifts(same_ruler: list[dict], labels: dict[str, str], source: str, targets: list[str], suites: dict[str, dict],
           resamples: dict | None = None, iou_type: str = "segm") -> dict[str, Shift]:
    """Each target domain and each suite (its mPC: the mean over its corrupted domains) across the models
    that have metric files on the source and on it, in the config's order."""
    files = {(m["model"], m["domain"]): m for m in same_ruler}
    out = {}
    for name, members in [(d, [d]) for d in targets] + [(s, list(e["members"])) for s, e in suites.items()]:
        models = [m for m in labels if (m, source) in files and all((m, d) in files for d in members)]
        if not models:
            continue
        xs, ys, x_draws, y_draws, classes = [], [], [], [], []
        for model in models:
            src = files[(model, source)]
            pairs = [gap_values(src, files[(model, d)], iou_type) for d in members]
            classes = pairs[0][1]  # the classes with ground truth on both sides (a suite's domains share theirs)
            xs.append(pairs[0][0]["all"][0])
            ys.append(float(np.mean([values["all"][1] for values, _ in pairs])))
            x_draws.append(_draws(resamples, src, iou_type, classes))
            member_draws = [_draws(resamples, files[(model, d)], iou_type, classes) for d in members]
            y_draws.append(None if any(d is None for d in member_draws) else np.mean(member_draws, axis=0))
        out[name] = Shift(name, "AP" if name in targets else "mPC", classes, models, np.array(xs), np.array(ys),
                          _stacked(x_draws), _stacked(y_draws))
    return out


def target_population(same_ruler: list[dict], labels: dict[str, str], source: str, targets: list[str],
                      suites: dict[str, dict], resamples: dict | None = None, iou_type: str = "segm"
                      ) -> tuple[Shift, across_models.Population]:
    """The one target (or suite) of a figure, and its effective robustness."""
    shift = next(iter(shifts(same_ruler, labels, source, targets, suites, resamples, iou_type).values()))
    return shift, shift.population(_confidence(same_ruler))


def across_models_resamples(same_ruler: list[dict], paths) -> dict:
    """The per-resample values these tables read, of each metric file: each class's AP and the summary AP
    (a tenth of the file's columns, read alone: a large suite's files fit in memory together). Only
    the resamples: these tables refit across models on joint resamples of several domains, and take
    percentile intervals (BCa's jackknife would have to leave out each domain's clusters in turn)."""
    out = {}
    for m, path in zip(same_ruler, paths):
        keys = [f"{kind}/{part}" for kind in IOU_TYPES
                for part in ["summary/AP", *(f"per_class/{c}/AP" for c in m["results"][kind]["per_class"])]]
        frame, meta = bootstrap.read_values(bootstrap.resamples_path(path), keys)
        out[(m["model"], m["domain"], protocol(m))] = frame.iloc[:meta.get("resamples", len(frame))]
    return out


def _draws(resamples: dict | None, m: dict, iou_type: str, classes: list[str]):
    """Per resample: the mean AP over some classes; None where the file's domain was not resampled."""
    if not classes or any(_resampled(resamples, m, f"{iou_type}/per_class/{c}/AP") is None for c in classes):
        return None
    return _class_mean(resamples, m, iou_type, "AP", classes)


def _stacked(columns: list) -> np.ndarray | None:
    return None if any(c is None for c in columns) else np.stack(columns, axis=1)


def _family(families: dict, model: str, key: str = "family"):
    return (families.get(model) or {}).get(key)


def effective_robustness_table(same_ruler: list[dict], labels: dict[str, str], families: dict[str, dict], source: str,
                               domains: dict[str, dict], suites: dict[str, dict], resamples: dict | None = None,
                               iou_type: str = "segm") -> tuple[pd.DataFrame, Layout]:
    """Each model's effective robustness on every target and each suite's mPC: its target AP minus the
    prediction at its source AP of the line of logit(target AP) on logit(source AP) fitted to the other
    models, with intervals from the joint resamples; each family's mean; the line through all models."""
    targets = [d for d in domains if d != source]
    confidence = _confidence(same_ruler)
    rows, results = [], {}
    for kind in IOU_TYPES:
        for name, shift in shifts(same_ruler, labels, source, targets, suites, resamples, kind).items():
            result = shift.population(confidence)
            results[(name, kind)] = (shift, result)
            rows += _population_rows(shift, result, labels, families, kind)
    shown = [d for d in targets if not domains[d]["corruption"]] + list(suites)
    layout_rows, lines = [], []
    declared = [f for f in dict.fromkeys(_family(families, m) for m in labels) if f]
    for name in shown:
        if (name, iou_type) not in results:
            continue
        shift, result = results[(name, iou_type)]
        target = name if shift.metric == "AP" else f"{name} (mPC)"
        for k, model in enumerate(shift.models):
            cell = (lambda what, values, signed=False: estimate(values[k], result.span(what, model), signed)  # noqa: E731
                    if result.fitted else None)
            layout_rows.append([target, labels[model], _family_text(families, model),
                                estimate(shift.source[k], result.span("source", model)),
                                estimate(shift.target[k], result.span("target", model)),
                                cell("predicted", result.predicted), cell("effective", result.effective, True)])
        for family in declared:
            members = [m for m in shift.models if _family(families, m) == family]
            if members and result.fitted:
                value, span = across_models.group_mean(result, members)
                layout_rows.append([target, f"mean of {len(members)}", family, None, None, None,
                                    estimate(value, span, signed=True)])
        if result.fitted:
            lines.append(f"{target}: logit(target) = {result.slope:.2f} logit(source) {result.intercept:+.2f}")
    models = len(labels)
    corrupted = [d for d in targets if domains[d]["corruption"]]
    notes = [
        _models_note(labels),
        "Same ruler, on the classes each target shares with the source (its transfer gap's classes). predicted: "
        "the line of logit(target AP) on logit(source AP) fitted to the other models (leave-one-out), at the "
        "model's source AP; effective robustness = target AP - predicted, in AP points (Taori et al. 2020; "
        "Miller et al. 2021). A suite's target is its mPC. APs are clipped to "
        f"[{100 * across_models.AP_FLOOR:g}, {100 * (1 - across_models.AP_FLOOR):g}] points before the logit.",
    ]
    if models < across_models.MIN_MODELS:
        notes.append(f"Fewer than {across_models.MIN_MODELS} models ({models}): no line is fitted, so there is no "
                     "effective robustness; add models.")
    if lines:
        notes.append("The line through every model: " + "; ".join(lines) + ".")
    notes.append("Each interval resamples the images of the source and of the target independently and refits the "
                 "line on every resample, so the line's own uncertainty is inside it; it is conditional on these "
                 "models and says nothing about models that were not run (with few models it is wide). The line is "
                 "a description of these models, not a cause.")
    if corrupted:
        notes.append(f"results/tables/effective_robustness.csv holds every corrupted domain too ({len(corrupted)}).")
    notes += _interval_note(same_ruler, difference=True, method="percentile")
    layout = Layout(
        caption=f"Effective robustness ({iou_type}): each model's target AP against the line that the other models' "
                "source and target APs predict.",
        header=["Target", "Model", "Family", "source AP", "target AP", "predicted", "effective robustness"],
        rows=layout_rows,
        numeric_from=3,
        notes=notes,
    )
    return pd.DataFrame(rows, columns=EFFECTIVE_ROBUSTNESS_COLUMNS), layout


def _family_text(families: dict, model: str) -> str | None:
    family, backbone = _family(families, model), _family(families, model, "backbone")
    return " / ".join(v for v in (family, backbone) if v) or None


def _population_rows(shift: Shift, result: across_models.Population, labels: dict, families: dict, kind: str) -> list:
    rows = []
    for k, model in enumerate(shift.models):
        head = [shift.name, shift.metric, model, labels[model], _family(families, model),
                _family(families, model, "backbone"), kind]
        rows.append(head + ["source_AP", shift.source[k], *result.span("source", model)])
        rows.append(head + ["target_AP", shift.target[k], *result.span("target", model)])
        if result.fitted:
            rows.append(head + ["predicted_AP", result.predicted[k], *result.span("predicted", model)])
            rows.append(head + ["effective_robustness", result.effective[k], *result.span("effective", model)])
    if result.fitted:
        head = [shift.name, shift.metric, None, None, None, None, kind]
        rows.append(head + ["slope", result.slope, *result.span("slope")])
        rows.append(head + ["intercept", result.intercept, *result.span("intercept")])
        for family in dict.fromkeys(_family(families, m) for m in shift.models):
            members = [m for m in shift.models if _family(families, m) == family]
            if family:
                value, span = across_models.group_mean(result, members)
                rows.append([shift.name, shift.metric, None, None, family, None, kind, "effective_robustness", value,
                             *span])
    return rows


# Synthetic vs real -------------------------------------------------------------------------------


class Correlation(Estimate):
    """A correlation with its interval, shown as +0.50 [-0.50, +1.00]."""

    def text(self) -> str:
        if self.low is None or self.high is None or np.isnan(self.low):
            return f"{self:+.2f}"
        return f"{self:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def _correlation(value, span):
    return None if value is None or np.isnan(value) else Correlation(value, *span)


@dataclass
class Candidate:
    """A corruption of a suite at one severity or averaged over its severities (severity "all"); corruption
    "all" averages over the suite's corruptions (at all severities: its mPC). Per model: that AP and the
    suite's clean AP."""

    suite: str
    corruption: str
    severity: int | str
    corrupted: np.ndarray
    clean: np.ndarray
    corrupted_draws: np.ndarray | None
    clean_draws: np.ndarray | None


def candidates(same_ruler: list[dict], models: list[str], suites: dict[str, dict], resamples: dict | None,
               iou_type: str) -> list[Candidate]:
    files = {(m["model"], m["domain"]): m for m in same_ruler}

    def summary(domains):
        values = [[files[(m, d)]["results"][iou_type]["summary"]["AP"] for d in domains] for m in models]
        draws = [[_resampled(resamples, files[(m, d)], f"{iou_type}/summary/AP") for d in domains] for m in models]
        mean = np.array([np.mean(np.array(v, dtype=np.float64)) for v in values])
        if any(d is None for per in draws for d in per):
            return mean, None
        return mean, np.stack([np.mean(per, axis=0) for per in draws], axis=1)

    out = []
    for suite, entry in suites.items():
        if not all((m, d) in files for m in models for d in [entry["domain"], *entry["members"]]):
            continue
        clean, clean_draws = summary([entry["domain"]])
        groups = []
        for corruption in entry["corruptions"]:
            of = {d: e["corruption"]["severity"] for d, e in entry["members"].items()
                  if e["corruption"]["name"] == corruption}
            groups += [(corruption, s, [d for d, sev in of.items() if sev == s]) for s in sorted(set(of.values()))]
            groups.append((corruption, "all", list(of)))
        severities = {d: e["corruption"]["severity"] for d, e in entry["members"].items()}
        groups += [("all", s, [d for d, sev in severities.items() if sev == s]) for s in sorted(set(severities.values()))]
        groups.append(("all", "all", list(entry["members"])))
        for corruption, severity, domains in groups:
            value, draws = summary(domains)
            out.append(Candidate(suite, corruption, severity, value, clean, draws, clean_draws))
    return out


def synthetic_vs_real_table(same_ruler: list[dict], labels: dict[str, str], source: str, targets: list[str],
                            suites: dict[str, dict], pairs: list[list[str]], resamples: dict | None = None,
                            iou_type: str = "segm") -> tuple[pd.DataFrame, Layout]:
    """For each real target and each corruption (per severity, averaged over severities, and each suite's
    mPC): across models, Spearman's rho and Kendall's tau between the models' AP under the corruption and
    on the target, and the mean absolute error of predicting each model's target AP as its source AP minus
    its drop under the corruption; the declared pairs (report.shift_pairs) and each target's best predictor."""
    confidence = _confidence(same_ruler)
    paired = {(c, d) for c, d in pairs}
    rows, table = [], {}
    for kind in IOU_TYPES:
        for target, shift in shifts(same_ruler, labels, source, targets, {}, resamples, kind).items():
            found = candidates(same_ruler, shift.models, suites, resamples, kind)
            errors, stats = [], []
            for c in found:
                stats.append(_agreement(shift, c, confidence))
                errors.append(stats[-1].pop("mae_draws"))
            mae = [s["mae"][0] for s in stats]
            best = int(np.nanargmin(mae)) if found and not np.isnan(mae).all() else None
            shares = across_models.best_share(np.stack(errors)) if found and all(e is not None for e in errors) \
                else np.full(len(found), np.nan)
            for k, (c, s) in enumerate(zip(found, stats)):
                head = [target, c.suite, c.corruption, c.severity, (c.corruption, target) in paired, k == best, kind]
                rows += [head + [metric, value, *span] for metric, (value, span) in s.items()]
                rows.append(head + ["best_share", shares[k], None, None])
                table[(target, kind, k)] = (c, s, shares[k], k == best)
    tidy = pd.DataFrame(rows, columns=SYNTHETIC_VS_REAL_COLUMNS)
    layout_rows = []
    for target in targets:
        picked = [(c, s, share, best) for (t, kind, _), (c, s, share, best) in table.items()
                  if t == target and kind == iou_type and ((c.corruption, target) in paired or best)]
        for c, s, share, best in picked:
            why = ", ".join(w for w, on in (("pair", (c.corruption, target) in paired), ("best MAE", best)) if on)
            layout_rows.append([target, c.suite, c.corruption, c.severity, why,
                                _correlation(*s["spearman"]), _correlation(*s["kendall"]),
                                estimate(*s["mae"]), Ratio(share) if np.isfinite(share) else None])
    models = len(labels)
    notes = [
        _models_note(labels),
        "Across models, on the same ruler: Spearman's rho and Kendall's tau (tau-b) between the models' AP under "
        "the corruption and their AP on the target (on the classes it shares with the source); MAE: the mean over "
        "models of |source AP - (clean AP - corrupted AP) - target AP|, in AP points (the corruption's drop taken "
        "as the prediction of the real one); best in: the share of resamples (percent) where that corruption has "
        "the lowest MAE. Severity all: the mean over the severities; corruption all: the mean over the suite's "
        "corruptions (both all: its mPC).",
        "Shown: the pairs of report.shift_pairs and each target's lowest MAE; results/tables/synthetic_vs_real.csv "
        "and the heatmap hold every target and corruption.",
        "Each interval resamples the images of every domain (the suite's domains share one draw); it is "
        "conditional on these models: with few models a correlation takes few values and its interval is wide.",
    ]
    if models < across_models.MIN_MODELS:
        notes.append(f"Fewer than {across_models.MIN_MODELS} models ({models}): no rank correlation (two models "
                     "always correlate at +1 or -1); add models.")
    notes += _interval_note(same_ruler, method="percentile")[:1] + _omitted_note(same_ruler)
    layout = Layout(
        caption=f"Synthetic vs real ({iou_type}): do the corruptions rank the models as the real targets do, and "
                "whose drop predicts the real drop best?",
        header=["Target", "Suite", "Corruption", "Severity", "Shown as", "Spearman rho", "Kendall tau", "MAE", "best in"],
        rows=layout_rows,
        numeric_from=5,
        notes=notes,
    )
    return tidy, layout


def _agreement(shift: Shift, c: Candidate, confidence: float) -> dict:
    """Spearman, Kendall and the drop's MAE of one candidate on one target, each (value, (low, high)), and
    the MAE's per-resample values (mae_draws, None without resamples)."""
    enough = len(shift.models) >= across_models.MIN_MODELS
    rho = across_models.spearman(c.corrupted, shift.target) if enough else np.nan
    tau = across_models.kendall(c.corrupted, shift.target) if enough else np.nan
    mae = across_models.drop_error(shift.source, shift.target, c.clean, c.corrupted)
    out = {"spearman": (float(rho), (None, None)), "kendall": (float(tau), (None, None)),
           "mae": (float(mae), (None, None)), "mae_draws": None}
    draws = [shift.source_draws, shift.target_draws, c.clean_draws, c.corrupted_draws]
    if any(d is None for d in draws):
        return out
    source, target, clean, corrupted = draws
    out["mae_draws"] = across_models.drop_error(source, target, clean, corrupted)
    out["mae"] = (float(mae), across_models.spread(out["mae_draws"], confidence))
    if enough:
        out["spearman"] = (float(rho), across_models.spread(across_models.spearman(corrupted, target), confidence))
        out["kendall"] = (float(tau), across_models.spread(across_models.kendall(corrupted, target), confidence))
    return out
