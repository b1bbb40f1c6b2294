"""Corruption robustness: mPC and rPC of each suite (Michaelis et al. 2019), with intervals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segshift.evaluation import intervals
from segshift.tables.layout import (
    CI,
    Layout,
    _interval_note,
    _models_note,
    _resampled,
    _setting,
    adjusted,
    estimate,
    family_note,
    protocol,
    summary_key,
)

ROBUSTNESS_COLUMNS = ["model", "label", "suite", "domain", "protocol", "iou_type", "corruption", "severity", "metric", "value",
                      *CI, "p_value", "p_adjusted"]
FAMILY = ["protocol", "iou_type"]  # one table's tests of corruption against clean, per ruler


def robustness_table(files: list[dict], labels: dict[str, str], suites: dict[str, dict], iou_type: str = "segm",
                     resamples: dict | None = None, correction: str = "holm") -> tuple[pd.DataFrame, Layout]:
    """mPC (mean AP over corruptions and severities) and rPC (mPC / clean AP) of each suite, with the mean AP
    per corruption and per severity (Michaelis et al. 2019), on the same ruler and the dataset's own protocol.

    Intervals: a suite's domains are its clean domain's images, so one resample draws the same images
    on every domain of the suite, and mPC and rPC are recomputed on each resample. p-values: paired
    tests of each mean (mPC, per corruption, per severity) against the clean AP (rPC shares mPC's),
    adjusted (`correction`) within each ruler and iou type's rows."""
    ap = {}  # (model, domain, protocol, iou_type) -> (AP, its resampled values or None)
    for m in files:
        kinds = ["segm"] if m["metric"] == "cityscapes" else list(m["results"])
        for kind in kinds:
            key = summary_key(m, kind)
            value = m["results"]["mean"]["AP"] if m["metric"] == "cityscapes" else m["results"][kind]["summary"]["AP"]
            ap[(m["model"], m["domain"], protocol(m), kind)] = (value, _resampled(resamples, m, key))
    setting = _setting(files)
    rows, layout_rows = [], []
    protocols = list(dict.fromkeys(k[2] for k in ap))
    columns = list(dict.fromkeys(d["corruption"]["name"] for e in suites.values() for d in e["members"].values()))
    for suite, entry in suites.items():
        members = {name: domain_entry["corruption"] for name, domain_entry in entry["members"].items()}
        for model in labels:
            for protocol_name in protocols:
                for kind in ("bbox", "segm"):
                    clean = ap.get((model, entry["domain"], protocol_name, kind))
                    got = {name: ap.get((model, name, protocol_name, kind)) for name in members}
                    if clean is None or clean[0] is None or any(v is None or v[0] is None for v in got.values()):
                        continue
                    triples = [(members[n]["name"], members[n]["severity"], v[0]) for n, v in got.items()]
                    stats = mpc(clean[0], triples)
                    draws = [clean[1]] + [v[1] for v in got.values()]
                    spread = {}
                    if all(d is not None for d in draws):
                        resampled = mpc(clean[1], [(c, sev, got[n][1]) for n, (c, sev, _) in zip(got, triples)])
                        spread = _intervals_of(resampled, clean[1], setting)
                        spread["AP"] = (*intervals.interval(clean[1], setting), None)
                    ci = lambda key: spread.get(key, (None, None, None))  # noqa: E731
                    head = [model, labels[model], suite, entry["domain"], protocol_name, kind]
                    cells = [("none", 0, "AP", clean[0], "AP"), ("all", "all", "mPC", stats["mPC"], "mPC"),
                             ("all", "all", "rPC", stats["rPC"], "rPC")]
                    cells += [(c, "all", "AP", v, ("per_corruption", c)) for c, v in stats["per_corruption"].items()]
                    cells += [("all", sev, "AP", v, ("per_severity", sev)) for sev, v in stats["per_severity"].items()]
                    first = len(rows)
                    rows += [head + [c, sev, metric, value, *ci(key)] for c, sev, metric, value, key in cells]
                    if kind == iou_type:
                        at = {key: first + k for k, (*_, key) in enumerate(cells)}
                        layout_rows.append([labels[model], suite, protocol_name, (clean[0], ci("AP"), None),
                                            (stats["mPC"], ci("mPC"), at["mPC"]), (stats["rPC"], ci("rPC"), at["rPC"])]
                                           + [(stats["per_corruption"].get(c), ci(("per_corruption", c)),
                                               at.get(("per_corruption", c))) for c in columns])
    tidy = pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS[:-1])
    # rPC tests what mPC tests (mPC = clean AP): one test, counted once in its family.
    tests = tidy.assign(p_value=tidy["p_value"].where(tidy["metric"] != "rPC"))
    tests, sizes = adjusted(tests, FAMILY, correction)
    is_rpc = (tidy["metric"] == "rPC").to_numpy()
    p_adjusted = tests["p_adjusted"].to_numpy().copy()
    p_adjusted[is_rpc] = p_adjusted[np.flatnonzero(is_rpc) - 1]  # the mPC row just before
    tidy = tidy.assign(p_adjusted=p_adjusted)

    def cell(value, spread, row):
        return estimate(value, spread[:2], p_adjusted=p_adjusted[row] if row is not None else float("nan"),
                        confidence=setting.confidence)

    layout_rows = [r[:3] + [cell(*c) for c in r[3:]] for r in layout_rows]
    shown = {k: v for k, v in sizes.items() if k.endswith(f" {iou_type}")}
    layout = Layout(
        caption=f"Robustness to image corruptions ({iou_type}): clean AP, mPC (mean AP over corruptions and "
                "severities), rPC = mPC / clean AP, and the mean AP over severities of each corruption.",
        header=["Model", "Suite", "Protocol", "clean AP", "mPC", "rPC"] + columns,
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels), "rPC is shown in percent. Michaelis et al. 2019, 'Benchmarking Robustness in "
               "Object Detection'; corruptions from imagecorruptions-imaug."] + _interval_note(files)
        + ([family_note(correction, shown, setting.confidence, "a mean AP under corruption (mPC, rPC, a corruption) "
                        "that differs from the clean AP (paired: the same images)")] if any(shown.values()) else []),
    )
    return tidy, layout


def _intervals_of(resampled: dict, clean, setting) -> dict:
    """(low, high, p-value against the clean AP) of each resampled mean; rPC's p-value is mPC's."""
    def of(values, test):
        return (*intervals.interval(values, setting), intervals.difference(test, clean, setting)["p_value"])

    out = {"mPC": of(resampled["mPC"], resampled["mPC"])}
    out["rPC"] = (*intervals.interval(resampled["rPC"], setting), out["mPC"][2])
    for group in ("per_corruption", "per_severity"):
        for name, values in resampled[group].items():
            out[(group, name)] = of(values, values)
    return out


def mpc(clean, results: list[tuple[str, int, Any]]) -> dict[str, Any]:
    """mPC, rPC and the means per corruption and per severity from (corruption, severity, AP) triples.
    Each AP may be a number or an array of per-resample values (then every result is an array)."""
    values = np.array([r[2] for r in results], dtype=np.float64)  # (domains,) or (domains, resamples)
    corruptions = [r[0] for r in results]
    severities = [int(r[1]) for r in results]
    mean = values.mean(axis=0)
    clean = np.asarray(clean, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rpc = np.where(clean != 0, mean / np.where(clean != 0, clean, 1), np.nan)
    pick = lambda keys, key: values[[k == key for k in keys]].mean(axis=0)  # noqa: E731
    scalar = (lambda v: float(v)) if values.ndim == 1 else (lambda v: v)
    return {
        "mPC": scalar(mean),
        "rPC": scalar(rpc),
        "per_corruption": {c: scalar(pick(corruptions, c)) for c in dict.fromkeys(corruptions)},
        "per_severity": {s: scalar(pick(severities, s)) for s in sorted(set(severities))},
    }
