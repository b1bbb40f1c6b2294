# Download, verify and convert the datasets (by kind); corrupt images once; fetch model weights.


rule download_coco:
    output:
        ensure(
            "resources/downloads/{dataset}/{archive}.zip",
            sha256=coco_archive_sha256,
        ),
    log:
        "logs/download_coco/{dataset}/{archive}.log",
    wildcard_constraints:
        archive="images|annotations",
        dataset=alternatives(datasets_of_kind("coco")),
    retries: 2
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        url=coco_archive_url,
        sha256=coco_archive_sha256,
    script:
        "../workflow/scripts/download.py"


rule unpack_coco_images:
    input:
        "resources/downloads/{dataset}/images.zip",
    output:
        directory("resources/{dataset}/val2017"),
    log:
        "logs/unpack_coco_images/{dataset}.log",
    wildcard_constraints:
        dataset=alternatives(datasets_of_kind("coco")),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        members="val2017",
    script:
        "../workflow/scripts/unpack.py"


rule unpack_coco_annotations:
    input:
        "resources/downloads/{dataset}/annotations.zip",
    output:
        "resources/{dataset}/annotations/instances_val2017.json",
    log:
        "logs/unpack_coco_annotations/{dataset}.log",
    wildcard_constraints:
        dataset=alternatives(datasets_of_kind("coco")),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        members="annotations/instances_val2017.json",
    script:
        "../workflow/scripts/unpack.py"


rule download_cityscapes:
    input:
        cityscapes_credentials,
    output:
        "resources/downloads/{dataset}/{package}.zip",
    log:
        "logs/download_cityscapes/{dataset}/{package}.log",
    wildcard_constraints:
        package=alternatives(segshift_cityscapes.PACKAGES.values()),
        dataset=alternatives(datasets_of_kind("cityscapes")),
    retries: 2
    localrule: True
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/download_cityscapes.py"


rule unpack_cityscapes:
    input:
        cityscapes_package,
    output:
        directory("resources/{dataset}/{package}/{split}"),
    log:
        "logs/unpack_cityscapes/{dataset}/{package}/{split}.log",
    wildcard_constraints:
        package=alternatives(segshift_cityscapes.PACKAGES),
        split="train|val",
        dataset=alternatives(datasets_of_kind("cityscapes")),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        members="{package}/{split}",
    script:
        "../workflow/scripts/unpack.py"


checkpoint prepare_dataset:
    input:
        unpack(dataset_sources),
    output:
        manifest="resources/datasets/{dataset}/manifest.parquet",
        ground_truth="resources/datasets/{dataset}/ground_truth.json",
    log:
        "logs/prepare_dataset/{dataset}.log",
    wildcard_constraints:
        dataset=alternatives([d for d in DATASETS if dataset_kind(d) != "acdc"]),
    conda:
        "../envs/data.yaml"
    params:
        kind=prepared_kind,
        category_mapping=category_mapping,
        fog_beta=fog_beta,
    script:
        "../workflow/scripts/prepare_dataset.py"


# ACDC's panoptic ground truth also becomes Cityscapes instanceIds, which the official evaluator reads.
checkpoint prepare_acdc:
    input:
        unpack(dataset_sources),
    output:
        manifest="resources/datasets/{dataset}/manifest.parquet",
        ground_truth="resources/datasets/{dataset}/ground_truth.json",
        instance_ids=directory("resources/datasets/{dataset}/instance_ids"),
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "logs/prepare_dataset/{dataset}.benchmark.tsv"
    wildcard_constraints:
        dataset=alternatives(datasets_of_kind("acdc")),
    conda:
        "../envs/data.yaml"
    params:
        kind=prepared_kind,
        root=acdc_root,
        split=acdc_split,
        conditions=acdc_conditions,
        reference=acdc_reference,
    script:
        "../workflow/scripts/prepare_dataset.py"


# A corrupted image is made once per (image, corruption, severity), on a CPU, and read by
# every model's inference job of that domain.
rule corrupt:
    input:
        manifest="resources/datasets/{dataset}/manifest.parquet",
    output:
        "resources/corrupted/{dataset}/{corruption}-{severity}/shard-{shard}-of-{num_shards}.parquet",
    log:
        "logs/corrupt/{dataset}/{corruption}-{severity}/shard-{shard}-of-{num_shards}.log",
    benchmark:
        "logs/corrupt/{dataset}/{corruption}-{severity}/shard-{shard}-of-{num_shards}.benchmark.tsv"
    conda:
        "../envs/data.yaml"
    params:
        images_per_shard=config["images_per_shard"],
        num_images=shard_num_images,
    script:
        "../workflow/scripts/corrupt.py"


rule download_weights:
    output:
        weights="resources/weights/{model}{suffix}",
        sha256="resources/weights/{model}{suffix}.sha256",
    log:
        "logs/download_weights/{model}{suffix}.log",
    wildcard_constraints:
        suffix=r"\.[A-Za-z0-9]+",
    retries: 2
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        url=weights_url,
        sha256=weights_sha256,
    script:
        "../workflow/scripts/download_weights.py"
