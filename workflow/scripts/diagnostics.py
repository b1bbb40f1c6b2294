"""Boundary AP, TIDE errors, calibration and score distributions of one model on one domain."""

from segshift import metrics, workflow
from segshift.evaluation import bootstrap
from segshift.io import write_json


def main(snakemake):
    params = snakemake.params
    result, values = metrics.diagnostics_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        snakemake.input.source_ground_truth,
        domain=snakemake.wildcards.domain,
        kind=params.kind,
        source=params.source,
        source_kind=params.source_kind,
        score_threshold=params.score_threshold,
        ignore_regions=params.ignore_regions,
        dilation_ratio=params.dilation_ratio,
        calibration_bins=params.calibration_bins,
        resampling=params.bootstrap,
    )
    bootstrap.write_values(snakemake.output.resamples, values, params.bootstrap, result["counts"]["images"])
    write_json(snakemake.output.metrics, result)


workflow.run(snakemake, main)
