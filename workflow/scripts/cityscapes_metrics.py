"""The official Cityscapes instance metrics of one model under one rider policy."""

from segshift import metrics, workflow
from segshift.evaluation import bootstrap
from segshift.io import write_json


def main(snakemake):
    result, values = metrics.cityscapes_metrics(
        list(snakemake.input.predictions),
        snakemake.input.ground_truth,
        snakemake.input.manifest,
        engine=snakemake.params.engine,
        score_threshold=snakemake.params.score_threshold,
        class_mapping=snakemake.params.class_mapping,
        rider_policy=snakemake.wildcards.rider_policy,
        workers=snakemake.threads,
        domain=snakemake.wildcards.domain,
        resampling=snakemake.params.bootstrap,
        **snakemake.params.rider,
    )
    bootstrap.write_values(snakemake.output.resamples, values, snakemake.params.bootstrap, result["counts"]["images"])
    write_json(snakemake.output.metrics, result)


workflow.run(snakemake, main)
