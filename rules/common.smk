import re
import sys
from pathlib import Path

# The logic lives in src/segshift. Scripts find it through the link
# workflow/scripts/segshift (Snakemake puts a script's folder on its sys.path).
_SRC = str(Path(workflow.basedir) / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from segshift import config as segshift_config
from segshift import domains as segshift_domains
from segshift.evaluation import resampling as segshift_resampling
from segshift import manifest as segshift_manifest
from segshift import backends as segshift_backends
from segshift.corruptions import NAMES as CORRUPTIONS
from segshift.datasets import acdc as segshift_acdc
from segshift.datasets import bdd100k as segshift_bdd100k
from segshift.datasets import cityscapes as segshift_cityscapes
from segshift.errors import SegshiftError


def stop(message):
    """End start-up with one line, before any job runs."""
    sys.exit(f"segshift: {message}")


try:
    for _file in workflow.configfiles:
        segshift_config.read_yaml(_file)  # a repeated key (two domains with one name) is an error
    _validated = segshift_config.validate(
        config,
        segshift_config.load_schema(
            Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
        ),
        source="config",
    )
except SegshiftError as e:
    stop(e)
config.clear()
config.update(_validated)

DATASETS = list(config["datasets"])
DOMAINS = list(config["domains"])
SOURCE = config["source"]
TARGETS = [d for d in DOMAINS if d != SOURCE]
MODELS = list(config["models"])
RIDER_POLICIES = config["evaluation"]["rider_policies"]
SUITES = segshift_domains.suites(config)
SLICES = config["slices"]


def datasets_of_kind(kind):
    return [d for d in DATASETS if config["datasets"][d]["kind"] == kind]


def domains_of_kind(kind):
    """The domains scored by this kind's protocol (an acdc domain is a cityscapes one here)."""
    return [d for d in DOMAINS if segshift_domains.protocol(config, d) == kind]


def alternatives(names):
    """A wildcard pattern that matches exactly these names (none: nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    dataset=alternatives(DATASETS),
    domain=alternatives(DOMAINS),
    other_domain=alternatives(DOMAINS),
    model=alternatives(MODELS),
    other_model=alternatives(MODELS),
    shard=r"\d{5}",
    num_shards=r"\d{5}",
    rider_policy=alternatives(RIDER_POLICIES),
    corruption=alternatives(CORRUPTIONS),
    severity="[1-5]",
    suite=alternatives(SUITES),


# Datasets -----------------------------------------------------------------------------------


def dataset_kind(dataset):
    return config["datasets"][dataset]["kind"]


def dataset_root(dataset):
    """An existing copy named in the config, or the folder the download rules fill."""
    root = config["datasets"][dataset].get("root")
    return Path(root) if root else Path("resources") / dataset


def sources(dataset):
    entry, root = config["datasets"][dataset], dataset_root(dataset)
    if entry["kind"] == "coco":
        return {
            "images": str(root / "val2017"),
            "annotations": str(root / "annotations" / "instances_val2017.json"),
        }
    if entry["kind"] == "cityscapes":
        return {
            "images": str(
                root
                / segshift_cityscapes.image_subdir(entry["split"], entry["fog_beta"])
            ),
            "ground_truth": str(root / segshift_cityscapes.gt_subdir(entry["split"])),
        }
    if entry["kind"] == "bdd100k":
        return {
            "images": str(root / segshift_bdd100k.image_subdir(entry["split"])),
            "bitmasks": str(root / segshift_bdd100k.bitmask_subdir(entry["split"])),
        }
    if entry["kind"] == "acdc":
        split, reference = entry["split"], entry["reference"]
        conditions = entry["conditions"][:1] if reference else entry["conditions"]
        return {
            **{
                f"images_{c}": str(
                    segshift_acdc.condition_dir(root, c, split, reference)
                )
                for c in entry["conditions"]
            },
            **{
                f"panoptic_{c}": str(
                    segshift_acdc.panoptic_json(root, c, split, reference)
                )
                for c in conditions
            },
        }
    return {"images": entry["images"], "annotations": entry["annotations"]}


def dataset_sources(wildcards):
    """The files prepare_dataset reads: on disk already, or produced by the unpack rules."""
    return sources(wildcards.dataset)


def coco_archive_url(wildcards):
    return config["datasets"][wildcards.dataset]["download"][wildcards.archive]["url"]


def coco_archive_sha256(wildcards):
    return config["datasets"][wildcards.dataset]["download"][wildcards.archive][
        "sha256"
    ]


def check_dataset_sources():
    for dataset in DATASETS:
        entry = config["datasets"][dataset]
        if entry["kind"] != "coco_json" and not entry["root"]:
            continue
        if entry["kind"] == "acdc":
            try:
                segshift_acdc.check_layout(
                    entry["root"],
                    entry["conditions"],
                    entry["split"],
                    entry["reference"],
                    dataset,
                )
            except SegshiftError as e:
                stop(e)
        for key, path in sources(dataset).items():
            if Path(path).exists():
                continue
            if entry["kind"] == "coco_json":
                stop(
                    f"datasets.{dataset}.{key} is {path}, which does not exist; fix the path"
                )
            stop(
                f"datasets.{dataset}.root is {entry['root']}, but {path} does not exist; point root at "
                f"the folder that holds {Path(path).relative_to(entry['root'])}"
            )


check_dataset_sources()


def cityscapes_package(wildcards):
    """The archive that unpacks into a folder (gtFine, leftImg8bit, leftImg8bit_foggy)."""
    return f"resources/downloads/{wildcards.dataset}/{segshift_cityscapes.PACKAGES[wildcards.package]}.zip"


def cityscapes_credentials(wildcards):
    """No input; stops DAG building, before any job, when a download has no credentials."""
    if segshift_cityscapes.credentials_from_env() is None:
        stop(segshift_cityscapes.MISSING_CREDENTIALS)
    return []


def prepared_kind(wildcards):
    return dataset_kind(wildcards.dataset)


def acdc_root(wildcards):
    return str(dataset_root(wildcards.dataset))


def acdc_split(wildcards):
    return config["datasets"][wildcards.dataset]["split"]


def acdc_conditions(wildcards):
    return list(config["datasets"][wildcards.dataset]["conditions"])


def acdc_reference(wildcards):
    return config["datasets"][wildcards.dataset]["reference"]


def fog_beta(wildcards):
    return config["datasets"][wildcards.dataset].get("fog_beta")


def category_mapping(wildcards):
    return config["datasets"][wildcards.dataset].get("category_mapping")


# Domains ------------------------------------------------------------------------------------


def domain_dataset(domain):
    return config["domains"][domain]["dataset"]


def domain_kind(wildcards):
    """The kind whose protocol the metric scripts apply (an acdc domain: cityscapes)."""
    return segshift_domains.protocol(config, wildcards.domain)


def domain_label(domain):
    return segshift_domains.label(config, domain)


def domain_manifest(wildcards):
    return f"resources/datasets/{domain_dataset(wildcards.domain)}/manifest.parquet"


def domain_ground_truth(wildcards):
    return f"resources/datasets/{domain_dataset(wildcards.domain)}/ground_truth.json"


def source_ground_truth(wildcards):
    return f"resources/datasets/{domain_dataset(SOURCE)}/ground_truth.json"


def source_kind(wildcards):
    return segshift_domains.protocol(config, SOURCE)


def domain_corruption(wildcards):
    return config["domains"][wildcards.domain]["corruption"]


def corrupted_shard(wildcards):
    """The cached corrupted images an inference shard reads: a list, empty for a clean domain
    (a plain string would reach the script as a string, not as one file)."""
    corruption = domain_corruption(wildcards)
    if not corruption:
        return []
    return [
        f"resources/corrupted/{domain_dataset(wildcards.domain)}/"
        f"{corruption['name']}-{corruption['severity']}/"
        f"shard-{wildcards.shard}-of-{wildcards.num_shards}.parquet"
    ]


def corrupted_shards(wildcards):
    corruption = domain_corruption(wildcards)
    if not corruption:
        return []
    dataset = domain_dataset(wildcards.domain)
    return [
        f"resources/corrupted/{dataset}/{corruption['name']}-{corruption['severity']}/{name}.parquet"
        for name in shard_names(dataset)
    ]


# Models -------------------------------------------------------------------------------------


def weights_file(wildcards):
    """A list: empty for a python model without weights."""
    weights = config["models"][wildcards.model].get("weights")
    if not weights:
        return []
    if "path" in weights:
        return [weights["path"]]
    if "hub" in weights:  # a checkpoint folder, fetched once by download_hub_weights
        return [f"resources/weights/{wildcards.model}"]
    suffix = Path(weights["url"].split("?")[0]).suffix
    return [f"resources/weights/{wildcards.model}{suffix}"]


HUB_MODELS = [m for m in MODELS if "hub" in config["models"][m].get("weights", {})]
# Predictions made elsewhere, imported from their files; every other model is run by infer.
RESULTS_MODELS = [m for m in MODELS if config["models"][m]["backend"] == "results_json"]
RUN_MODELS = [m for m in MODELS if m not in RESULTS_MODELS]


def covers(model, domain):
    return segshift_config.covers(config, model, domain)


def model_domains(model):
    return [d for d in DOMAINS if covers(model, d)]


def domain_models(domain):
    return [m for m in MODELS if covers(m, domain)]


def check_results_files():
    for model in RESULTS_MODELS:
        for domain, path in config["models"][model]["results"].items():
            if not Path(path).is_file():
                stop(
                    f"models.{model}.results.{domain} is {path}, which is not a file; fix the path"
                )


check_results_files()

# (path, size, mtime) -> sha256: each file hashed once per DAG build
_RESULTS_SHA256 = {}


def results_sha256(wildcards):
    """The results file's hash: a param, so that its content, not its time stamp, decides reruns."""
    path = Path(config["models"][wildcards.model]["results"][wildcards.domain])
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _RESULTS_SHA256:
        from segshift.io import sha256_file

        _RESULTS_SHA256[key] = sha256_file(path)
    return _RESULTS_SHA256[key]


def weights_hub(wildcards):
    return config["models"][wildcards.model]["weights"]["hub"]


def weights_url(wildcards):
    return config["models"][wildcards.model]["weights"]["url"]


def weights_sha256(wildcards):
    return config["models"][wildcards.model]["weights"]["sha256"]


def check_weights():
    for model, entry in config["models"].items():
        path = entry.get("weights", {}).get("path")
        folder = entry["backend"] == "transformers"  # a checkpoint folder
        if path and not (Path(path).is_dir() if folder else Path(path).is_file()):
            stop(
                f"models.{model}.weights.path is {path}, which is not a {'folder' if folder else 'file'}; "
                f"fix the path or give weights.{'hub' if folder else 'url'}"
            )


check_weights()


def backend_package(wildcards):
    """No input; stops DAG building, before any job, when the model's backend package is not installed
    (one line with the install command). A dry run only plans, and with --use-conda the jobs'
    environments, not this one, hold the packages: neither is stopped."""
    from snakemake.settings.types import DeploymentMethod

    in_conda_envs = (
        DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    )
    if workflow.dryrun or in_conda_envs:
        return []
    backend = model_backend(wildcards)
    missing = segshift_backends.missing_package(backend, wildcards.model)
    if missing:
        stop(missing)
    return []


def model_backend(wildcards):
    return config["models"][wildcards.model]["backend"]


def model_settings(wildcards):
    """Backend keyword arguments; a detectron2 config in this repository becomes an absolute path."""
    settings = segshift_config.model_settings(config, wildcards.model)
    if "config" in settings:
        local = Path(workflow.basedir) / settings["config"]
        if local.is_file():
            settings["config"] = str(local)
    return settings


def domain_test_size(wildcards):
    return config["domains"][wildcards.domain]["test_size"]


def model_gpus(wildcards):
    """GPUs an inference job holds: none for the CPU-only LiteRT runtime, nor for a python model
    with gpu: false."""
    return int(
        segshift_backends.uses_gpu(model_backend(wildcards), model_settings(wildcards))
    )


# Shards ------------------------------------------------------------------------------------


_SELECTED = {}  # dataset -> (manifest mtime, counts): read each manifest once per DAG build


def selected_images(dataset):
    """(images in the dataset, images selected by max_images); reads the checkpoint's manifest."""
    prepare = (
        checkpoints.prepare_acdc
        if dataset_kind(dataset) == "acdc"
        else checkpoints.prepare_dataset
    )
    path = prepare.get(dataset=dataset).output.manifest
    mtime = Path(path).stat().st_mtime_ns
    if _SELECTED.get(dataset, (None,))[0] != mtime:
        total = segshift_manifest.num_rows(path)
        limit = config["datasets"][dataset]["max_images"]
        _SELECTED[dataset] = (mtime, (total, min(total, limit or total)))
    return _SELECTED[dataset][1]


def shard_names(dataset):
    total, selected = selected_images(dataset)
    per_shard = config["images_per_shard"]
    of = segshift_manifest.num_shards(total, per_shard)
    return [
        segshift_manifest.shard_name(s, of)
        for s in segshift_manifest.shards_needed(selected, per_shard)
    ]


def shard_files(domain, model):
    return [
        f"results/predictions/{domain}/{model}/{name}.parquet"
        for name in shard_names(domain_dataset(domain))
    ]


def prediction_shards(wildcards):
    return shard_files(wildcards.domain, wildcards.model)


def shard_num_images(wildcards):
    """Images in this shard: a param, so a partial last shard reruns when max_images grows."""
    dataset = wildcards.dataset if "dataset" in wildcards.keys() else None
    dataset = dataset or domain_dataset(wildcards.domain)
    _, selected = selected_images(dataset)
    rows = segshift_manifest.shard_rows(
        int(wildcards.shard), config["images_per_shard"], selected
    )
    return rows.stop - rows.start


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
