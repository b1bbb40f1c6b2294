"""A domain's predictions as COCO results JSON, its ground truth in COCO category ids, or its images."""

from segshift import export, workflow


def main(snakemake):
    if snakemake.rule == "export_predictions":
        export.predictions(list(snakemake.input), snakemake.output[0])
    elif snakemake.rule == "export_domain_images":
        export.images(snakemake.input.manifest, snakemake.params.corruption, list(snakemake.input.corrupted),
                      snakemake.params.num_images, snakemake.output[0])
    else:
        export.ground_truth(snakemake.input.ground_truth, snakemake.input.source_ground_truth, snakemake.params.kind,
                            snakemake.params.source_kind, snakemake.output[0])


workflow.run(snakemake, main)
