"""A results_json model: check its file for one domain, or cut one shard from the checked file."""

from segshift import results_json, workflow


def main(snakemake):
    w = snakemake.wildcards
    if snakemake.rule == "check_results":
        results_json.check(snakemake.config["models"][w.model]["results"][w.domain], snakemake.input.manifest,
                           snakemake.output[0], model=w.model, domain=w.domain, sha256=snakemake.params.sha256)
    else:
        results_json.write_shard(snakemake.input.checked, snakemake.input.manifest, snakemake.output[0],
                                 shard=int(w.shard), images_per_shard=snakemake.params.images_per_shard,
                                 num_images=snakemake.params.num_images, model=w.model, domain=w.domain,
                                 corruption=snakemake.params.corruption)


workflow.run(snakemake, main)
