# Figures, qualitative panels and the HTML report (snakemake --report results/report.html).
# Display settings are parameters of these rules only: changing one redraws, nothing more.


rule per_class_ap_figure:
    input:
        same_ruler=same_ruler_files,
        cityscapes=cityscapes_files,
    output:
        png=report(
            "results/figures/{model}/{domain}_vs_{other_domain}/per_class_ap.png",
            caption="../workflow/report/per_class_ap.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("per-class AP"),
        ),
        pdf="results/figures/{model}/{domain}_vs_{other_domain}/per_class_ap.pdf",
    log:
        "logs/figures/{model}/{domain}_vs_{other_domain}/per_class_ap.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
        domains=figure_domain_labels,
        colors=figure_domain_colors,
        rider_policies=RIDER_POLICIES,
    script:
        "../workflow/scripts/figures.py"


rule ap_by_size_figure:
    input:
        same_ruler=same_ruler_files,
        ground_truth=figure_ground_truths,
    output:
        png=report(
            "results/figures/{model}/{domain}_vs_{other_domain}/ap_by_size.png",
            caption="../workflow/report/ap_by_size.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("AP by object size"),
        ),
        pdf="results/figures/{model}/{domain}_vs_{other_domain}/ap_by_size.pdf",
    log:
        "logs/figures/{model}/{domain}_vs_{other_domain}/ap_by_size.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
        domains=figure_domain_labels,
        colors=figure_domain_colors,
        kinds=figure_kinds,
    script:
        "../workflow/scripts/figures.py"


rule pr_curves_figure:
    input:
        same_ruler=same_ruler_files,
    output:
        png=report(
            "results/figures/{model}/{domain}_vs_{other_domain}/pr_curves.png",
            caption="../workflow/report/pr_curves.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("precision-recall curves"),
        ),
        pdf="results/figures/{model}/{domain}_vs_{other_domain}/pr_curves.pdf",
    log:
        "logs/figures/{model}/{domain}_vs_{other_domain}/pr_curves.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
        domains=figure_domain_labels,
        colors=figure_domain_colors,
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
        domains=figure_domain_labels,
        source=SOURCE,
        targets=GAP_TARGETS,
    script:
        "../workflow/scripts/figures.py"


rule model_pair_figure:
    input:
        same_ruler=same_ruler_files,
        cityscapes=pair_cityscapes_files,
    output:
        png=report(
            "results/figures/model_pairs/{model}_vs_{other_model}/{domain}_vs_{other_domain}.png",
            caption="../workflow/report/model_pair.rst",
            category="Transfer",
            subcategory="Model pairs",
            labels=pair_labels,
        ),
        pdf="results/figures/model_pairs/{model}_vs_{other_model}/{domain}_vs_{other_domain}.pdf",
    log:
        "logs/figures/model_pairs/{model}_vs_{other_model}/{domain}_vs_{other_domain}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
        domains=figure_domain_labels,
        models=MODELS,
    script:
        "../workflow/scripts/figures.py"


rule corruption_figure:
    input:
        suite_metric_files,
    output:
        png=report(
            "results/figures/corruptions/{suite}.png",
            caption="../workflow/report/corruptions.rst",
            category="Robustness",
            subcategory="All models",
            labels=suite_labels,
        ),
        pdf="results/figures/corruptions/{suite}.pdf",
    log:
        "logs/figures/corruptions/{suite}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        suites=suite_settings,
    script:
        "../workflow/scripts/figures.py"


rule qualitative:
    input:
        manifest=domain_manifest,
        ground_truth=domain_ground_truth,
        predictions=all_model_shards,
        corrupted=corrupted_shards,
    output:
        png=report(
            "results/figures/qualitative/{domain}.png",
            caption="../workflow/report/qualitative.rst",
            category="Qualitative",
            subcategory=qualitative_title,
            labels=qualitative_labels,
        ),
        json="results/figures/qualitative/{domain}.json",
    log:
        "logs/qualitative/{domain}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        kind=domain_kind,
        title=qualitative_title,
        corruption=domain_corruption,
        display_threshold=config["report"]["display_threshold"],
        qualitative_images=config["report"]["qualitative_images"],
        qualitative_image_ids=qualitative_image_ids,
    script:
        "../workflow/scripts/qualitative.py"
