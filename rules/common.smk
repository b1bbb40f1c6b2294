import re
import sys
from pathlib import Path

# The logic lives in src/segshift. Scripts find it through the link
# workflow/scripts/segshift (Snakemake puts a script's folder on its sys.path).
_SRC = str(Path(workflow.basedir) / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from segshift import config as segshift_config
from segshift import manifest as segshift_manifest
from segshift.datasets import DATASET_KINDS
from segshift.datasets import cityscapes as segshift_cityscapes
from segshift.errors import SegshiftError


def stop(message):
    """End start-up with one line, before any job runs."""
    sys.exit(f"segshift: {message}")


try:
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
MODELS = list(config["models"])
RIDER_POLICIES = config["evaluation"]["rider_policies"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(re.escape(m) for m in MODELS),
    shard=r"\d{5}",
    num_shards=r"\d{5}",
    rider_policy="|".join(RIDER_POLICIES),
    other_model="|".join(re.escape(m) for m in MODELS),


# Datasets -----------------------------------------------------------------------------------


def dataset_root(dataset):
    """An existing copy named in the config, or the folder the download rules fill."""
    root = config["datasets"][dataset]["root"]
    return Path(root) if root else Path("resources") / dataset


def sources(dataset):
    root = dataset_root(dataset)
    if DATASET_KINDS[dataset] == "coco":
        return {
            "images": str(root / "val2017"),
            "annotations": str(root / "annotations" / "instances_val2017.json"),
        }
    return {
        "images": str(root / segshift_cityscapes.IMAGE_SUBDIR),
        "ground_truth": str(root / segshift_cityscapes.GT_SUBDIR),
    }


def dataset_sources(wildcards):
    """The files prepare_dataset reads: on disk already, or produced by the unpack rules."""
    return sources(wildcards.dataset)


def coco_archive_url(wildcards):
    return config["datasets"]["coco_val2017"]["download"][wildcards.archive]["url"]


def coco_archive_sha256(wildcards):
    return config["datasets"]["coco_val2017"]["download"][wildcards.archive]["sha256"]


def check_dataset_sources():
    for dataset in DATASETS:
        root = config["datasets"][dataset]["root"]
        if not root:
            continue
        for path in sources(dataset).values():
            if not Path(path).exists():
                stop(
                    f"datasets.{dataset}.root is {root}, but {path} does not exist; point root at "
                    f"the folder that holds {Path(path).relative_to(root)}"
                )


check_dataset_sources()


def cityscapes_credentials(wildcards):
    """No input; stops DAG building, before any job, when a download has no credentials."""
    if segshift_cityscapes.credentials_from_env() is None:
        stop(segshift_cityscapes.MISSING_CREDENTIALS)
    return []


def manifest_file(dataset):
    return f"resources/datasets/{dataset}/manifest.parquet"


def ground_truth_file(wildcards):
    return f"resources/datasets/{wildcards.dataset}/ground_truth.json"


def max_images(wildcards):
    return config["datasets"][wildcards.dataset]["max_images"]


# Models -------------------------------------------------------------------------------------


def weights_file(wildcards):
    weights = config["models"][wildcards.model]["weights"]
    if "path" in weights:
        return weights["path"]
    suffix = Path(weights["url"].split("?")[0]).suffix
    return f"resources/weights/{wildcards.model}{suffix}"


def weights_url(wildcards):
    return config["models"][wildcards.model]["weights"]["url"]


def weights_sha256(wildcards):
    return config["models"][wildcards.model]["weights"]["sha256"]


def check_weights():
    for model, entry in config["models"].items():
        path = entry["weights"].get("path")
        if path and not Path(path).is_file():
            stop(
                f"models.{model}.weights.path is {path}, which is not a file; fix the path or give weights.url"
            )


check_weights()


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


def model_test_size(wildcards):
    """The dataset's test size, for backends that resize (a YOLO export has a fixed input)."""
    if model_backend(wildcards) == "yolo_seg_export":
        return None
    return config["datasets"][wildcards.dataset]["test_size"]


def model_gpus(wildcards):
    """GPUs an inference job holds: none for the CPU-only LiteRT runtime."""
    return 0 if model_backend(wildcards) == "yolo_seg_export" else 1


# Shards ------------------------------------------------------------------------------------


def selected_images(dataset):
    """(images in the dataset, images selected by max_images); reads the checkpoint's manifest."""
    path = checkpoints.prepare_dataset.get(dataset=dataset).output.manifest
    total = segshift_manifest.num_rows(path)
    limit = config["datasets"][dataset]["max_images"]
    return total, min(total, limit or total)


def shard_files(dataset, model):
    total, selected = selected_images(dataset)
    per_shard = config["images_per_shard"]
    of = segshift_manifest.num_shards(total, per_shard)
    return [
        f"results/predictions/{dataset}/{model}/{segshift_manifest.shard_name(s, of)}.parquet"
        for s in segshift_manifest.shards_needed(selected, per_shard)
    ]


def prediction_shards(wildcards):
    return shard_files(wildcards.dataset, wildcards.model)


def shard_num_images(wildcards):
    """Images in this shard: a param, so a partial last shard reruns when max_images grows."""
    _, selected = selected_images(wildcards.dataset)
    rows = segshift_manifest.shard_rows(
        int(wildcards.shard), config["images_per_shard"], selected
    )
    return rows.stop - rows.start


# Metrics and tables -------------------------------------------------------------------------


def rider_settings(wildcards):
    """Settings of the two_wheeler policy, given to that policy's jobs only."""
    if wildcards.rider_policy != "two_wheeler":
        return {}
    evaluation = config["evaluation"]
    return {
        "rider_overlap": evaluation["rider_overlap"],
        "rider_min_score": evaluation["rider_min_score"],
    }


def model_labels(wildcards):
    return {m: segshift_config.model_label(config, m) for m in MODELS}


def coco_metric_files(wildcards):
    return expand("results/metrics/coco_val2017/{model}/coco.json", model=MODELS)


def cityscapes_metric_files(wildcards):
    return expand(
        "results/metrics/cityscapes_val/{model}/cityscapes_{rider_policy}.json",
        model=MODELS,
        rider_policy=RIDER_POLICIES,
    )


def same_ruler_metric_files(wildcards):
    return expand(
        "results/metrics/{dataset}/{model}/same_ruler.json",
        dataset=["coco_val2017", "cityscapes_val"],
        model=MODELS,
    )


def table_files():
    tables = []
    if "coco_val2017" in DATASETS:
        tables.append("coco_metrics")
    if "cityscapes_val" in DATASETS:
        tables.append("cityscapes_metrics")
    if {"coco_val2017", "cityscapes_val"} <= set(DATASETS):
        tables.append("transfer_gap")
    return expand(
        "results/tables/{table}.{ext}", table=tables, ext=["csv", "md", "tex"]
    )


# Figures and panels --------------------------------------------------------------------------

FIGURE_DOMAINS = ["coco_val2017", "cityscapes_val"]  # figures compare the two domains
MODEL_FIGURES = ["per_class_ap", "ap_by_size", "pr_curves"]


def figure_models(wildcards):
    """The models a figure shows: its model (and the other of a pair), or all of them."""
    if "other_model" in wildcards.keys():
        return [wildcards.model, wildcards.other_model]
    if "model" in wildcards.keys():
        return [wildcards.model]
    return MODELS


def figure_model_labels(wildcards):
    return {m: segshift_config.model_label(config, m) for m in figure_models(wildcards)}


def model_label(wildcards):
    return segshift_config.model_label(config, wildcards.model)


def same_ruler_files(wildcards):
    """COCO then Cityscapes, for each model of the figure in turn."""
    return [
        f"results/metrics/{dataset}/{model}/same_ruler.json"
        for model in figure_models(wildcards)
        for dataset in FIGURE_DOMAINS
    ]


def cityscapes_files(wildcards):
    return expand(
        "results/metrics/cityscapes_val/{model}/cityscapes_{rider_policy}.json",
        model=wildcards.model,
        rider_policy=RIDER_POLICIES,
    )


def pair_cityscapes_files(wildcards):
    """A pair is compared under the first rider policy of the config."""
    return [
        f"results/metrics/cityscapes_val/{model}/cityscapes_{RIDER_POLICIES[0]}.json"
        for model in figure_models(wildcards)
    ]


def figure_labels(figure):
    return lambda wildcards: {"model": model_label(wildcards), "figure": figure}


def pair_labels(wildcards):
    a, b = figure_model_labels(wildcards).values()
    return {"model": f"{a} vs {b}", "figure": "model pair"}


def dataset_name(wildcards):
    return {"coco_val2017": "COCO val2017", "cityscapes_val": "Cityscapes val"}[
        wildcards.dataset
    ]


def all_model_shards(wildcards):
    return [f for model in MODELS for f in shard_files(wildcards.dataset, model)]


def qualitative_image_ids(wildcards):
    return config["report"]["qualitative_image_ids"].get(wildcards.dataset, [])


def figure_files():
    files = expand("results/figures/qualitative/{dataset}.png", dataset=DATASETS)
    if set(FIGURE_DOMAINS) <= set(DATASETS):
        files += expand(
            "results/figures/{model}/{figure}.png", model=MODELS, figure=MODEL_FIGURES
        )
        files.append("results/figures/transfer_gap.png")
        files += [
            f"results/figures/model_pairs/{a}_vs_{b}.png"
            for a, b in config["report"]["model_pairs"]
        ]
    return files


def model_outputs(model):
    """Everything of one model that needs no other model (an input function)."""

    def files(wildcards):
        out = []
        if "coco_val2017" in DATASETS:
            out.append(f"results/metrics/coco_val2017/{model}/coco.json")
        if "cityscapes_val" in DATASETS:
            out += [
                f"results/metrics/cityscapes_val/{model}/cityscapes_{p}.json"
                for p in RIDER_POLICIES
            ]
        if set(FIGURE_DOMAINS) <= set(DATASETS):
            out += [
                f"results/metrics/{d}/{model}/same_ruler.json" for d in FIGURE_DOMAINS
            ]
            out += [f"results/figures/{model}/{f}.png" for f in MODEL_FIGURES]
        return out

    return files


def final_outputs(wildcards):
    return table_files() + figure_files()
