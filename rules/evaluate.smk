# Metrics are cheap and are where users change their minds: every threshold, mapping
# and policy is a parameter of these rules only, so changing one reruns no inference.


rule coco_metrics:
    input:
        predictions=prediction_shards,
        ground_truth=ground_truth_file,
    output:
        "results/metrics/{dataset}/{model}/coco.json",
    log:
        "logs/coco_metrics/{dataset}/{model}.log",
    wildcard_constraints:
        dataset="coco_val2017",
    conda:
        "../envs/evaluate.yaml"
    params:
        engine=config["evaluation"]["coco_eval_engine"],
        score_threshold=config["evaluation"]["score_threshold"],
    script:
        "../workflow/scripts/coco_metrics.py"


rule same_ruler_metrics:
    input:
        predictions=prediction_shards,
        ground_truth=ground_truth_file,
    output:
        "results/metrics/{dataset}/{model}/same_ruler.json",
    log:
        "logs/same_ruler_metrics/{dataset}/{model}.log",
    conda:
        "../envs/evaluate.yaml"
    params:
        engine=config["evaluation"]["coco_eval_engine"],
        score_threshold=config["evaluation"]["score_threshold"],
    script:
        "../workflow/scripts/same_ruler_metrics.py"


rule cityscapes_metrics:
    input:
        predictions=prediction_shards,
        ground_truth=ground_truth_file,
        manifest="resources/datasets/{dataset}/manifest.parquet",
    output:
        "results/metrics/{dataset}/{model}/cityscapes_{rider_policy}.json",
    log:
        "logs/cityscapes_metrics/{dataset}/{model}/{rider_policy}.log",
    wildcard_constraints:
        dataset="cityscapes_val",
    conda:
        "../envs/evaluate.yaml"
    threads: 4
    params:
        engine=config["evaluation"]["cityscapes_eval_engine"],
        score_threshold=config["evaluation"]["score_threshold"],
        class_mapping=config["evaluation"]["class_mapping"],
        rider=rider_settings,
    script:
        "../workflow/scripts/cityscapes_metrics.py"


rule coco_table:
    input:
        coco_metric_files,
    output:
        csv=report(
            "results/tables/coco_metrics.csv",
            caption="../workflow/report/coco_metrics.rst",
            category="COCO",
            subcategory="All models",
            labels={"model": "all models", "figure": "table: coco metrics"},
        ),
        md="results/tables/coco_metrics.md",
        tex="results/tables/coco_metrics.tex",
    log:
        "logs/tables/coco_metrics.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        score_threshold=config["evaluation"]["score_threshold"],
        engine=config["evaluation"]["coco_eval_engine"],
    script:
        "../workflow/scripts/tables.py"


rule cityscapes_table:
    input:
        cityscapes_metric_files,
    output:
        csv=report(
            "results/tables/cityscapes_metrics.csv",
            caption="../workflow/report/cityscapes_metrics.rst",
            category="Cityscapes",
            subcategory="All models",
            labels={"model": "all models", "figure": "table: cityscapes metrics"},
        ),
        md="results/tables/cityscapes_metrics.md",
        tex="results/tables/cityscapes_metrics.tex",
    log:
        "logs/tables/cityscapes_metrics.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        class_mapping=config["evaluation"]["class_mapping"],
        engine=config["evaluation"]["cityscapes_eval_engine"],
    script:
        "../workflow/scripts/tables.py"


rule transfer_gap_table:
    input:
        same_ruler_metric_files,
    output:
        csv=report(
            "results/tables/transfer_gap.csv",
            caption="../workflow/report/transfer_gap_table.rst",
            category="Transfer",
            subcategory="All models",
            labels={"model": "all models", "figure": "table: transfer gap"},
        ),
        md="results/tables/transfer_gap.md",
        tex="results/tables/transfer_gap.tex",
    log:
        "logs/tables/transfer_gap.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
    script:
        "../workflow/scripts/tables.py"
