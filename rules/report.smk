# Figures, qualitative panels and the HTML report (snakemake --report results/report.html).
# Display settings are parameters of these rules only: changing one redraws, nothing more.


# One job draws a model's three figures of a domain pair: they read the same metric files, and
# a job's start-up (imports, matplotlib) costs more than drawing one of them.
rule transfer_figures:
    input:
        same_ruler=same_ruler_files,
        cityscapes=cityscapes_files,
        ground_truth=figure_ground_truths,
    output:
        per_class_ap=report(
            "results/figures/{model}/{domain}_vs_{other_domain}/per_class_ap.png",
            caption="../workflow/report/per_class_ap.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("per-class AP"),
        ),
        per_class_ap_pdf="results/figures/{model}/{domain}_vs_{other_domain}/per_class_ap.pdf",
        ap_by_size=report(
            "results/figures/{model}/{domain}_vs_{other_domain}/ap_by_size.png",
            caption="../workflow/report/ap_by_size.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("AP by object size"),
        ),
        ap_by_size_pdf="results/figures/{model}/{domain}_vs_{other_domain}/ap_by_size.pdf",
        pr_curves=report(
            "results/figures/{model}/{domain}_vs_{other_domain}/pr_curves.png",
            caption="../workflow/report/pr_curves.rst",
            category="Transfer",
            subcategory=model_label,
            labels=figure_labels("precision-recall curves"),
        ),
        pr_curves_pdf="results/figures/{model}/{domain}_vs_{other_domain}/pr_curves.pdf",
    log:
        "logs/figures/{model}/{domain}_vs_{other_domain}/transfer.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=figure_model_labels,
        domains=figure_domain_labels,
        colors=figure_domain_colors,
        kinds=figure_kinds,
        rider_policies=RIDER_POLICIES,
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
        labels=suite_model_labels,
        suites=suite_settings,
    script:
        "../workflow/scripts/figures.py"


rule effective_robustness_figure:
    input:
        target_population_files,
    output:
        png=report(
            "results/figures/across_models/effective_robustness/{target}.png",
            caption="../workflow/report/effective_robustness_figure.rst",
            category="Across models",
            subcategory="All models",
            labels=across_labels,
        ),
        pdf="results/figures/across_models/effective_robustness/{target}.pdf",
    log:
        "logs/figures/across_models/effective_robustness/{target}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        families=model_families,
        source=SOURCE,
        target=across_target,
    script:
        "../workflow/scripts/figures.py"


rule synthetic_vs_real_figure:
    input:
        "results/tables/synthetic_vs_real.csv",
    output:
        png=report(
            "results/figures/across_models/synthetic_vs_real.png",
            caption="../workflow/report/synthetic_vs_real_figure.rst",
            category="Across models",
            subcategory="All models",
            labels={"model": "all models", "figure": "synthetic vs real"},
        ),
        pdf="results/figures/across_models/synthetic_vs_real.pdf",
    log:
        "logs/figures/across_models/synthetic_vs_real.log",
    conda:
        "../envs/report.yaml"
    params:
        domains=real_target_labels,
    script:
        "../workflow/scripts/figures.py"


rule ranking_figure:
    input:
        "results/tables/ranking.csv",
    output:
        png=report(
            "results/figures/across_models/ranking/{domain_set}.png",
            caption="../workflow/report/ranking_figure.rst",
            category="Across models",
            subcategory="All models",
            labels=ranking_labels,
        ),
        pdf="results/figures/across_models/ranking/{domain_set}.pdf",
    log:
        "logs/figures/across_models/ranking/{domain_set}.log",
    conda:
        "../envs/report.yaml"
    params:
        title=ranking_title,
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
        labels=domain_model_labels,
        kind=domain_kind,
        title=qualitative_title,
        corruption=domain_corruption,
        display_threshold=config["report"]["display_threshold"],
        qualitative_images=config["report"]["qualitative_images"],
        qualitative_image_ids=qualitative_image_ids,
    script:
        "../workflow/scripts/qualitative.py"


# Why AP drops: on the source and the gap targets; every diagnosed domain is in the tables.


rule errors_figure:
    input:
        figure_diagnostics_files,
    output:
        png=report(
            "results/figures/diagnostics/errors.png",
            caption="../workflow/report/errors_figure.rst",
            category="Why it drops",
            subcategory="All models",
            labels={"model": "all models", "figure": "TIDE errors"},
        ),
        pdf="results/figures/diagnostics/errors.pdf",
    log:
        "logs/figures/diagnostics/errors.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=diagnosed_model_labels,
        domains=diagnosed_domain_labels,
    script:
        "../workflow/scripts/figures.py"


rule boundary_ap_figure:
    input:
        diagnostics=figure_diagnostics_files,
        same_ruler=figure_diagnostics_same_ruler_files,
    output:
        png=report(
            "results/figures/diagnostics/boundary_ap.png",
            caption="../workflow/report/boundary_ap_figure.rst",
            category="Why it drops",
            subcategory="All models",
            labels={"model": "all models", "figure": "Boundary AP"},
        ),
        pdf="results/figures/diagnostics/boundary_ap.pdf",
    log:
        "logs/figures/diagnostics/boundary_ap.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=diagnosed_model_labels,
        domains=diagnosed_domain_labels,
        source=SOURCE,
    script:
        "../workflow/scripts/figures.py"


rule reliability_figure:
    input:
        figure_diagnostics_files,
    output:
        png=report(
            "results/figures/diagnostics/reliability.png",
            caption="../workflow/report/reliability_figure.rst",
            category="Why it drops",
            subcategory="All models",
            labels={"model": "all models", "figure": "calibration"},
        ),
        pdf="results/figures/diagnostics/reliability.pdf",
    log:
        "logs/figures/diagnostics/reliability.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=diagnosed_model_labels,
        domains=diagnosed_domain_labels,
        colors=diagnosed_domain_colors,
    script:
        "../workflow/scripts/figures.py"


rule confusion_figure:
    input:
        confusion_files,
    output:
        png=report(
            "results/figures/diagnostics/confusion/{domain}.png",
            caption="../workflow/report/confusion_figure.rst",
            category="Why it drops",
            subcategory="All models",
            labels=lambda w: {"model": "all models", "figure": f"confusions, {w.domain}"},
        ),
        pdf="results/figures/diagnostics/confusion/{domain}.pdf",
    log:
        "logs/figures/diagnostics/confusion/{domain}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=domain_model_labels,
        title=qualitative_title,
    script:
        "../workflow/scripts/figures.py"


rule slices_figure:
    input:
        slice_table,
    output:
        png=report(
            "results/figures/slices/{domain}.png",
            caption="../workflow/report/slices_figure.rst",
            category="Slices",
            subcategory="All models",
            labels=slice_labels,
        ),
        pdf="results/figures/slices/{domain}.pdf",
    log:
        "logs/figures/slices/{domain}.log",
    conda:
        "../envs/report.yaml"
    params:
        labels=model_labels,
        title=qualitative_title,
    script:
        "../workflow/scripts/figures.py"
