#!/usr/bin/env python3
"""Build the example models that ship with shapelint (run from the repository root):

    python examples/make_examples.py

- unet_dynamic.onnx          U-Net, dynamic H/W, stride-2 convs and ConvTranspose k2: runs only for
                             H, W multiples of 8 (SL003 warnings with the exact sets)
- unet_static_65.onnx        the same U-Net exported at 1×1×65×65: the skip Concat fails (SL003 error,
                             with the output_padding that fixes it)
- bad_output_padding.onnx    ConvTranspose with output_padding = stride (SL001 error)
- same_with_padding.onnx     auto_pad=SAME_UPPER with output_padding (SL002 warning)
- unet_maxpool_dynamic.onnx  U-Net with MaxPool(2): runs only for H, W multiples of 8 (SL003 warnings)
- unet_runtime_crop.onnx     the fix for dynamic sizes: the upsampled tensor is cropped to the skip's
                             run-time shape (Shape → Slice); clean for every H, W
"""

import os
import sys

import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from onnx_models import single_convt, unet  # noqa: E402


def main():
    models = {
        "unet_dynamic.onnx": unet(depth=3, k_down=3, up="convtranspose", k_up=2, channels=4),
        "unet_static_65.onnx": unet(depth=2, k_down=3, k_up=2, shape=(1, 1, 65, 65), channels=4),
        "bad_output_padding.onnx": single_convt(in_shape=(1, 2, 8, 8), k=3, s=2, pads=[1, 1, 1, 1],
                                                output_padding=[2, 2]),
        "same_with_padding.onnx": single_convt(in_shape=(1, 2, 6, 6), k=3, s=2, auto_pad="SAME_UPPER",
                                               output_padding=[1, 1]),
        "unet_maxpool_dynamic.onnx": unet(depth=3, down="maxpool", k_down=2, k_up=2, channels=4),
        "unet_runtime_crop.onnx": unet(depth=3, k_down=3, k_up=3, channels=4, fit="crop"),
    }
    for name, model in models.items():
        onnx.save(model, os.path.join(HERE, name))
        print("wrote", os.path.join("examples", name))


if __name__ == "__main__":
    main()
