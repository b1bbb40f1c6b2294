"""The qualitative panel of one dataset: ground truth and every model over the same images."""

from pathlib import Path

from segshift import qualitative, workflow


def main(snakemake):
    params = snakemake.params
    qualitative.make(
        snakemake.wildcards.dataset,
        snakemake.input.manifest,
        snakemake.input.ground_truth,
        {m: [f for f in snakemake.input.predictions if Path(f).parent.name == m] for m in params.labels},
        params.labels,
        display_threshold=params.display_threshold,
        count=params.qualitative_images,
        fixed_ids=params.qualitative_image_ids,
        stem=snakemake.output.png[: -len(".png")],
    )


workflow.run(snakemake, main)
