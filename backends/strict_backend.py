"""array-api-strict backend: runs the core on the strict reference namespace.

It is slow and exists for conformance: a core that runs here calls nothing outside the standard.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Backend


class StrictBackend(Backend):
    name = "array-api-strict"

    def __init__(self, device: str = "cpu") -> None:
        import array_api_strict

        super().__init__(array_api_strict, device)

    def to_numpy(self, x: Any) -> np.ndarray:
        # The strict namespace supports the buffer protocol only through DLPack.
        return np.from_dlpack(x)

    def describe(self) -> dict:
        import array_api_strict

        return {**super().describe(), "array_api_strict": array_api_strict.__version__}
