"""COCO-style metrics of one model on the classes a domain shares with the source."""

from segshift import metrics, workflow
from segshift.evaluation import bootstrap
from segshift.io import write_json


def main(snakemake):
    params = snakemake.params
    result, values = metrics.same_ruler_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        snakemake.input.source_ground_truth,
        domain=snakemake.wildcards.domain,
        resampling=snakemake.params.bootstrap,
        kind=params.kind,
        source=params.source,
        source_kind=params.source_kind,
        engine=params.engine,
        score_threshold=params.score_threshold,
        ignore_regions=params.ignore_regions,
    )
    bootstrap.write_values(snakemake.output.resamples, values, snakemake.params.bootstrap, result["counts"]["images"])
    write_json(snakemake.output.metrics, result)


workflow.run(snakemake, main)
