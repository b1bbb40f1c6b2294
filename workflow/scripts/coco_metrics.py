"""COCO bbox and segm metrics of one model on COCO val2017."""

from segshift import metrics, workflow
from segshift.evaluation import bootstrap
from segshift.io import write_json


def main(snakemake):
    result, values = metrics.coco_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        engine=snakemake.params.engine,
        score_threshold=snakemake.params.score_threshold,
        domain=snakemake.wildcards.domain,
        resampling=snakemake.params.bootstrap,
    )
    bootstrap.write_values(snakemake.output.resamples, values, snakemake.params.bootstrap, result["counts"]["images"])
    write_json(snakemake.output.metrics, result)


workflow.run(snakemake, main)
