"""COCO bbox and segm metrics of one model on COCO val2017."""

from segshift import metrics, workflow
from segshift.io import write_json


def main(snakemake):
    result = metrics.coco_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        engine=snakemake.params.engine,
        score_threshold=snakemake.params.score_threshold,
        domain=snakemake.wildcards.domain,
    )
    write_json(snakemake.output[0], result)


workflow.run(snakemake, main)
