"""``engine.vision.transforms``, shaped like ``torchvision.transforms``: the batch-wise
Numba transforms of :mod:`engine.data.transforms`, used in torchvision's order::

    transforms.Compose([transforms.RandomCrop(32, padding=4),
                        transforms.RandomHorizontalFlip(),
                        transforms.ToTensor(),
                        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])

In a DataLoader the whole chain runs on each batch in one fused pass; on one sample
(``dataset[i]``, or ``t(img)`` on a uint8 (H, W[, C]) array or PIL image) it gives what
torchvision gives: a float32 (C, H, W) Tensor after ToTensor. ``Lambda`` and any other
callable in a Compose run sample by sample. torchvision names not implemented here
raise NotImplementedError saying what to use instead.
"""
from __future__ import annotations

from ..data.transforms import (ColorJitter, Compose, Lighting, Normalize, RandomCrop, RandomErasing,
                               RandomHorizontalFlip, ToTensor)
from ._refuse import refusals


class Lambda:
    """``Lambda(fn)(x) == fn(x)``, as torchvision's: a user function in a Compose (which
    then runs sample by sample)."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda needs a callable, got a {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"Lambda({getattr(self.lambd, '__name__', repr(self.lambd))})"


_GEOMETRY = "the batch transforms crop and flip only: use RandomCrop(size, padding=...) and RandomHorizontalFlip()"
_COLOUR = "use ColorJitter(brightness, contrast, saturation) or RandomErasing()"
_POLICY = "compose RandomCrop, RandomHorizontalFlip, ColorJitter and RandomErasing instead"
_PER_SAMPLE = "put a plain function (or Lambda) in the Compose: it runs sample by sample"

_NOT_SUPPORTED = {
    "Resize": "images are decoded at one size: pass size=(h, w) to ImageFolder, which resizes once while decoding",
    "CenterCrop": "crop the arrays once (dataset.data = dataset.data[:, top:top + h, left:left + w]) "
                  "or use RandomCrop(size) for training",
    "RandomResizedCrop": "resize once with ImageFolder(size=...) and use RandomCrop(size, padding=...)",
    "Pad": "padding is RandomCrop's: RandomCrop(size, padding=..., padding_mode=...)",
    "RandomRotation": _GEOMETRY,
    "RandomAffine": _GEOMETRY,
    "RandomPerspective": _GEOMETRY,
    "ElasticTransform": _GEOMETRY,
    "RandomVerticalFlip": "only horizontal flips are implemented: RandomHorizontalFlip()",
    "FiveCrop": "evaluate on the images as the dataset holds them",
    "TenCrop": "evaluate on the images as the dataset holds them",
    "Grayscale": "open an image folder as grayscale with ImageFolder(root, grayscale=True)",
    "RandomGrayscale": _COLOUR,
    "GaussianBlur": _COLOUR,
    "RandomInvert": _COLOUR,
    "RandomPosterize": _COLOUR,
    "RandomSolarize": _COLOUR,
    "RandomAdjustSharpness": _COLOUR,
    "RandomAutocontrast": _COLOUR,
    "RandomEqualize": _COLOUR,
    "AutoAugment": _POLICY,
    "RandAugment": _POLICY,
    "TrivialAugmentWide": _POLICY,
    "AugMix": _POLICY,
    "RandomApply": _PER_SAMPLE,
    "RandomChoice": _PER_SAMPLE,
    "RandomOrder": _PER_SAMPLE,
    "LinearTransformation": _PER_SAMPLE,
    "ToPILImage": "datasets hold uint8 numpy arrays (H, W[, C]); give one to PIL.Image.fromarray",
    "PILToTensor": "use ToTensor() (float32 in [0, 1]) or the uint8 arrays in dataset.data",
    "ConvertImageDtype": "ToTensor() already gives float32",
}
globals().update(refusals("transforms", _NOT_SUPPORTED))

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "RandomHorizontalFlip", "ColorJitter",
           "RandomErasing", "Lighting", "Lambda", *_NOT_SUPPORTED]
