"""segshift: how COCO-trained instance-segmentation models hold up on Cityscapes."""

__version__ = "0.1.0"
