"""tf.data readers of built datasets (the public name of fastdraw.dataset.tfdata)."""

from fastdraw.dataset.tfdata import bitmap_dataset, img_dataset, ink_dataset, stroke_dataset

__all__ = ["bitmap_dataset", "img_dataset", "ink_dataset", "stroke_dataset"]
