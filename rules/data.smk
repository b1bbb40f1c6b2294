# Download, verify and convert the two datasets; fetch model weights.


rule download_coco:
    output:
        ensure(
            "resources/downloads/coco_val2017/{archive}.zip",
            sha256=coco_archive_sha256,
        ),
    log:
        "logs/download_coco/{archive}.log",
    wildcard_constraints:
        archive="images|annotations",
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
        "resources/downloads/coco_val2017/images.zip",
    output:
        directory("resources/coco_val2017/val2017"),
    log:
        "logs/unpack_coco_images.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        members="val2017",
    script:
        "../workflow/scripts/unpack.py"


rule unpack_coco_annotations:
    input:
        "resources/downloads/coco_val2017/annotations.zip",
    output:
        "resources/coco_val2017/annotations/instances_val2017.json",
    log:
        "logs/unpack_coco_annotations.log",
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
        "resources/downloads/cityscapes_val/{package}_trainvaltest.zip",
    log:
        "logs/download_cityscapes/{package}.log",
    wildcard_constraints:
        package="gtFine|leftImg8bit",
    retries: 2
    localrule: True
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/download_cityscapes.py"


rule unpack_cityscapes:
    input:
        "resources/downloads/cityscapes_val/{package}_trainvaltest.zip",
    output:
        directory("resources/cityscapes_val/{package}/val"),
    log:
        "logs/unpack_cityscapes/{package}.log",
    wildcard_constraints:
        package="gtFine|leftImg8bit",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        members="{package}/val",
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
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/prepare_dataset.py"


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
