"""Synthetic COCO ground truth and detections for tests, the met-map card and the benchmark.

The generator is built to hit pycocotools' corner cases on purpose: crowd regions, tied scores,
images without ground truth or without detections, categories without ground truth, annotation
areas exactly on the 32**2 and 96**2 boundaries, and more than 100 detections for one (image,
category). Detections are jittered copies of ground truth (true positives at various IoUs,
duplicates) plus background boxes, with scores that favour the better boxes.
"""

from __future__ import annotations

import numpy as np


def synthetic_coco(*, num_images: int = 50, num_categories: int = 8, gt_per_image: float = 4.0,
                   dets_per_image: int = 30, seed: int = 0, crowd_frac: float = 0.05,
                   tie_frac: float = 0.2, empty_image_frac: float = 0.1, boundary_frac: float = 0.1,
                   crowded_image_frac: float = 0.05, image_size: float = 640.0) -> tuple[dict, list[dict]]:
    """A random COCO ground-truth dict and a detection-results list.

    Args:
        num_images: images (ids are shuffled, non-contiguous integers).
        num_categories: categories; roughly one in eight gets no ground truth at all.
        gt_per_image: mean ground-truth boxes per image (Poisson).
        dets_per_image: detections per image (before the crowded images' extra 120).
        seed: RNG seed.
        crowd_frac: fraction of ground truth marked ``iscrowd``.
        tie_frac: fraction of detections whose score is rounded to one decimal (ties).
        empty_image_frac: fraction of images without ground truth, and (separately) without detections.
        boundary_frac: fraction of ground truth whose ``area`` is exactly 32**2 or 96**2.
        crowded_image_frac: fraction of images with 120 extra detections of a single category.
        image_size: side of the square images in pixels.

    Returns:
        ``(gt, dets)``: the COCO ground-truth dict and the list of detection dicts.
    """
    rng = np.random.default_rng(seed)
    img_ids = rng.choice(np.arange(1, num_images * 10 + 1), size=num_images, replace=False).tolist()
    cat_ids = rng.choice(np.arange(1, num_categories * 5 + 1), size=num_categories, replace=False).tolist()
    gt_cats = [c for c in cat_ids if rng.random() > 0.125] or cat_ids[:1]
    images = [{"id": int(i), "width": image_size, "height": image_size} for i in img_ids]
    categories = [{"id": int(c), "name": f"class{c}"} for c in cat_ids]
    anns, dets = [], []
    next_id = 1

    def rand_box(scale: float) -> list[float]:
        w, h = (rng.lognormal(np.log(scale), 0.6, size=2)).clip(1, image_size / 2)
        if rng.random() < 0.3:
            w, h = float(np.round(w)), float(np.round(h))
        x, y = rng.uniform(0, image_size - w), rng.uniform(0, image_size - h)
        return [float(x), float(y), float(w), float(h)]

    def score(lo: float = 0.0, hi: float = 1.0) -> float:
        s = float(rng.uniform(lo, hi))
        return round(s, 1) if rng.random() < tie_frac else s

    for img in img_ids:
        gts = []
        if rng.random() >= empty_image_frac:
            for _ in range(rng.poisson(gt_per_image)):
                cat = int(rng.choice(gt_cats))
                box = rand_box(float(rng.choice([20.0, 50.0, 120.0])))
                r = rng.random()
                if r < boundary_frac:
                    area = float(rng.choice([32 ** 2, 96 ** 2]))
                    side = float(np.sqrt(area))
                    box[2:] = [side, side] if rng.random() < 0.5 else box[2:]
                else:
                    area = box[2] * box[3] * float(rng.uniform(0.5, 1.0))
                crowd = int(rng.random() < crowd_frac)
                anns.append({"id": next_id, "image_id": int(img), "category_id": cat, "bbox": box,
                             "area": area, "iscrowd": crowd})
                gts.append((cat, box))
                next_id += 1
        if rng.random() < empty_image_frac:
            continue
        n_dets = dets_per_image
        for cat, box in gts:  # jittered copies: good, mediocre, duplicates
            for _ in range(int(rng.integers(0, 4))):
                if n_dets <= 0:
                    break
                j = rng.normal(0, rng.choice([0.02, 0.1, 0.25]), size=4)
                x, y, w, h = box
                nb = [x + j[0] * w, y + j[1] * h, max(w * (1 + j[2]), 0.5), max(h * (1 + j[3]), 0.5)]
                if rng.random() < 0.1:
                    nb = list(box)  # exact duplicate: IoU 1, and ties between gts of equal boxes
                c = cat if rng.random() > 0.05 else int(rng.choice(cat_ids))
                dets.append({"image_id": int(img), "category_id": c, "bbox": [float(v) for v in nb],
                             "score": score(0.3, 1.0)})
                n_dets -= 1
        for _ in range(max(n_dets, 0)):
            c = int(rng.choice([g[0] for g in gts])) if gts and rng.random() < 0.6 else int(rng.choice(cat_ids))
            dets.append({"image_id": int(img), "category_id": c, "bbox": rand_box(60.0), "score": score(0.0, 0.7)})
        if rng.random() < crowded_image_frac:
            c = int(rng.choice(cat_ids))
            for _ in range(120):
                dets.append({"image_id": int(img), "category_id": c, "bbox": rand_box(40.0), "score": score()})
    order = rng.permutation(len(anns))
    gt = {"images": images, "categories": categories, "annotations": [anns[i] for i in order]}
    dets = [dets[i] for i in rng.permutation(len(dets))]  # ties are then broken by file order
    return gt, dets
