"""Detection and segmentation on synthetic shapes: data, models, losses and the files around them.

Modules (imported on use; nothing heavy at ``import danlu.detection``):

- :mod:`~danlu.detection.shapes`: the deterministic shapes generator (boxes, instance and semantic masks).
- :mod:`~danlu.detection.targets`: padded (N, G, 6) box targets; clipping/dropping bad boxes, counted.
- :mod:`~danlu.detection.data`: the ``shapes`` dataset of the registry (``danlu train``).
- :mod:`~danlu.detection.dataset`: a Dataset with ``torchvision.tv_tensors`` for transforms v2.
- :mod:`~danlu.detection.export`: COCO JSON, VOC XML and COCO results files.
- :mod:`~danlu.detection.backbone`, :mod:`~danlu.detection.ssd`, :mod:`~danlu.detection.loss`: the SSD
  (Liu et al. arXiv:1512.02325) with hard-negative mining or focal loss, decode and NMS.
- :mod:`~danlu.detection.fcn`: the FCN segmenter (Long et al. arXiv:1411.4038) with skip fusion.
- :mod:`~danlu.detection.predict`: what ``danlu predict`` writes; :mod:`~danlu.detection.reference`:
  torchvision's SSD made equal to danlu's (tests and benchmarks); :mod:`~danlu.detection.train_small`:
  in-memory training for the lab cards.

The training tasks are ``detection`` and ``segmentation`` (danlu.train.tasks); see docs/detection.md.
"""
