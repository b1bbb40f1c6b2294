"""Download one archive and check its sha256."""

from segshift import download, workflow


def main(snakemake):
    download.fetch(snakemake.params.url, snakemake.output[0], snakemake.params.sha256)


workflow.run(snakemake, main)
