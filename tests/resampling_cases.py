"""Resampled image lists as the reference evaluators see them: each draw of an image is a new image."""

from __future__ import annotations

import pandas as pd


def resampled_coco(ground_truth, frame, image_ids, counts):
    """Each drawn image as a new image; a duplicate's id follows its original's, so pycocotools'
    tie order (by image id) is the one the bootstrap reproduces."""
    images = {im["id"]: im for im in ground_truth["images"]}
    anns = pd.Series(range(len(ground_truth["annotations"]))).groupby(
        [a["image_id"] for a in ground_truth["annotations"]]).indices
    rows = frame.groupby("image_id").indices
    new_images, annotations, parts = [], [], []
    for image_id, count in zip(sorted(image_ids), counts):
        for _ in range(count):
            new_id = len(new_images) + 1
            new_images.append({**images[image_id], "id": new_id})
            annotations += [{**ground_truth["annotations"][k], "image_id": new_id, "id": len(annotations) + j + 1}
                            for j, k in enumerate(anns.get(image_id, []))]
            if image_id in rows:
                parts.append(frame.iloc[rows[image_id]].assign(image_id=new_id))
    frame = pd.concat(parts) if parts else frame.iloc[:0]
    return {**ground_truth, "images": new_images, "annotations": annotations}, frame, list(range(1, len(new_images) + 1))
