# Metrics are cheap and are where users change their minds: every threshold, mapping
# and policy is a parameter of these rules only, so changing one reruns no inference.


rule coco_metrics:
    input:
        predictions=prediction_shards,
        ground_truth=domain_ground_truth,
    output:
        metrics="results/metrics/{domain}/{model}/coco.json",
        resamples="results/metrics/{domain}/{model}/coco_resamples.parquet",
    log:
        "logs/coco_metrics/{domain}/{model}.log",
    wildcard_constraints:
        domain=alternatives(domains_of_kind("coco")),
    conda:
        "../envs/evaluate.yaml"
    params:
        engine=config["evaluation"]["coco_eval_engine"],
        score_threshold=config["evaluation"]["score_threshold"],
        bootstrap=bootstrap_settings,
    script:
        "../workflow/scripts/coco_metrics.py"


rule same_ruler_metrics:
    input:
        predictions=prediction_shards,
        ground_truth=domain_ground_truth,
        source_ground_truth=source_ground_truth,
        manifest=domain_manifest,
    output:
        metrics="results/metrics/{domain}/{model}/same_ruler.json",
        resamples="results/metrics/{domain}/{model}/same_ruler_resamples.parquet",
        per_image="results/metrics/{domain}/{model}/per_image.parquet",
        matches="results/metrics/{domain}/{model}/same_ruler_matches.npz",
    log:
        "logs/same_ruler_metrics/{domain}/{model}.log",
    conda:
        "../envs/evaluate.yaml"
    params:
        kind=domain_kind,
        source=SOURCE,
        source_kind=source_kind,
        engine=config["evaluation"]["coco_eval_engine"],
        score_threshold=config["evaluation"]["score_threshold"],
        bootstrap=bootstrap_settings,
        ignore_regions=config["evaluation"]["same_ruler_ignore_regions"],
    script:
        "../workflow/scripts/same_ruler_metrics.py"


rule cityscapes_metrics:
    input:
        predictions=prediction_shards,
        ground_truth=domain_ground_truth,
        manifest=domain_manifest,
    output:
        metrics="results/metrics/{domain}/{model}/cityscapes_{rider_policy}.json",
        resamples="results/metrics/{domain}/{model}/cityscapes_{rider_policy}_resamples.parquet",
    log:
        "logs/cityscapes_metrics/{domain}/{model}/{rider_policy}.log",
    wildcard_constraints:
        domain=alternatives(domains_of_kind("cityscapes")),
    conda:
        "../envs/evaluate.yaml"
    threads: 4
    params:
        engine=config["evaluation"]["cityscapes_eval_engine"],
        score_threshold=config["evaluation"]["score_threshold"],
        bootstrap=bootstrap_settings,
        class_mapping=config["evaluation"]["class_mapping"],
        rider=rider_settings,
    script:
        "../workflow/scripts/cityscapes_metrics.py"


rule coco_table:
    input:
        coco_metric_files,
    output:
        html=table_in_report("coco_metrics", "html", "coco_metrics", "Tables", "coco metrics"),
        csv=table_in_report("coco_metrics", "csv", "coco_metrics", "Tables", "coco metrics"),
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
        html=table_in_report("cityscapes_metrics", "html", "cityscapes_metrics", "Tables", "cityscapes metrics"),
        csv=table_in_report("cityscapes_metrics", "csv", "cityscapes_metrics", "Tables", "cityscapes metrics"),
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
        gap_metric_files,
    output:
        html=table_in_report("transfer_gap", "html", "transfer_gap_table", "Tables", "transfer gap"),
        csv=table_in_report("transfer_gap", "csv", "transfer_gap_table", "Tables", "transfer gap"),
        md="results/tables/transfer_gap.md",
        tex="results/tables/transfer_gap.tex",
    log:
        "logs/tables/transfer_gap.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        correction=config["evaluation"]["multiple_comparisons"],
        source=SOURCE,
    script:
        "../workflow/scripts/tables.py"


rule transfer_matrix_table:
    input:
        all_metric_files,
    output:
        html=table_in_report("transfer_matrix", "html", "transfer_matrix", "Tables", "transfer matrix"),
        csv=table_in_report("transfer_matrix", "csv", "transfer_matrix", "Tables", "transfer matrix"),
        md="results/tables/transfer_matrix.md",
        tex="results/tables/transfer_matrix.tex",
    log:
        "logs/tables/transfer_matrix.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        domains=domain_settings,
        source=SOURCE,
    script:
        "../workflow/scripts/tables.py"


rule robustness_table:
    input:
        suite_metric_files,
    output:
        html=table_in_report("robustness", "html", "robustness", "Tables", "robustness (mPC, rPC)"),
        csv=table_in_report("robustness", "csv", "robustness", "Tables", "robustness (mPC, rPC)"),
        md="results/tables/robustness.md",
        tex="results/tables/robustness.tex",
    log:
        "logs/tables/robustness.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        correction=config["evaluation"]["multiple_comparisons"],
        suites=suite_settings,
    script:
        "../workflow/scripts/tables.py"


rule model_comparison_table:
    input:
        all_metric_files,
    output:
        html=table_in_report("model_comparison", "html", "model_comparison", "Tables", "model comparison"),
        csv=table_in_report("model_comparison", "csv", "model_comparison", "Tables", "model comparison"),
        md="results/tables/model_comparison.md",
        tex="results/tables/model_comparison.tex",
    log:
        "logs/tables/model_comparison.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        correction=config["evaluation"]["multiple_comparisons"],
        pairs=config["report"]["model_pairs"],
    script:
        "../workflow/scripts/tables.py"


# Across models: effective robustness and synthetic vs real shifts, from every
# model's same-ruler numbers and their resamples.


rule effective_robustness_table:
    input:
        population_files,
    output:
        html=table_in_report("effective_robustness", "html", "effective_robustness_table", "Across models", "effective robustness"),
        csv=table_in_report("effective_robustness", "csv", "effective_robustness_table", "Across models", "effective robustness"),
        md="results/tables/effective_robustness.md",
        tex="results/tables/effective_robustness.tex",
    log:
        "logs/tables/effective_robustness.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        families=model_families,
        source=SOURCE,
        domains=domain_settings,
        suites=suite_settings,
    script:
        "../workflow/scripts/tables.py"


rule ranking_table:
    input:
        population_files,
    output:
        html=table_in_report("ranking", "html", "ranking_table", "Across models", "ranking across domains"),
        csv=table_in_report("ranking", "csv", "ranking_table", "Across models", "ranking across domains"),
        md="results/tables/ranking.md",
        tex="results/tables/ranking.tex",
    log:
        "logs/tables/ranking.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        source=SOURCE,
        domains=domain_settings,
        suites=suite_settings,
        correction=config["evaluation"]["multiple_comparisons"],
    script:
        "../workflow/scripts/tables.py"


rule synthetic_vs_real_table:
    input:
        population_files,
    output:
        html=table_in_report("synthetic_vs_real", "html", "synthetic_vs_real_table", "Across models", "synthetic vs real"),
        csv=table_in_report("synthetic_vs_real", "csv", "synthetic_vs_real_table", "Across models", "synthetic vs real"),
        md="results/tables/synthetic_vs_real.md",
        tex="results/tables/synthetic_vs_real.tex",
    log:
        "logs/tables/synthetic_vs_real.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        source=SOURCE,
        targets=GAP_TARGETS,
        suites=suite_settings,
        pairs=config["report"]["shift_pairs"],
    script:
        "../workflow/scripts/tables.py"


# Why a drop happens, from the same cached predictions (issue 12): Boundary AP, TIDE errors,
# calibration and score distributions on the same ruler's classes; confusions among the shared classes.


rule diagnostics:
    input:
        predictions=prediction_shards,
        ground_truth=domain_ground_truth,
        source_ground_truth=source_ground_truth,
    output:
        metrics="results/metrics/{domain}/{model}/diagnostics.json",
        resamples="results/metrics/{domain}/{model}/diagnostics_resamples.parquet",
    log:
        "logs/diagnostics/{domain}/{model}.log",
    conda:
        "../envs/evaluate.yaml"
    params:
        kind=domain_kind,
        source=SOURCE,
        source_kind=source_kind,
        score_threshold=config["evaluation"]["score_threshold"],
        bootstrap=bootstrap_settings,
        ignore_regions=config["evaluation"]["same_ruler_ignore_regions"],
        dilation_ratio=config["evaluation"]["boundary_dilation_ratio"],
        calibration_bins=config["evaluation"]["calibration_bins"],
    script:
        "../workflow/scripts/diagnostics.py"


rule confusion:
    input:
        predictions=prediction_shards,
        ground_truth=domain_ground_truth,
    output:
        "results/metrics/{domain}/{model}/confusion.json",
    log:
        "logs/confusion/{domain}/{model}.log",
    conda:
        "../envs/evaluate.yaml"
    params:
        kind=domain_kind,
        score_threshold=config["evaluation"]["score_threshold"],
        class_mapping=config["evaluation"]["class_mapping"],
        rider_policies=RIDER_POLICIES,
        rider=all_rider_settings,
    script:
        "../workflow/scripts/confusion.py"


rule errors_table:
    input:
        diagnostics_files,
    output:
        html=table_in_report("errors", "html", "errors_table", "Why it drops", "errors (TIDE)"),
        csv=table_in_report("errors", "csv", "errors_table", "Why it drops", "errors (TIDE)"),
        md="results/tables/errors.md",
        tex="results/tables/errors.tex",
    log:
        "logs/tables/errors.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
    script:
        "../workflow/scripts/tables.py"


rule boundary_ap_table:
    input:
        diagnostics=diagnostics_files,
        same_ruler=diagnostics_same_ruler_files,
    output:
        html=table_in_report("boundary_ap", "html", "boundary_ap_table", "Why it drops", "Boundary AP"),
        csv=table_in_report("boundary_ap", "csv", "boundary_ap_table", "Why it drops", "Boundary AP"),
        md="results/tables/boundary_ap.md",
        tex="results/tables/boundary_ap.tex",
    log:
        "logs/tables/boundary_ap.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        correction=config["evaluation"]["multiple_comparisons"],
        source=SOURCE,
    script:
        "../workflow/scripts/tables.py"


rule calibration_table:
    input:
        diagnostics_files,
    output:
        html=table_in_report("calibration", "html", "calibration_table", "Why it drops", "calibration"),
        csv=table_in_report("calibration", "csv", "calibration_table", "Why it drops", "calibration"),
        md="results/tables/calibration.md",
        tex="results/tables/calibration.tex",
    log:
        "logs/tables/calibration.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
    script:
        "../workflow/scripts/tables.py"


rule confusions_table:
    input:
        confusion_files,
    output:
        html=table_in_report("confusions", "html", "confusions_table", "Why it drops", "confusions"),
        csv=table_in_report("confusions", "csv", "confusions_table", "Why it drops", "confusions"),
        md="results/tables/confusions.md",
        tex="results/tables/confusions.tex",
    log:
        "logs/tables/confusions.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
    script:
        "../workflow/scripts/tables.py"


# Slices : the same ruler's mask AP per value of a manifest field, from the stored matching.


rule slices_table:
    input:
        matches=slice_match_files,
        manifest=domain_manifest,
    output:
        csv=report(
            "results/tables/slices/{domain}.csv",
            caption="../workflow/report/slices.rst",
            category="Slices",
            subcategory="All models",
            labels=slice_labels,
        ),
        md="results/tables/slices/{domain}.md",
    log:
        "logs/tables/slices/{domain}.log",
    conda:
        "../envs/report.yaml"
    params:
        fields=slice_fields,
        models=slice_models,
        labels=model_labels,
        bootstrap=config["evaluation"]["bootstrap"],
    script:
        "../workflow/scripts/slices.py"
