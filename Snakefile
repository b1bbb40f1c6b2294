"""segshift: COCO-trained instance segmentation, measured on COCO val2017 and on Cityscapes val."""

from snakemake.utils import min_version

min_version("9.0")


# A --configfile names a whole experiment: it replaces this default instead of being
# merged into it (Snakemake merges by default, which would keep this file's models).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/infer.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    input:
        final_outputs,
    default_target: True
