# One job per (domain, model, shard): the GPU-hours of a run, cached as Parquet. A results_json
# model's shards are cut from its own file instead, checked once per domain.


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
    wildcard_constraints:
        model=alternatives(RUN_MODELS),
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


rule check_results:
    input:
        manifest=domain_manifest,
    output:
        "resources/results_json/{domain}/{model}.parquet",
    log:
        "logs/check_results/{domain}/{model}.log",
    wildcard_constraints:
        model=alternatives(RESULTS_MODELS),
    conda:
        "../envs/evaluate.yaml"
    params:
        sha256=results_sha256,
    script:
        "../workflow/scripts/results_json.py"


rule results_shard:
    input:
        checked="resources/results_json/{domain}/{model}.parquet",
        manifest=domain_manifest,
    output:
        "results/predictions/{domain}/{model}/shard-{shard}-of-{num_shards}.parquet",
    log:
        "logs/results_shard/{domain}/{model}/shard-{shard}-of-{num_shards}.log",
    wildcard_constraints:
        model=alternatives(RESULTS_MODELS),
    conda:
        "../envs/evaluate.yaml"
    params:
        corruption=domain_corruption,
        images_per_shard=config["images_per_shard"],
        num_images=shard_num_images,
    script:
        "../workflow/scripts/results_json.py"
