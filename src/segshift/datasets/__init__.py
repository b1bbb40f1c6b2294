"""Dataset preparation: each kind into one manifest + COCO-format ground truth.

kinds: coco (COCO val2017), cityscapes (Cityscapes val, gtFine converted), coco_json (any
images folder + COCO instances JSON, its categories mapped onto COCO's).
"""

KINDS = ("coco", "cityscapes", "coco_json")
