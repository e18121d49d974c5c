"""tf.data readers of built datasets (the public name of fastdraw.dataset.tfdata)."""

from fastdraw.dataset.tfdata import img_dataset, ink_dataset, stroke_dataset

__all__ = ["img_dataset", "ink_dataset", "stroke_dataset"]
