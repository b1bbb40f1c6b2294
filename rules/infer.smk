# One job per (domain, model, shard): the GPU-hours of a run, cached as Parquet.


rule infer:
    input:
        manifest=domain_manifest,
        weights=weights_file,
        corrupted=corrupted_shard,
        package=backend_package,
    output:
        "results/predictions/{domain}/{model}/shard-{shard}-of-{num_shards}.parquet",
    log:
        "logs/infer/{domain}/{model}/shard-{shard}-of-{num_shards}.log",
    benchmark:
        "logs/infer/{domain}/{model}/shard-{shard}-of-{num_shards}.benchmark.tsv"
    conda:
        "../envs/infer.yaml"
    threads: 4
    resources:
        gpu=model_gpus,
        batch_size=4,
    params:
        backend=model_backend,
        settings=model_settings,
        test_size=domain_test_size,
        corruption=domain_corruption,
        images_per_shard=config["images_per_shard"],
        num_images=shard_num_images,
        on_bad_image=config["on_bad_image"],
    script:
        "../workflow/scripts/infer.py"
