# Figures, qualitative panels and the HTML report (snakemake --report results/report.html).
# Display settings are parameters of these rules only: changing one redraws, nothing more.


rule per_class_ap_figure:
    input:
        same_ruler=same_ruler_files,
        cityscapes=cityscapes_files,
    output:
        png=report(
            "results/figures/{model}/per_class_ap.png",
            caption="../workflow/report/per_class_ap.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("per-class AP"),
        ),
        pdf="results/figures/{model}/per_class_ap.pdf",
    log:
        "logs/figures/{model}/per_class_ap.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
        rider_policies=RIDER_POLICIES,
    script:
        "../workflow/scripts/figures.py"


rule ap_by_size_figure:
    input:
        same_ruler=same_ruler_files,
        ground_truth=expand(
            "resources/datasets/{dataset}/ground_truth.json", dataset=FIGURE_DOMAINS
        ),
    output:
        png=report(
            "results/figures/{model}/ap_by_size.png",
            caption="../workflow/report/ap_by_size.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("AP by object size"),
        ),
        pdf="results/figures/{model}/ap_by_size.pdf",
    log:
        "logs/figures/{model}/ap_by_size.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
    script:
        "../workflow/scripts/figures.py"


rule pr_curves_figure:
    input:
        same_ruler=same_ruler_files,
    output:
        png=report(
            "results/figures/{model}/pr_curves.png",
            caption="../workflow/report/pr_curves.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("precision-recall curves"),
        ),
        pdf="results/figures/{model}/pr_curves.pdf",
    log:
        "logs/figures/{model}/pr_curves.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
    script:
        "../workflow/scripts/figures.py"


rule transfer_gap_figure:
    input:
        same_ruler=same_ruler_files,
    output:
        png=report(
            "results/figures/transfer_gap.png",
            caption="../workflow/report/transfer_gap_figure.rst",
            category="Transfer",
            subcategory="All models",
            labels={"model": "all models", "figure": "transfer gap"},
        ),
        pdf="results/figures/transfer_gap.pdf",
    log:
        "logs/figures/transfer_gap.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
    script:
        "../workflow/scripts/figures.py"


rule model_pair_figure:
    input:
        same_ruler=same_ruler_files,
        cityscapes=pair_cityscapes_files,
    output:
        png=report(
            "results/figures/model_pairs/{model}_vs_{other_model}.png",
            caption="../workflow/report/model_pair.rst",
            category="Transfer",
            subcategory="Model pairs",
            labels=pair_labels,
        ),
        pdf="results/figures/model_pairs/{model}_vs_{other_model}.pdf",
    log:
        "logs/figures/model_pairs/{model}_vs_{other_model}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
        models=MODELS,
    script:
        "../workflow/scripts/figures.py"


rule qualitative:
    input:
        manifest="resources/datasets/{dataset}/manifest.parquet",
        ground_truth=ground_truth_file,
        predictions=all_model_shards,
    output:
        png=report(
            "results/figures/qualitative/{dataset}.png",
            caption="../workflow/report/qualitative.rst",
            category="Qualitative",
            subcategory=dataset_name,
            labels=lambda w: {
                "model": "all models",
                "figure": f"qualitative, {dataset_name(w)}",
            },
        ),
        json="results/figures/qualitative/{dataset}.json",
    log:
        "logs/qualitative/{dataset}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        display_threshold=config["report"]["display_threshold"],
        qualitative_images=config["report"]["qualitative_images"],
        qualitative_image_ids=qualitative_image_ids,
    script:
        "../workflow/scripts/qualitative.py"
