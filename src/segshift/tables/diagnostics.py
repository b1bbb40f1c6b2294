"""Why AP drops: TIDE errors, Boundary AP, calibration and confusions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segshift.tables.gaps import _gaps, adjusted_gaps, shown_family_note
from segshift.tables.layout import (
    CI,
    Layout,
    Ratio,
    _by_model,
    _class_list,
    _interval_note,
    _models_note,
    _setting,
    estimate,
    interval_of,
)

ERROR_COLUMNS = ["model", "label", "domain", "iou_type", "error", "delta_ap", "count", "AP50"]


CALIBRATION_COLUMNS = ["model", "label", "domain", "iou_type", "metric", "value", *CI, "detections"]


CONFUSION_COLUMNS = ["model", "label", "domain", "rider_policy", "ground_truth", "predicted", "count", "share"]


# Confusions a domain shift is expected to move: the look-alike classes COCO and Cityscapes share.
CONFUSION_PAIRS = [("car", "truck"), ("car", "bus"), ("truck", "car"), ("truck", "bus"), ("bus", "car"), ("bus", "truck"),
                   ("bicycle", "motorcycle"), ("motorcycle", "bicycle"), ("person", "rider"), ("rider", "person")]


ERROR_SHORT = {"classification": "cls", "localisation": "loc", "both": "both", "duplicate": "dupe",
               "background": "bkg", "missed": "miss", "false_positives": "FP", "false_negatives": "FN"}


def errors_table(files: list[dict], labels: dict[str, str]) -> tuple[pd.DataFrame, Layout]:
    """TIDE's errors per (model, domain, IoU type): the AP50 each would add if fixed, and how many there are."""
    rows, layout_rows = [], []
    for m in _by_model(files, labels):
        for kind in ("segm", "bbox"):
            errors = m["results"][kind]["errors"]
            for name, delta in errors["delta_ap"].items():
                rows.append([m["model"], labels[m["model"]], m["domain"], kind, name, delta, errors["counts"].get(name),
                             errors["AP50"]])
            layout_rows.append([labels[m["model"]], m["domain"], kind, errors["AP50"],
                                *[errors["delta_ap"][name] for name in ERROR_SHORT]])
    layout = Layout(
        caption="Why AP drops: TIDE's error decomposition (Bolya et al. 2020) at IoU 0.5, as the AP50 points each "
                "error type would add if it were fixed, on the classes each domain shares with the source.",
        header=["Model", "Domain", "IoU", "AP50", *ERROR_SHORT.values()],
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels),
               "cls: right place, wrong class; loc: right class, IoU 0.1-0.5; both: wrong class and IoU 0.1-0.5; "
               "dupe: a second detection of a found object; bkg: a detection on nothing (IoU < 0.1); miss: an object "
               "no detection comes near. FP and FN: every false positive removed, every missed object found (they "
               "overlap the others and do not add up with them). Counts are in results/tables/errors.csv.",
               "Computed by hotcoco's tide_errors; not resampled (one TIDE run per resample is too slow)."],
    )
    return pd.DataFrame(rows, columns=ERROR_COLUMNS), layout


def boundary_files(diagnostics: list[dict], same_ruler: list[dict], resamples: dict | None = None
                   ) -> tuple[list[dict], dict | None]:
    """Same-ruler files with the diagnostics' Boundary AP beside their mask AP (and its resamples: both
    files of a (model, domain) share their draws, so their columns join row by row)."""
    diag = {(m["model"], m["domain"]): m for m in diagnostics}
    files, joined = [], {}
    for m in same_ruler:
        d = diag[(m["model"], m["domain"])]
        files.append({**m, "results": {**m["results"], "boundary": d["results"]["boundary"]},
                      "intervals": {**m.get("intervals", {}), **d.get("intervals", {})}})
        if resamples:
            a, b = resamples.get((m["model"], m["domain"], "same_ruler")), resamples.get((m["model"], m["domain"], "diagnostics"))
            if a is not None and b is not None:
                joined[(m["model"], m["domain"], "same_ruler")] = pd.concat([a, b.drop(columns=list(a.columns), errors="ignore")],
                                                                            axis=1)
    return files, (joined if resamples else None)


def boundary_table(diagnostics: list[dict], same_ruler: list[dict], labels: dict[str, str], source: str,
                   resamples: dict | None = None, correction: str = "holm") -> tuple[pd.DataFrame, Layout]:
    """Boundary AP beside mask AP on every domain, and each one's gap to the source with its interval and
    p-value, adjusted within the table's gaps of one number (`correction`)."""
    files, resamples = boundary_files(diagnostics, same_ruler, resamples)
    tidy, compared = _gaps(files, labels, source, ("segm", "boundary"), ("AP", "AP50", "APs", "APm", "APl"), resamples)
    tidy, sizes = adjusted_gaps(tidy, correction)
    confidence = _setting(files).confidence
    tidy = tidy.assign(iou_type=tidy["iou_type"].replace({"segm": "mask"}))
    rows = []
    for m in _by_model(files, labels):
        values = [estimate(m["results"][kind]["summary"]["AP"], interval_of(m, f"{kind}/summary/AP"))
                  for kind in ("segm", "boundary")]
        gaps = []
        for kind in ("mask", "boundary"):
            found = tidy[(tidy.model == m["model"]) & (tidy.domain == m["domain"]) & (tidy.iou_type == kind)
                         & (tidy.metric == "AP") & (tidy.category == "all")]
            gaps.append(estimate(found["gap"].iat[0], (found["ci_low"].iat[0], found["ci_high"].iat[0]), signed=True,
                                 p_adjusted=found["p_adjusted"].iat[0], confidence=confidence) if len(found) else None)
        rows.append([labels[m["model"]], m["domain"], *values, *gaps])
    layout = Layout(
        caption="Boundary quality: Boundary AP (Cheng et al. 2021, dilation 0.02 of the image diagonal) beside mask AP, "
                f"and each one's gap to the source ({source}), on the classes each domain shares with the source.",
        header=["Model", "Domain", "mask AP", "Boundary AP", "mask gap", "Boundary gap"],
        rows=rows,
        numeric_from=2,
        notes=[_models_note(labels),
               "gap = AP on the source minus AP on the domain over the classes with ground truth in both: "
               + "; ".join(f"{d}: {_class_list(c)}" for d, c in compared.items()) + ".",
               "Boundary AP is COCO's AP with Boundary IoU (the smaller of mask IoU and the IoU of the boundary bands) "
               "in place of mask IoU, by faster-coco-eval."] + _interval_note(files)
        + shown_family_note(sizes, "segm", correction, confidence) + shown_family_note(sizes, "boundary", correction,
                                                                                        confidence),
    )
    return tidy, layout


def calibration_table(files: list[dict], labels: dict[str, str]) -> tuple[pd.DataFrame, Layout]:
    """Expected and maximum calibration error per (model, domain, IoU type), ECE with its interval."""
    rows, layout_rows = [], []
    for m in _by_model(files, labels):
        cells = []
        for kind in ("segm", "bbox"):
            c = m["results"][kind]["calibration"]
            for metric in ("ece", "mce"):
                low, high = interval_of(m, f"{kind}/{metric}")
                rows.append([m["model"], labels[m["model"]], m["domain"], kind, metric, c[metric], low, high,
                             c["detections"]])
            cells.append(estimate(c["ece"], interval_of(m, f"{kind}/ece")))
        c = m["results"]["segm"]["calibration"]
        layout_rows.append([labels[m["model"]], m["domain"], *cells, estimate(c["mce"]), c["detections"]])
    bins = next((m["provenance"]["settings"].get("calibration_bins") for m in files if "provenance" in m), None)
    layout = Layout(
        caption="Calibration: expected calibration error (ECE, in points) of the detection scores, a detection being "
                "right when it matches an object at IoU 0.5 (COCO's matching), on the classes each domain shares with "
                "the source.",
        header=["Model", "Domain", "ECE mask", "ECE box", "MCE mask", "detections"],
        rows=layout_rows,
        numeric_from=2,
        notes=[_models_note(labels),
               f"{bins or 'equal-width'} score bins; ECE: the bins' mean |confidence - accuracy| weighted by their "
               "detections; MCE: the largest. By hotcoco's calibration."] + _interval_note(files),
    )
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS), layout


def confusion_table(files: list[dict], labels: dict[str, str]) -> tuple[pd.DataFrame, Layout]:
    """Every cell of every confusion matrix (tidy), and the look-alike confusions as shares of the true class."""
    rows = []
    for m in _by_model(files, labels):
        for entry in m["results"]:
            names = entry["classes"] + ["background"]
            matrix = np.asarray(entry["matrix"], dtype=np.int64)
            totals = matrix.sum(1)
            for i, truth in enumerate(names):
                for j, predicted in enumerate(names):
                    if matrix[i, j] == 0:
                        continue
                    share = matrix[i, j] / totals[i] if truth != "background" else None
                    rows.append([m["model"], labels[m["model"]], m["domain"], entry["rider_policy"], truth, predicted,
                                 int(matrix[i, j]), share])
    tidy = pd.DataFrame(rows, columns=CONFUSION_COLUMNS)
    layout_rows = []
    for m in _by_model(files, labels):
        for entry in m["results"]:
            matrix = np.asarray(entry["matrix"], dtype=np.int64)
            index = {c: k for k, c in enumerate(entry["classes"])}
            cells = []
            for truth, predicted in CONFUSION_PAIRS:
                if truth not in index or predicted not in index:
                    cells.append(None)
                    continue
                total = matrix[index[truth]].sum()
                cells.append(Ratio(matrix[index[truth], index[predicted]] / total) if total else None)
            layout_rows.append([labels[m["model"]], m["domain"], entry["rider_policy"] or "–", *cells])
    layout = Layout(
        caption="Confusions among look-alike classes: of the objects of the first class, the share (in percent) "
                "whose match at mask IoU 0.5 is a detection of the second.",
        header=["Model", "Domain", "Rider policy", *[f"{a}→{b}" for a, b in CONFUSION_PAIRS]],
        rows=layout_rows,
        numeric_from=3,
        notes=[_models_note(labels),
               "COCO domains in COCO's classes (no rider); Cityscapes domains in Cityscapes' classes, predictions "
               "mapped by evaluation.class_mapping and riders found by each rider policy. Every cell, including "
               "missed objects and detections on nothing, is in results/tables/confusions.csv. By hotcoco's "
               "confusion_matrix."],
    )
    return tidy, layout
