"""Write a dataset's image manifest and its COCO-format ground truth."""

import logging

from segshift import workflow
from segshift.datasets import DATASET_KINDS, cityscapes, coco


def main(snakemake):
    dataset = snakemake.wildcards.dataset
    if DATASET_KINDS[dataset] == "coco":
        n = coco.prepare(
            snakemake.input.annotations,
            snakemake.input.images,
            snakemake.output.manifest,
            snakemake.output.ground_truth,
        )
    else:
        n = cityscapes.convert(
            snakemake.input.images,
            snakemake.input.ground_truth,
            snakemake.output.manifest,
            snakemake.output.ground_truth,
        )
    logging.info("%s: %d images", dataset, n)


workflow.run(snakemake, main)
