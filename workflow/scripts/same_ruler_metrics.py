"""COCO-style metrics of one model on the classes a domain shares with the source."""

from segshift import metrics, workflow
from segshift.io import write_json


def main(snakemake):
    params = snakemake.params
    result = metrics.same_ruler_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        snakemake.input.source_ground_truth,
        domain=snakemake.wildcards.domain,
        kind=params.kind,
        source=params.source,
        source_kind=params.source_kind,
        engine=params.engine,
        score_threshold=params.score_threshold,
        ignore_regions=params.ignore_regions,
    )
    write_json(snakemake.output[0], result)


workflow.run(snakemake, main)
