# Which metrics, tables and figures the config asks for, and the input functions of the
# evaluate and report rules that make them. The config, datasets, domains, models and shards
# they read are in common.smk, included before this file.


# Metrics and tables -------------------------------------------------------------------------


def rider_settings(wildcards):
    """Settings of a rider policy, given to that policy's jobs only."""
    evaluation = config["evaluation"]
    if wildcards.rider_policy == "two_wheeler":
        return {
            "rider_overlap": evaluation["rider_overlap"],
            "rider_min_score": evaluation["rider_min_score"],
        }
    if wildcards.rider_policy == "two_wheeler_mask":
        return {
            "rider_mask_overlap": evaluation["rider_mask_overlap"],
            "rider_min_score": evaluation["rider_min_score"],
        }
    return {}


def bootstrap_settings(wildcards):
    """evaluation.bootstrap with cluster_by resolved for the domain's kind: another kind's clusters
    are no parameter of this domain's metric jobs."""
    return segshift_resampling.domain_settings(
        config["evaluation"]["bootstrap"],
        segshift_domains.kind(config, wildcards.domain),
    )


def all_rider_settings(wildcards):
    """The settings of every rider policy, for a job that applies them all."""
    if domain_kind(wildcards) != "cityscapes":
        return {}
    return {
        k: config["evaluation"][k]
        for k in ("rider_overlap", "rider_min_score", "rider_mask_overlap")
    }


def model_labels(wildcards):
    return {m: segshift_config.model_label(config, m) for m in MODELS}


def domain_model_labels(wildcards):
    """The models of a figure of one domain: those with predictions on it."""
    return {
        m: segshift_config.model_label(config, m)
        for m in domain_models(wildcards.domain)
    }


def diagnosed_model_labels(wildcards):
    """The models of a diagnostics figure: those with predictions on each of its domains."""
    domains = diagnosed_figure_domains(wildcards)
    return {
        m: segshift_config.model_label(config, m)
        for m in MODELS
        if all(covers(m, d) for d in domains)
    }


def suite_model_labels(wildcards):
    """The models of a suite's figure: those with predictions on its clean domain (so on all of it)."""
    return {
        m: segshift_config.model_label(config, m)
        for m in domain_models(SUITES[wildcards.suite]["domain"])
    }


def protocol_files(domain, model):
    """The metric files of one (domain, model): the same ruler and the dataset's own protocol."""
    kind = segshift_domains.protocol(config, domain)
    files = [f"results/metrics/{domain}/{model}/same_ruler.json"]
    if kind == "coco":
        files.append(f"results/metrics/{domain}/{model}/coco.json")
    elif kind == "cityscapes":
        files += [
            f"results/metrics/{domain}/{model}/cityscapes_{p}.json"
            for p in RIDER_POLICIES
        ]
    return files


def covered(pattern, domains, models, **wildcards):
    """expand() over domains x models, leaving out a model's domains without predictions."""
    return [
        f
        for d in domains
        for m in models
        if covers(m, d)
        for f in expand(pattern, domain=d, model=m, **wildcards)
    ]


def coco_metric_files(wildcards):
    return covered(
        "results/metrics/{domain}/{model}/coco.json", domains_of_kind("coco"), MODELS
    )


def cityscapes_metric_files(wildcards):
    return covered(
        "results/metrics/{domain}/{model}/cityscapes_{rider_policy}.json",
        domains_of_kind("cityscapes"),
        MODELS,
        rider_policy=RIDER_POLICIES,
    )


# The gap table and figure compare the source with the targets that are other data or
# another resolution; corrupted domains have the robustness table and severity curves.
GAP_TARGETS = [d for d in TARGETS if not config["domains"][d]["corruption"]]


def gap_metric_files(wildcards):
    return covered(
        "results/metrics/{domain}/{model}/same_ruler.json",
        [SOURCE] + GAP_TARGETS,
        MODELS,
    )


def all_metric_files(wildcards):
    return [f for d in DOMAINS for m in domain_models(d) for f in protocol_files(d, m)]


def suite_metric_files(wildcards):
    """Of every suite (the robustness table), or of the figure's suite."""
    chosen = [wildcards.suite] if "suite" in wildcards.keys() else list(SUITES)
    domains = [d for s in chosen for d in [SUITES[s]["domain"], *SUITES[s]["members"]]]
    return [
        f
        for d in dict.fromkeys(domains)
        for m in domain_models(d)
        for f in protocol_files(d, m)
    ]


# The source is always diagnosed: the Boundary AP gaps are taken to it.
DIAGNOSTICS_DOMAINS = list(dict.fromkeys([SOURCE, *(config["evaluation"]["diagnostics_domains"] or DOMAINS)]))


def diagnostics_files(wildcards, domains=None):
    """Of every (model, diagnosed domain), models first."""
    return [
        f"results/metrics/{domain}/{model}/diagnostics.json"
        for model in MODELS
        for domain in domains or DOMAINS
        if domain in DIAGNOSTICS_DOMAINS and covers(model, domain)
    ]


def diagnostics_same_ruler_files(wildcards, domains=None):
    """The same ruler's files beside diagnostics_files, in the same order (mask AP beside Boundary AP)."""
    return [
        f.replace("diagnostics.json", "same_ruler.json")
        for f in diagnostics_files(wildcards, domains)
    ]


def figure_diagnostics_files(wildcards):
    """Of the models of the figure (diagnosed_model_labels) only."""
    models = diagnosed_model_labels(wildcards)
    return [
        f
        for f in diagnostics_files(wildcards, figure_domains(wildcards))
        if Path(f).parent.name in models
    ]


def figure_diagnostics_same_ruler_files(wildcards):
    return [
        f.replace("diagnostics.json", "same_ruler.json")
        for f in figure_diagnostics_files(wildcards)
    ]


def confusion_files(wildcards):
    domains = [wildcards.domain] if "domain" in wildcards.keys() else DIAGNOSTICS_DOMAINS
    return covered("results/metrics/{domain}/{model}/confusion.json", domains, MODELS)


DIAGNOSTIC_TABLES = ["errors", "boundary_ap", "calibration", "confusions"]


def table_in_report(table, ext, caption, category, label):
    """A table's file, in the report: the HTML layout shown in the page, the tidy CSV to download."""
    return report(
        f"results/tables/{table}.{ext}",
        caption=f"../workflow/report/{caption}.rst",
        category=category,
        subcategory="All models",
        labels={
            "model": "all models",
            "figure": f"table: {label}" + (" (CSV)" if ext == "csv" else ""),
        },
    )
DIAGNOSTIC_FIGURES = ["errors", "boundary_ap", "reliability"]


def table_files():
    tables = ["transfer_matrix"]
    if domains_of_kind("coco"):
        tables.append("coco_metrics")
    if domains_of_kind("cityscapes"):
        tables.append("cityscapes_metrics")
    if GAP_TARGETS:
        tables.append("transfer_gap")
    if SUITES:
        tables.append("robustness")
    if config["report"]["model_pairs"]:
        tables.append("model_comparison")
    tables += DIAGNOSTIC_TABLES
    tables += ACROSS_TABLES
    return expand(
        "results/tables/{table}.{ext}", table=tables, ext=["csv", "md", "tex"]
    )


def domain_settings(wildcards):
    return config["domains"]


def suite_settings(wildcards):
    return SUITES


# Figures and panels --------------------------------------------------------------------------

MODEL_FIGURES = ["per_class_ap", "ap_by_size", "pr_curves"]
DOMAIN_PAIRS = [tuple(p) for p in config["report"]["domain_pairs"] or []] or [
    (SOURCE, t) for t in GAP_TARGETS
]
QUALITATIVE_DOMAINS = config["report"]["qualitative_domains"] or [
    d for d in DOMAINS if config["domains"][d]["suite"] is None
]


def figure_models(wildcards):
    """The models a figure shows: its model (and the other of a pair), or all of them that have
    predictions on each of its domains."""
    if "other_model" in wildcards.keys():
        return [wildcards.model, wildcards.other_model]
    if "model" in wildcards.keys():
        return [wildcards.model]
    return [m for m in MODELS if all(covers(m, d) for d in figure_domains(wildcards))]


def figure_domains(wildcards):
    """The domains a figure shows: its pair, or the source and the gap targets."""
    if "other_domain" in wildcards.keys():
        return [wildcards.domain, wildcards.other_domain]
    return [SOURCE] + GAP_TARGETS


def figure_model_labels(wildcards):
    return {m: segshift_config.model_label(config, m) for m in figure_models(wildcards)}


def figure_domain_labels(wildcards):
    return {d: domain_label(d) for d in figure_domains(wildcards)}


def figure_domain_colors(wildcards, domains=None):
    """Stable: by place in the config, declared domains before those a suite expands."""
    from segshift import figures

    order = sorted(DOMAINS, key=lambda d: config["domains"][d]["suite"] is not None)
    colors = figures.domain_colors(order, SOURCE)
    return {d: colors[d] for d in domains or figure_domains(wildcards)}


def diagnosed_figure_domains(wildcards):
    return [d for d in figure_domains(wildcards) if d in DIAGNOSTICS_DOMAINS]


def diagnosed_domain_labels(wildcards):
    return {d: domain_label(d) for d in diagnosed_figure_domains(wildcards)}


def diagnosed_domain_colors(wildcards):
    return figure_domain_colors(wildcards, diagnosed_figure_domains(wildcards))


def model_label(wildcards):
    return segshift_config.model_label(config, wildcards.model)


def same_ruler_files(wildcards):
    """For each model of the figure in turn, its same-ruler file on each domain of the figure."""
    return [
        f"results/metrics/{domain}/{model}/same_ruler.json"
        for model in figure_models(wildcards)
        for domain in figure_domains(wildcards)
        if covers(model, domain)
    ]


def figure_ground_truths(wildcards):
    return [
        f"resources/datasets/{domain_dataset(d)}/ground_truth.json"
        for d in figure_domains(wildcards)
    ]


def figure_kinds(wildcards):
    return [segshift_domains.protocol(config, d) for d in figure_domains(wildcards)]


def cityscapes_files(wildcards):
    """The official protocol of the second domain of the pair, where it is a Cityscapes one."""
    if segshift_domains.protocol(config, wildcards.other_domain) != "cityscapes":
        return []
    return expand(
        "results/metrics/{domain}/{model}/cityscapes_{rider_policy}.json",
        domain=wildcards.other_domain,
        model=wildcards.model,
        rider_policy=RIDER_POLICIES,
    )


def pair_cityscapes_files(wildcards):
    """A model pair is compared under the first rider policy of the config."""
    if segshift_domains.protocol(config, wildcards.other_domain) != "cityscapes":
        return []
    return [
        f"results/metrics/{wildcards.other_domain}/{model}/cityscapes_{RIDER_POLICIES[0]}.json"
        for model in figure_models(wildcards)
    ]


def figure_labels(figure):
    return lambda wildcards: {
        "model": model_label(wildcards),
        "figure": f"{figure}, {wildcards.domain} vs {wildcards.other_domain}",
    }


def pair_labels(wildcards):
    a, b = figure_model_labels(wildcards).values()
    return {
        "model": f"{a} vs {b}",
        "figure": f"model pair, {wildcards.domain} vs {wildcards.other_domain}",
    }


def suite_labels(wildcards):
    return {"model": "all models", "figure": f"corruptions, {wildcards.suite}"}


def qualitative_labels(wildcards):
    return {
        "model": "all models",
        "figure": f"qualitative, {domain_label(wildcards.domain)}",
    }


def qualitative_title(wildcards):
    return domain_label(wildcards.domain)


def all_model_shards(wildcards):
    return [
        f for model in domain_models(wildcards.domain) for f in shard_files(wildcards.domain, model)
    ]


def qualitative_image_ids(wildcards):
    return config["report"]["qualitative_image_ids"].get(wildcards.domain, [])


def figure_files():
    files = expand(
        "results/figures/qualitative/{domain}.png", domain=QUALITATIVE_DOMAINS
    )
    for a, b in DOMAIN_PAIRS:
        both = [m for m in MODELS if covers(m, a) and covers(m, b)]
        files += expand(
            "results/figures/{model}/{domain}_vs_{other_domain}/{figure}.png",
            model=both,
            domain=a,
            other_domain=b,
            figure=MODEL_FIGURES,
        )
        files += [
            f"results/figures/model_pairs/{m}_vs_{o}/{a}_vs_{b}.png"
            for m, o in config["report"]["model_pairs"]
            if m in both and o in both
        ]
    if GAP_TARGETS:
        files.append("results/figures/transfer_gap.png")
    files += expand("results/figures/corruptions/{suite}.png", suite=SUITES)
    files += across_figure_files()
    files += expand("results/figures/diagnostics/{figure}.png", figure=DIAGNOSTIC_FIGURES)
    files += expand(
        "results/figures/diagnostics/confusion/{domain}.png",
        domain=[d for d in [SOURCE] + GAP_TARGETS if d in DIAGNOSTICS_DOMAINS],
    )
    return files


def model_outputs(model):
    """Everything of one model that needs no other model (an input function)."""

    def files(wildcards):
        out = [f for d in model_domains(model) for f in protocol_files(d, model)]
        out += [
            f"results/metrics/{d}/{model}/per_image.parquet"
            for d in model_domains(model)
        ]
        out += [
            f"results/metrics/{d}/{model}/{name}.json"
            for d in DIAGNOSTICS_DOMAINS
            if covers(model, d)
            for name in ("diagnostics", "confusion")
        ]
        for a, b in DOMAIN_PAIRS:
            if not (covers(model, a) and covers(model, b)):
                continue
            out += [
                f"results/figures/{model}/{a}_vs_{b}/{f}.png" for f in MODEL_FIGURES
            ]
        return out

    return files


def export_files(wildcards):
    """snakemake export: every (domain, model)'s predictions and per-image results, and each domain's
    ground truth."""
    predictions = [
        f"results/exports/{d}/{m}{ext}"
        for d in DOMAINS
        for m in domain_models(d)
        for ext in (".json", ".per_image.parquet")
    ]
    return predictions + [f"results/exports/{d}/ground_truth.json" for d in DOMAINS]


CORRUPTED_DOMAINS = [d for d in DOMAINS if config["domains"][d]["corruption"]]


def export_image_folders(wildcards):
    """snakemake export_images: every corrupted domain's images."""
    return [f"results/exports/{d}/images" for d in CORRUPTED_DOMAINS]


def domain_num_images(wildcards):
    return selected_images(domain_dataset(wildcards.domain))[1]


def slice_match_files(wildcards):
    return [
        f"results/metrics/{wildcards.domain}/{m}/same_ruler_matches.npz"
        for m in domain_models(wildcards.domain)
    ]


def slice_models(wildcards):
    return domain_models(wildcards.domain)


def slice_fields(wildcards):
    return SLICES[wildcards.domain]


def slice_labels(wildcards):
    return {"model": "all models", "figure": f"slices, {domain_label(wildcards.domain)}"}


def slice_table(wildcards):
    return f"results/tables/slices/{wildcards.domain}.csv"


def slice_files():
    return expand(
        "results/tables/slices/{domain}.{ext}", domain=list(SLICES), ext=["csv", "md"]
    ) + expand("results/figures/slices/{domain}.png", domain=list(SLICES))


# Across models -------------------------------------------------------------------------------

# Effective robustness: a table of every target and suite, a figure of each target that is not
# corrupted and of each suite's mPC. Synthetic vs real: the suites' corruptions against those targets.
ACROSS_TARGETS = GAP_TARGETS + list(SUITES)
# Ranking: tests over a set of domains (every clean target; each suite's cells) need two models and
# two domains in the set; the critical-difference figure needs three models.
RANKING_SETS = {
    name: members
    for name, members in [("targets", GAP_TARGETS)]
    + [(s, list(e["members"])) for s, e in SUITES.items()]
    if len(members) >= 2
}
ACROSS_TABLES = (
    (["effective_robustness"] if TARGETS else [])
    + (["synthetic_vs_real"] if SUITES and GAP_TARGETS else [])
    + (["ranking"] if len(MODELS) >= 2 and RANKING_SETS else [])
)
RANKING_FIGURES = list(RANKING_SETS) if len(MODELS) >= 3 else []


wildcard_constraints:
    target=alternatives(ACROSS_TARGETS),
    domain_set=alternatives(RANKING_FIGURES),


def across_figure_files():
    files = expand(
        "results/figures/across_models/effective_robustness/{target}.png",
        target=ACROSS_TARGETS,
    )
    if "synthetic_vs_real" in ACROSS_TABLES:
        files.append("results/figures/across_models/synthetic_vs_real.png")
    files += expand(
        "results/figures/across_models/ranking/{domain_set}.png",
        domain_set=RANKING_FIGURES,
    )
    return files


def model_families(wildcards):
    """Each model's family and backbone (None where the config gives none)."""
    return {
        m: {k: config["models"][m].get(k) for k in ("family", "backbone")}
        for m in MODELS
    }


def population_files(wildcards):
    """Every model's same-ruler file on every domain: the across-models tables hold them all."""
    return covered("results/metrics/{domain}/{model}/same_ruler.json", DOMAINS, MODELS)


def target_population_files(wildcards):
    """Every model on the source and on one target (a suite: its corrupted domains)."""
    target = wildcards.target
    members = list(SUITES[target]["members"]) if target in SUITES else [target]
    return covered(
        "results/metrics/{domain}/{model}/same_ruler.json", [SOURCE, *members], MODELS
    )


def across_target(wildcards):
    """The figure's target as the tables take it: a domain, or a suite (its mPC), and its title."""
    target = wildcards.target
    if target in SUITES:
        return {"targets": [], "suites": {target: SUITES[target]}, "title": f"{target} (mPC)"}
    return {"targets": [target], "suites": {}, "title": domain_label(target)}


def across_labels(wildcards):
    return {
        "model": "all models",
        "figure": f"effective robustness, {across_target(wildcards)['title']}",
    }


def ranking_title(wildcards):
    name = wildcards.domain_set
    return f"{name}'s cells" if name in SUITES else "every clean target"


def ranking_labels(wildcards):
    return {"model": "all models", "figure": f"ranking, {ranking_title(wildcards)}"}


def real_target_labels(wildcards):
    return {d: domain_label(d) for d in GAP_TARGETS}


def per_image_files():
    """Every (domain, model)'s per-image results: a result of their own, not only an input of the slices."""
    return [
        f"results/metrics/{d}/{m}/per_image.parquet"
        for d in DOMAINS
        for m in domain_models(d)
    ]


def final_outputs(wildcards):
    return table_files() + figure_files() + slice_files() + per_image_files()
