"""Per-example image preprocessing in numpy and Pillow, for `RecordSplit`s.

CIFAR (He et al., 2016): training images are padded by 4 pixels, randomly
cropped back to 32x32 and flipped left-right with probability 1/2. ImageNet
(Szegedy et al., 2015; the Flax and big_vision ResNet/ViT recipes): training
images get an Inception-style random crop (8-100% of the area, aspect ratio
3/4-4/3), are resized to `image_size` and flipped; evaluation images are
resized so the shorter side is `image_size / 0.875` and center-cropped. Every
image is then standardized per channel. Functions take uint8 [H, W, 3] and
return float32 [size, size, 3]; randomness comes from the `rng` given (None
means no augmentation).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

CIFAR10_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32) * 255
CIFAR10_STD = np.array([0.2470, 0.2435, 0.2616], np.float32) * 255
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255
CROP_FRACTION = 0.875


def standardize(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) - mean) / std


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


def cifar(image: np.ndarray, rng: np.random.Generator | None, size: int = 32) -> np.ndarray:
    """Pad-4 random crop and flip when `rng` is given; standardized float32 [size, size, 3]."""
    image = resize(_rgb(image), size, size)
    if rng is not None:
        padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
        top, left = rng.integers(0, 9, size=2)
        image = padded[top:top + size, left:left + size]
        if rng.random() < 0.5:
            image = image[:, ::-1]
    return standardize(image, CIFAR10_MEAN, CIFAR10_STD)


def inception_crop(image: np.ndarray, rng: np.random.Generator,
                   area: tuple[float, float] = (0.08, 1.0),
                   ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> np.ndarray:
    """A random crop covering `area` of the image with aspect ratio in `ratio`
    (10 attempts, then the largest central crop of an allowed ratio)."""
    h, w = image.shape[:2]
    for _ in range(10):
        target = rng.uniform(*area) * h * w
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            return image[top:top + ch, left:left + cw]
    aspect = w / h
    if aspect < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif aspect > ratio[1]:
        cw, ch = int(round(h * ratio[1])), h
    else:
        cw, ch = w, h
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top:top + ch, left:left + cw]


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to size / 0.875, then the central size x size."""
    h, w = image.shape[:2]
    scale = size / CROP_FRACTION / min(h, w)
    nh, nw = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
    image = resize(image, nh, nw)
    top, left = (nh - size) // 2, (nw - size) // 2
    return image[top:top + size, left:left + size]


def imagenet(image: np.ndarray, rng: np.random.Generator | None, size: int = 224) -> np.ndarray:
    """Inception crop + flip (training, `rng` given) or center crop; standardized float32."""
    image = _rgb(image)
    if rng is not None:
        image = resize(inception_crop(image, rng), size, size)
        if rng.random() < 0.5:
            image = image[:, ::-1]
    else:
        image = center_crop(image, size)
    return standardize(image, IMAGENET_MEAN, IMAGENET_STD)
