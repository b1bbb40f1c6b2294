"""COCO-style metrics of one model on the classes a domain shares with the source, with its
per-image results and the mask matching that the slices re-accumulate."""

from segshift import manifest, metrics, slices, workflow
from segshift.evaluation import bootstrap, per_image
from segshift.io import write_json


def main(snakemake):
    params = snakemake.params
    details = {}
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
        details=details,
    )
    images = manifest.read(snakemake.input.manifest).images
    per_image.write(snakemake.output.per_image, per_image.table(images, details["per_image"]))
    slices.write_matches(snakemake.output.matches, *details["matches"])
    bootstrap.write_values(snakemake.output.resamples, values, snakemake.params.bootstrap, result["counts"]["images"])
    write_json(snakemake.output.metrics, result)


workflow.run(snakemake, main)
