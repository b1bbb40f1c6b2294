"""The qualitative panel of one domain: ground truth and every model over the same images."""

from pathlib import Path

from segshift import qualitative, workflow


def main(snakemake):
    params = snakemake.params
    qualitative.make(
        snakemake.wildcards.domain,
        params.kind,
        snakemake.input.manifest,
        snakemake.input.ground_truth,
        {m: [f for f in snakemake.input.predictions if Path(f).parent.name == m] for m in params.labels},
        params.labels,
        display_threshold=params.display_threshold,
        count=params.qualitative_images,
        fixed_ids=params.qualitative_image_ids,
        stem=snakemake.output.png[: -len(".png")],
        title=params.title,
        corruption=params.corruption,
        corrupted_files=list(snakemake.input.corrupted),
    )


workflow.run(snakemake, main)
