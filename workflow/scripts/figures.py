"""One figure (PNG and PDF) from metric files; which one is the rule's name."""

from pathlib import Path

from segshift import figures, tables, workflow
from segshift.evaluation import bootstrap
from segshift.io import read_json


def main(snakemake):
    inputs, params, w = snakemake.input, snakemake.params, snakemake.wildcards
    stem = Path(snakemake.output.png).with_suffix("")
    name = snakemake.rule
    if name == "corruption_figure":
        fig = figures.suite_figure(params.labels, w.suite, params.suites[w.suite], [read_json(f) for f in inputs])
        figures.save(fig, stem)
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
        label = params.labels[w.model]
        pair = same_ruler[w.model]
        if name == "per_class_ap_figure":
            cityscapes = {p: read_json(f) for p, f in zip(params.rider_policies, inputs.cityscapes)}
            fig = figures.per_class_ap(label, pair, cityscapes, params.domains, params.colors)
        elif name == "ap_by_size_figure":
            classes = figures.class_ids(figures.shared_classes(*pair.values()))
            shares = {}
            for d, f, kind in zip(domains, inputs.ground_truth, params.kinds):
                gt = read_json(f)
                shares[d] = {how: figures.size_shares(gt, kind, classes, relative=how == "relative")
                             for how in ("absolute", "relative")}
            fig = figures.ap_by_size(label, pair, shares, params.domains, params.colors)
        else:
            fig = figures.pr_curves(label, pair, params.domains, params.colors)
    figures.save(fig, stem)


workflow.run(snakemake, main)
