"""Dataset preparation: COCO val2017 and Cityscapes val into one manifest + COCO-format ground truth."""

DATASET_KINDS = {"coco_val2017": "coco", "cityscapes_val": "cityscapes"}
