"""Unpack one file or folder of a zip archive."""

from segshift import download, workflow


def main(snakemake):
    download.unpack(snakemake.input[0], snakemake.output[0], snakemake.params.members)


workflow.run(snakemake, main)
