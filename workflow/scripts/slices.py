"""The slices of one domain: a tidy CSV and a Markdown layout of every model's same-ruler AP per slice."""

from segshift import manifest, slices, workflow
from segshift.io import write_text


def main(snakemake):
    params = snakemake.params
    images = manifest.read(snakemake.input.manifest).images
    tidy = slices.table(dict(zip(params.models, snakemake.input.matches)), images, list(params.fields),
                        domain=snakemake.wildcards.domain, resampling=params.bootstrap)
    write_text(snakemake.output.csv, tidy.to_csv(index=False, float_format="%.10g"))
    write_text(snakemake.output.md, slices.layout(tidy, params.labels, snakemake.wildcards.domain, params.bootstrap).markdown())


workflow.run(snakemake, main)
