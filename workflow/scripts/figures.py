"""One figure (PNG and PDF) from metric files; which one is the output's name."""

from pathlib import Path

from segshift import figures, workflow
from segshift.io import read_json


def main(snakemake):
    inputs, params = snakemake.input, snakemake.params
    stem = Path(snakemake.output.png).with_suffix("")
    name = snakemake.rule
    if name == "transfer_gap_figure":
        same_ruler = {m: {d: read_json(f) for d, f in zip(figures.DOMAINS, pair)}
                      for m, pair in zip(params.labels, _pairs(inputs.same_ruler))}
        fig = figures.transfer_gap(params.labels, same_ruler)
    elif name == "model_pair_figure":
        same_ruler = {m: {d: read_json(f) for d, f in zip(figures.DOMAINS, pair)}
                      for m, pair in zip(params.labels, _pairs(inputs.same_ruler))}
        cityscapes = {m: read_json(f) for m, f in zip(params.labels, inputs.cityscapes)}
        fig = figures.model_pair(params.labels, same_ruler, cityscapes, params.models)
    else:
        same_ruler = {d: read_json(f) for d, f in zip(figures.DOMAINS, inputs.same_ruler)}
        label = params.labels[snakemake.wildcards.model]
        if name == "per_class_ap_figure":
            cityscapes = {p: read_json(f) for p, f in zip(params.rider_policies, inputs.cityscapes)}
            fig = figures.per_class_ap(label, same_ruler, cityscapes)
        elif name == "ap_by_size_figure":
            shares = {d: figures.size_shares(read_json(f), d) for d, f in zip(figures.DOMAINS, inputs.ground_truth)}
            fig = figures.ap_by_size(label, same_ruler, shares)
        else:
            fig = figures.pr_curves(label, same_ruler)
    figures.save(fig, stem)


def _pairs(files):
    """[coco, cityscapes] per model, from the flat list the rule's input function gives."""
    files = list(files)
    return [files[i : i + 2] for i in range(0, len(files), 2)]


workflow.run(snakemake, main)
