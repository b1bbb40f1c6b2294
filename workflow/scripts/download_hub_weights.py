"""Download a model's checkpoint folder from the Hugging Face hub at its pinned revision and record its hashes."""

from segshift import weights, workflow


def main(snakemake):
    hub = snakemake.params.hub
    weights.download_hub(
        hub["repo"], hub["revision"], snakemake.output.weights, snakemake.params.sha256, snakemake.wildcards.model
    )


workflow.run(snakemake, main)
