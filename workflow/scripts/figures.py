"""A rule's figure (PNG and PDF) from metric files, or a model's three transfer figures; the rule's
name says which."""

from pathlib import Path

import pandas as pd

from segshift import figures, tables, workflow
from segshift.evaluation import bootstrap
from segshift.io import read_json


def main(snakemake):
    inputs, params, w = snakemake.input, snakemake.params, snakemake.wildcards
    stem = Path(snakemake.output[0]).with_suffix("")  # the PNG; its PDF beside it
    name = snakemake.rule
    if name == "slices_figure":
        table = pd.read_csv(inputs[0], keep_default_na=False, na_values=[""], dtype={"slice": str})
        figures.save(figures.slices(table, params.labels, params.title), stem)
        return
    if name == "ranking_figure":
        table = pd.read_csv(inputs[0], keep_default_na=False, na_values=[""])
        figures.save(figures.critical_difference(table[table["domains"] == w.domain_set], params.title), stem)
        return
    if name == "corruption_figure":
        fig = figures.suite_figure(params.labels, w.suite, params.suites[w.suite], [read_json(f) for f in inputs])
        figures.save(fig, stem)
        return
    if name in ("effective_robustness_figure", "synthetic_vs_real_figure"):
        figures.save(across_models_figure(name, inputs, params), stem)
        return
    if name in DIAGNOSTIC_FIGURES:
        figures.save(diagnostic_figure(name, inputs, params, w), stem)
        return
    domains = [w.domain, w.other_domain] if "other_domain" in w.keys() else [params.source] + list(params.targets)
    files = iter(inputs.same_ruler)
    same_ruler = {m: {d: read_json(next(files)) for d in domains} for m in params.labels}
    if name == "transfer_gap_figure":
        files = list(same_ruler[m][d] for m in params.labels for d in domains)
        resamples = {(m["model"], m["domain"], "same_ruler"): bootstrap.read_values(bootstrap.resamples_path(path))[0]
                     for m, path in zip(files, inputs.same_ruler)}
        gaps, _ = tables.transfer_gap_table(files, params.labels, params.source, resamples=resamples)
        fig = figures.transfer_gap(params.labels, same_ruler, params.source, list(params.targets), params.domains, gaps)
    elif name == "model_pair_figure":
        cityscapes = {m: read_json(f) for m, f in zip(params.labels, inputs.cityscapes)}
        fig = figures.model_pair(params.labels, same_ruler, cityscapes, params.models, params.domains)
    else:
        transfer_figures(inputs, params, w, domains, same_ruler[w.model], snakemake.output)
        return
    figures.save(fig, stem)


def transfer_figures(inputs, params, w, domains, pair, output):
    """One model's per-class AP, AP by object size and precision-recall curves on a domain pair."""
    label = params.labels[w.model]
    cityscapes = {p: read_json(f) for p, f in zip(params.rider_policies, inputs.cityscapes)}
    figures.save(figures.per_class_ap(label, pair, cityscapes, params.domains, params.colors),
                 Path(output.per_class_ap).with_suffix(""))
    classes = figures.class_ids(figures.shared_classes(*pair.values()))
    shares = {}
    for d, f, kind in zip(domains, inputs.ground_truth, params.kinds):
        gt = read_json(f)
        shares[d] = {how: figures.size_shares(gt, kind, classes, relative=how == "relative")
                     for how in ("absolute", "relative")}
    figures.save(figures.ap_by_size(label, pair, shares, params.domains, params.colors),
                 Path(output.ap_by_size).with_suffix(""))
    figures.save(figures.pr_curves(label, pair, params.domains, params.colors), Path(output.pr_curves).with_suffix(""))


def across_models_figure(name, inputs, params):
    if name == "synthetic_vs_real_figure":
        return figures.synthetic_vs_real(pd.read_csv(inputs[0], keep_default_na=False, na_values=[""]), params.domains)
    metrics = [read_json(path) for path in inputs]
    target = params.target
    shift, result = tables.target_population(metrics, params.labels, params.source, target["targets"], target["suites"],
                                             tables.across_models_resamples(metrics, inputs))
    return figures.effective_robustness(params.labels, params.families, target["title"], result, shift.metric)


DIAGNOSTIC_FIGURES = ("errors_figure", "boundary_ap_figure", "reliability_figure", "confusion_figure")


def diagnostic_figure(name, inputs, params, w):
    if name == "confusion_figure":
        files = {m["model"]: m for m in map(read_json, inputs)}
        return figures.confusion(params.labels, files, params.title)
    paths = inputs.diagnostics if name == "boundary_ap_figure" else inputs
    diagnostics = {}
    for m in map(read_json, paths):
        diagnostics.setdefault(m["model"], {})[m["domain"]] = m
    if name == "errors_figure":
        return figures.errors(params.labels, diagnostics, params.domains)
    if name == "reliability_figure":
        return figures.reliability(params.labels, diagnostics, params.domains, params.colors)
    same_ruler, resamples = {}, {}
    for m, path in [(read_json(p), p) for p in [*inputs.diagnostics, *inputs.same_ruler]]:
        if m["metric"] == "same_ruler":
            same_ruler.setdefault(m["model"], {})[m["domain"]] = m
        resamples[(m["model"], m["domain"], tables.protocol(m))] = bootstrap.read_values(bootstrap.resamples_path(path))[0]
    gaps, _ = tables.boundary_table([d for v in diagnostics.values() for d in v.values()],
                                    [d for v in same_ruler.values() for d in v.values()], params.labels, params.source,
                                    resamples=resamples)
    return figures.boundary_ap(params.labels, diagnostics, same_ruler, params.source, params.domains, gaps)


workflow.run(snakemake, main)
