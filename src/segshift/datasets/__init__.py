"""Dataset preparation: each kind into one manifest + COCO-format ground truth.

kinds: coco (COCO val2017), cityscapes (Cityscapes val, gtFine converted), coco_json (any
images folder + COCO instances JSON, its categories mapped onto COCO's), bdd100k (BDD100K ins_seg
bitmasks, mapped onto COCO's classes), acdc (ACDC's panoptic ground truth per condition, converted into
Cityscapes' encoding and scored by its protocol).
"""

KINDS = ("coco", "cityscapes", "coco_json", "bdd100k", "acdc")
