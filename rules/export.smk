# On request (snakemake export): predictions as COCO results JSON, next to the ground truth
# they are scored against (COCO category ids), for pycocotools, hotcoco, detectron2, FiftyOne.


rule export_predictions:
    input:
        prediction_shards,
    output:
        "results/exports/{domain}/{model}.json",
    log:
        "logs/export/{domain}/{model}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../workflow/scripts/export.py"


# Per-image results next to the predictions, so that FiftyOne users can sort samples by them.
rule export_per_image:
    input:
        "results/metrics/{domain}/{model}/per_image.parquet",
    output:
        "results/exports/{domain}/{model}.per_image.parquet",
    log:
        "logs/export/{domain}/{model}.per_image.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    shell:
        "cp {input} {output} 2> {log}"


rule export_ground_truth:
    input:
        ground_truth=domain_ground_truth,
        source_ground_truth=source_ground_truth,
    output:
        "results/exports/{domain}/ground_truth.json",
    log:
        "logs/export/{domain}/ground_truth.log",
    conda:
        "../envs/evaluate.yaml"
    params:
        kind=domain_kind,
        source_kind=source_kind,
    script:
        "../workflow/scripts/export.py"


rule export:
    input:
        export_files,
    localrule: True


# On request (snakemake export_images): each corrupted domain's images as PNG files, the exact
# pixels its models see, so that predictions made elsewhere (a results_json model) see them too.


rule export_domain_images:
    input:
        manifest=domain_manifest,
        corrupted=corrupted_shards,
    output:
        directory("results/exports/{domain}/images"),
    log:
        "logs/export/{domain}/images.log",
    wildcard_constraints:
        domain=alternatives(CORRUPTED_DOMAINS),
    conda:
        "../envs/evaluate.yaml"
    params:
        corruption=domain_corruption,
        num_images=domain_num_images,
    script:
        "../workflow/scripts/export.py"


rule export_images:
    input:
        export_image_folders,
    localrule: True
