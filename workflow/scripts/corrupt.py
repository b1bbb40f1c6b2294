"""Corrupt the images of one shard of a dataset once, for every model's inference to read."""

import sys

from tqdm import tqdm

from segshift import corruptions, manifest, workflow
from segshift.images import read_image


def main(snakemake):
    w = snakemake.wildcards
    table = manifest.read(snakemake.input.manifest)
    start = int(w.shard) * snakemake.params.images_per_shard
    rows = table.images.iloc[start : start + snakemake.params.num_images]
    rows = list(rows[["image_id", "file_name", "width", "height"]].itertuples(index=False, name=None))
    with tqdm(total=len(rows), unit="img", file=sys.stderr, mininterval=5, desc=f"{w.corruption}-{w.severity}") as bar:
        corruptions.write_shard(
            snakemake.output[0],
            rows,
            lambda image_id, file_name, width, height: read_image(table.image_path(file_name), width, height),
            w.corruption,
            int(w.severity),
            progress=bar,
        )


workflow.run(snakemake, main)
