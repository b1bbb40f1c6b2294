"""Download a model's weights and record their sha256."""

from segshift import weights, workflow


def main(snakemake):
    weights.download(
        snakemake.params.url, snakemake.output.weights, snakemake.params.sha256, snakemake.wildcards.model
    )


workflow.run(snakemake, main)
