"""segshift: COCO-trained instance segmentation, measured on COCO val2017 and on Cityscapes val."""

from snakemake.utils import min_version

min_version("9.0")


# A --configfile names a whole experiment: it replaces this default instead of being
# merged into it (Snakemake merges by default, which would keep this file's models).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/results.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/infer.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/export.smk"


rule all:
    default_target: True
    input:
        final_outputs,


# One target per model: its predictions, metrics and figures, and none of the other
# models' (snakemake model_<name>; add --forcerun infer to redo its inference).
for _model in MODELS:

    rule:
        name:
            f"model_{_model}"
        input:
            model_outputs(_model),
        localrule: True
