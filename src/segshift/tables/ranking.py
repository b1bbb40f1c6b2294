"""Ranking models across many domains: is one model more robust than another across shifts?

Per-domain intervals answer "on this domain"; this table answers "across these domains", with the
domains as the sample (Demsar 2006): the Friedman test and the Nemenyi critical difference for three
or more models, the Wilcoxon signed-rank test for two. Two sets of domains: every clean target, and
each suite's cells (corruption x severity). Two measures: the target's same-ruler AP, and the share
of the source AP it keeps on the same classes (what "more robust" means apart from "more accurate").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from segshift.evaluation import ranking
from segshift.tables.across_models import IOU_TYPES, shifts
from segshift.tables.layout import Layout, _confidence, _models_note, _setting, adjusted

RANKING_COLUMNS = ["domains", "measure", "iou_type", "test", "n_domains", "n_models", "statistic", "p_value",
                   "p_adjusted", "critical_difference", "model", "label", "mean_rank", "mean_value"]
MEASURES = {"AP": "target AP", "retained": "share of the source AP kept"}
FAMILY = ["iou_type", "measure"]
MIN_DOMAINS = 2
TARGETS = "targets"  # the set of every clean target; the others are named by their suite


def domain_sets(domains: dict[str, dict], source: str, suites: dict[str, dict]) -> dict[str, list[str]]:
    """The sets of domains a ranking runs over: the clean targets, and each suite's cells."""
    clean = [d for d in domains if d != source and not domains[d]["corruption"]]
    return {**({TARGETS: clean} if clean else {}), **{s: list(e["members"]) for s, e in suites.items()}}


def values(same_ruler: list[dict], labels: dict[str, str], source: str, members: list[str], iou_type: str
           ) -> dict[str, pd.DataFrame]:
    """Per measure: (domains, models) same-ruler values, NaN where a model has no file on a domain."""
    out = {m: pd.DataFrame(np.nan, index=members, columns=list(labels)) for m in MEASURES}
    for name, shift in shifts(same_ruler, labels, source, members, {}, None, iou_type).items():
        for k, model in enumerate(shift.models):
            out["AP"].loc[name, model] = shift.target[k]
            out["retained"].loc[name, model] = shift.target[k] / shift.source[k] if shift.source[k] > 0 else np.nan
    return out


def ranking_table(same_ruler: list[dict], labels: dict[str, str], source: str, domains: dict[str, dict],
                  suites: dict[str, dict], correction: str = "holm", iou_type: str = "segm"
                  ) -> tuple[pd.DataFrame, Layout]:
    """One test per (set of domains, measure, iou type), with each model's mean rank (1 = best) and mean
    value; p-values adjusted within each (iou type, measure) family."""
    rows = []
    for set_name, members in domain_sets(domains, source, suites).items():
        for kind in IOU_TYPES:
            for measure, frame in values(same_ruler, labels, source, members, kind).items():
                frame = frame.dropna(axis=1, how="all").dropna(axis=0, how="any")  # complete domains of present models
                rows += _test_rows(set_name, measure, kind, frame, labels, 1 - _confidence(same_ruler))
    tidy = pd.DataFrame(rows, columns=[c for c in RANKING_COLUMNS if c != "p_adjusted"])
    tests = tidy.drop_duplicates(["domains", "measure", "iou_type"])
    tests, sizes = adjusted(tests, FAMILY, correction)
    tidy = tidy.merge(tests[["domains", "measure", "iou_type", "p_adjusted"]], on=["domains", "measure", "iou_type"],
                      how="left")[RANKING_COLUMNS]
    return tidy, _layout(tidy, labels, iou_type, correction, sizes, same_ruler)


def _test_rows(set_name: str, measure: str, kind: str, frame: pd.DataFrame, labels: dict, alpha: float) -> list:
    models, n = list(frame.columns), len(frame)
    head = [set_name, measure, kind]
    if len(models) < 2 or n < MIN_DOMAINS:
        return []
    v = frame.to_numpy(dtype=np.float64)
    mean_ranks = np.apply_along_axis(stats.rankdata, 1, -v).mean(axis=0)
    if len(models) >= 3:
        result = ranking.friedman(v, alpha)
        test = ["friedman", n, len(models), result.statistic, result.p_value, result.critical_difference]
    else:
        differences = v[:, 0] - v[:, 1]
        if not np.any(differences):
            statistic, p = np.nan, 1.0  # identical on every domain: nothing to rank
        else:
            statistic, p = ranking.wilcoxon(v[:, 0], v[:, 1])
        test = ["wilcoxon", n, 2, statistic, p, np.nan]
    return [head + test + [m, labels[m], float(r), float(np.mean(v[:, k]))]
            for k, (m, r) in enumerate(zip(models, mean_ranks))]


def _family_note(correction: str, families: dict, confidence: float) -> str:
    from segshift.evaluation.intervals import CORRECTION_NAMES

    sizes = "; ".join(f"{name}: {size}" for name, size in families.items() if size)
    return (f"* marks a test whose p-value, adjusted by {CORRECTION_NAMES[correction]} within its family (one iou "
            f"type and measure over the sets of domains), is below {1 - confidence:.2g}; families (tests): {sizes}.")


def _layout(tidy: pd.DataFrame, labels: dict, iou_type: str, correction: str, sizes: dict, same_ruler: list) -> Layout:
    shown = tidy[tidy["iou_type"] == iou_type]
    model_columns = [m for m in labels if m in set(shown["model"])]
    rows = []
    for (set_name, measure), group in shown.groupby(["domains", "measure"], sort=False):
        first = group.iloc[0]
        ranks = dict(zip(group["model"], group["mean_rank"]))
        p = first["p_adjusted"]
        mark = "*" if np.isfinite(p) and p < 1 - _setting(same_ruler).confidence else ""
        rows.append(["every clean target" if set_name == TARGETS else f"{set_name}'s cells", MEASURES[measure], "Friedman" if first["test"] == "friedman" else "Wilcoxon",
                     int(first["n_domains"]), f"{first['p_value']:.3g}", f"{p:.3g}{mark}",
                     None if not np.isfinite(first["critical_difference"]) else f"{first['critical_difference']:.2f}"]
                    + [None if m not in ranks else f"{ranks[m]:.2f}" for m in model_columns])
    notes = [
        _models_note(labels),
        "Mean rank over the set's domains, 1 = best (ties share their mean rank); per domain, each model's "
        f"same-ruler {iou_type} AP on the classes the domain shares with the source, or that AP over its source AP on "
        "the same classes (share kept). Friedman test over domains with the Nemenyi critical difference (CD): two "
        "models whose mean ranks differ by more than CD differ (Demsar 2006); with two models, the Wilcoxon "
        "signed-rank test over domains (exact below 50 domains; with fewer than 6 domains its two-sided p-value cannot "
        "fall below 0.05). Domains missing a model's results are left out of its set.",
        "These tests take the domains as the sample: they condition on the models' measured numbers (not on their "
        "intervals) and say nothing about shifts outside the set. A suite's cells share their images and corruption "
        "kinds, so they are not independent draws of shifts: read a suite's p-value as a summary of these cells.",
    ]
    if len(shown) and shown["n_domains"].min() < 10:
        notes.append("Below 10 domains Friedman's chi-square p-value is an approximation (Demsar 2006 suggests "
                     "10 or more) and the critical difference is wide: few domains rarely separate models.")
    if sizes:
        notes.append(_family_note(correction, sizes, _setting(same_ruler).confidence))
    return Layout(
        caption=f"Ranking the models across domains ({iou_type}): mean ranks and whether they differ.",
        header=["Domains", "Measure", "Test", "domains", "p", "p adjusted", "CD"] + [labels[m] for m in model_columns],
        rows=rows,
        numeric_from=3,
        notes=notes,
    )
