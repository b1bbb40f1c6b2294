"""One metric table as CSV, Markdown and LaTeX; which one is the output's name."""

from pathlib import Path

from segshift import tables, workflow
from segshift.evaluation import bootstrap
from segshift.io import read_json


def main(snakemake):
    params, name = snakemake.params, Path(snakemake.output.csv).stem
    metrics = [] if name == "boundary_ap" else [read_json(path) for path in snakemake.input]
    if name in ("transfer_gap", "transfer_matrix", "robustness", "model_comparison"):
        resamples = {(m["model"], m["domain"], tables.protocol(m)): bootstrap.read_values(bootstrap.resamples_path(path))[0]
                     for m, path in zip(metrics, snakemake.input)}
    if name in ("effective_robustness", "synthetic_vs_real"):
        resamples = tables.across_models_resamples(metrics, snakemake.input)
    if name == "boundary_ap":
        diagnostics = [read_json(path) for path in snakemake.input.diagnostics]
        same_ruler = [read_json(path) for path in snakemake.input.same_ruler]
        resamples = {(m["model"], m["domain"], tables.protocol(m)): bootstrap.read_values(bootstrap.resamples_path(path))[0]
                     for m, path in zip(diagnostics + same_ruler, [*snakemake.input.diagnostics, *snakemake.input.same_ruler])}
        tidy, layout = tables.boundary_table(diagnostics, same_ruler, params.labels, params.source, resamples=resamples,
                                             correction=params.correction)
    elif name == "errors":
        tidy, layout = tables.errors_table(metrics, params.labels)
    elif name == "calibration":
        tidy, layout = tables.calibration_table(metrics, params.labels)
    elif name == "confusions":
        tidy, layout = tables.confusion_table(metrics, params.labels)
    elif name == "coco_metrics":
        tidy, layout = tables.coco_table(metrics, params.labels, params.score_threshold, params.engine)
    elif name == "cityscapes_metrics":
        tidy, layout = tables.cityscapes_table(metrics, params.labels, params.class_mapping, params.engine)
    elif name == "transfer_gap":
        tidy, layout = tables.transfer_gap_table(metrics, params.labels, params.source, resamples=resamples,
                                                 correction=params.correction)
    elif name == "transfer_matrix":
        tidy, layout = tables.transfer_matrix(metrics, params.labels, params.domains, params.source, resamples=resamples)
    elif name == "effective_robustness":
        tidy, layout = tables.effective_robustness_table(metrics, params.labels, params.families, params.source,
                                                         params.domains, params.suites, resamples=resamples)
    elif name == "synthetic_vs_real":
        tidy, layout = tables.synthetic_vs_real_table(metrics, params.labels, params.source, list(params.targets),
                                                      params.suites, params.pairs, resamples=resamples)
    elif name == "ranking":
        tidy, layout = tables.ranking_table(metrics, params.labels, params.source, params.domains, params.suites,
                                            params.correction)
    elif name == "model_comparison":
        tidy, layout = tables.comparison_table(metrics, params.labels, params.pairs, resamples=resamples,
                                               correction=params.correction)
    else:
        tidy, layout = tables.robustness_table(metrics, params.labels, params.suites, resamples=resamples,
                                               correction=params.correction)
    tables.write(Path(snakemake.output.csv).with_suffix(""), tidy, layout)


workflow.run(snakemake, main)
