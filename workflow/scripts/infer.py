"""Run one model on one shard of a domain."""

from pathlib import Path

from segshift import inference, workflow


def main(snakemake):
    weights = snakemake.config["models"][snakemake.wildcards.model].get("weights", {})
    weights_file = list(snakemake.input.weights)  # empty: a python model without weights
    corrupted = list(snakemake.input.corrupted)
    inference.run_shard(
        inference.ShardJob(
            manifest=Path(snakemake.input.manifest),
            shard=int(snakemake.wildcards.shard),
            images_per_shard=snakemake.params.images_per_shard,
            num_images=snakemake.params.num_images,
            model=snakemake.wildcards.model,
            backend=snakemake.params.backend,
            settings=snakemake.params.settings,
            weights=Path(weights_file[0]) if weights_file else None,
            # Read from the config, not params: pinning a checksum must not rerun inference.
            weights_sha256=weights.get("sha256"),
            output=Path(snakemake.output[0]),
            test_size=snakemake.params.test_size,
            on_bad_image=snakemake.params.on_bad_image,
            batch_size=snakemake.resources.batch_size,
            threads=snakemake.threads,
            domain=snakemake.wildcards.domain,
            corruption=snakemake.params.corruption,
            corrupted_shard=Path(corrupted[0]) if corrupted else None,
        )
    )


workflow.run(snakemake, main)
