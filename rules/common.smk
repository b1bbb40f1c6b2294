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
