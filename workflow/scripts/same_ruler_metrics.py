"""COCO-style metrics of one model on the 7 shared classes, on either dataset."""

from segshift import metrics, workflow
from segshift.io import write_json


def main(snakemake):
    result = metrics.same_ruler_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        snakemake.wildcards.dataset,
        engine=snakemake.params.engine,
        score_threshold=snakemake.params.score_threshold,
    )
    write_json(snakemake.output[0], result)


workflow.run(snakemake, main)
