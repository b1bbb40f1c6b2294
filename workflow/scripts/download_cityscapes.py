"""Download one Cityscapes package with the credentials in the environment."""

from pathlib import Path

from segshift import workflow
from segshift.datasets import cityscapes


def main(snakemake):
    output = Path(snakemake.output[0])
    cityscapes.download(output.name, output)


workflow.run(snakemake, main)
