"""Write a dataset's image manifest and its COCO-format ground truth, by the dataset's kind."""

import logging

from segshift import workflow
from segshift.datasets import acdc, bdd100k, cityscapes, coco, coco_json


def main(snakemake):
    dataset, kind, inputs, outputs = snakemake.wildcards.dataset, snakemake.params.kind, snakemake.input, snakemake.output
    if kind == "coco":
        n = coco.prepare(inputs.annotations, inputs.images, outputs.manifest, outputs.ground_truth, dataset=dataset)
    elif kind == "cityscapes":
        n = cityscapes.convert(inputs.images, inputs.ground_truth, outputs.manifest, outputs.ground_truth, dataset=dataset,
                               fog_beta=snakemake.params.fog_beta)
    elif kind == "acdc":
        params = snakemake.params
        n = acdc.convert(params.root, outputs.manifest, outputs.ground_truth, outputs.instance_ids, dataset=dataset,
                         conditions=params.conditions, split=params.split, reference=params.reference)
    elif kind == "bdd100k":
        n = bdd100k.convert(inputs.images, inputs.bitmasks, outputs.manifest, outputs.ground_truth, dataset=dataset)
    else:
        n = coco_json.prepare(inputs.annotations, inputs.images, outputs.manifest, outputs.ground_truth, dataset=dataset,
                              category_mapping=snakemake.params.category_mapping)
    logging.info("%s: %d images", dataset, n)


workflow.run(snakemake, main)
