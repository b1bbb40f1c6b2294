"""Mask confusions at IoU 0.5 among the shared classes, of one model on one domain."""

from segshift import metrics, workflow
from segshift.io import write_json


def main(snakemake):
    params = snakemake.params
    result = metrics.confusion_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        domain=snakemake.wildcards.domain,
        kind=params.kind,
        score_threshold=params.score_threshold,
        class_mapping=params.class_mapping,
        rider_policies=params.rider_policies,
        rider=params.rider,
    )
    write_json(snakemake.output[0], result)


workflow.run(snakemake, main)
