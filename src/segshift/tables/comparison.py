"""Model pairs compared on the same images (paired bootstrap)."""

from __future__ import annotations

import pandas as pd

from segshift.evaluation import intervals
from segshift.tables.layout import (
    CI,
    Layout,
    Ratio,
    _difference,
    _finite,
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

COMPARISON_COLUMNS = ["model", "other_model", "domain", "protocol", "iou_type", "category", "metric", "value", "other_value",
                      "difference", *CI, "sign_flips", "excludes_zero", "p_value", "p_adjusted"]
FAMILY = ["iou_type", "metric", "level"]  # a table's tests of one number: summary or per class


def comparison_table(files: list[dict], labels: dict[str, str], pairs: list[list[str]], resamples: dict | None = None,
                     iou_type: str = "segm", correction: str = "holm") -> tuple[pd.DataFrame, Layout]:
    """Each model pair on each domain: the difference of every summary and per-class AP, with its paired
    bootstrap interval (both models scored on the same resampled images), the share of resamples
    where the difference changes sign, and its two-sided p-value, adjusted (`correction`) within its
    family: the table's differences of one number (iou type, metric, summary or per class)."""
    by_key = {(m["model"], m["domain"], protocol(m)): m for m in files}
    setting = _setting(files)
    domains = list(dict.fromkeys(m["domain"] for m in files))
    rows, layout_rows = [], []
    for model, other in pairs:
        for domain in domains:
            for name in dict.fromkeys(k[2] for k in by_key if k[1] == domain):
                a, b = by_key.get((model, domain, name)), by_key.get((other, domain, name))
                if a is None or b is None:
                    continue
                kinds = ["segm"] if a["metric"] == "cityscapes" else list(a["results"])
                for kind in kinds:
                    ra = a["results"] if a["metric"] == "cityscapes" else a["results"][kind]
                    rb = b["results"] if b["metric"] == "cityscapes" else b["results"][kind]
                    summary = "mean" if a["metric"] == "cityscapes" else "summary"
                    cells = [("all", metric) for metric in ra[summary]]
                    cells += [(c, "AP") for c in ra["per_class"] if c in rb["per_class"]]
                    for category, metric in cells:
                        va = ra[summary][metric] if category == "all" else ra["per_class"][category][metric]
                        vb = rb[summary].get(metric) if category == "all" else rb["per_class"][category][metric]
                        diff = _difference(va, vb)
                        key = summary_key(a, kind, metric, category)
                        xa, xb = _resampled(resamples, a, key), _resampled(resamples, b, key)
                        ci = intervals.difference(xa, xb, setting) if diff is not None and xa is not None \
                            and xb is not None else {}
                        rows.append([model, other, domain, name, kind, category, metric, va, vb, diff, ci.get("ci_low"),
                                     ci.get("ci_high"), ci.get("sign_flips"), ci.get("excludes_zero"), ci.get("p_value")])
                        if kind == iou_type and category == "all" and metric == "AP":
                            layout_rows.append([len(rows) - 1, f"{labels[model]} − {labels[other]}", domain, name, va, vb,
                                                diff, (ci.get("ci_low"), ci.get("ci_high")), ci.get("sign_flips")])
    tidy = pd.DataFrame(rows, columns=COMPARISON_COLUMNS[:-1])
    tidy, sizes = adjusted(tidy.assign(level=(tidy["category"] == "all").map({True: "summary", False: "per class"})),
                           FAMILY, correction)
    p_adjusted = tidy["p_adjusted"].to_numpy()
    layout_rows = [r[1:6] + [estimate(r[6], r[7], signed=True, p_adjusted=p_adjusted[r[0]],
                                      confidence=setting.confidence), r[8]] for r in layout_rows]
    layout = Layout(
        caption=f"Model pairs, paired on the same images: {iou_type} AP of each model and their difference.",
        header=["Pair", "Domain", "Protocol", "AP", "other AP", "difference", "sign flips"],
        rows=[r[:6] + [Ratio(r[6]) if _finite(r[6]) else None] for r in layout_rows],
        numeric_from=3,
        notes=[_models_note(labels), "sign flips: the share of resamples (in percent) where the difference has "
               "the other sign; results/tables/model_comparison.csv holds every class and metric."]
        + _interval_note(files) + ([family_note(correction, sizes, setting.confidence, "a difference")]
                                   if any(sizes.values()) else []),
    )
    return tidy[COMPARISON_COLUMNS], layout
