"""Large ONNX graphs for the scale benchmark: residual blocks (Conv → Relu → Conv → Add) with a
U-Net level (stride-2 Conv → ConvTranspose → Concat with the skip) every ``unet_every`` blocks,
on a dynamic [N, C, H, W] input. Every U-Net level is a merge that holds only for even H and W, so
a lint has real work at each of them; the weights are one shared initializer (shapes are what
matters here).

    python scripts/make_large.py 100000 /tmp/large_100k.onnx
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

C = 8


def make(n_nodes: int, unet_every: int = 50, pools: int = 0) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.zeros((C, C, 3, 3), np.float32), "w")
    wt = numpy_helper.from_array(np.zeros((C, C, 2, 2), np.float32), "wt")
    w1 = numpy_helper.from_array(np.zeros((C, 2 * C, 1, 1), np.float32), "w1")
    nodes = []
    x = "x"
    for p in range(pools):  # MaxPool k2 s2 in front: sizes below 2**pools truncate in onnxruntime
        nodes.append(helper.make_node("MaxPool", [x], [f"pool{p}"], name=f"pool{p}", kernel_shape=[2, 2],
                                      strides=[2, 2]))
        x = f"pool{p}"
    k = 0
    while len(nodes) < n_nodes:
        k += 1
        if k % unet_every == 0:  # a U-Net level: 4 nodes + a 1×1 conv back to C channels
            d = f"b{k}_down"
            nodes.append(helper.make_node("Conv", [x, "w"], [d], name=d, kernel_shape=[3, 3], strides=[2, 2],
                                          pads=[1, 1, 1, 1]))
            u = f"b{k}_up"
            nodes.append(helper.make_node("ConvTranspose", [d, "wt"], [u], name=u, kernel_shape=[2, 2],
                                          strides=[2, 2]))
            c = f"b{k}_cat"
            nodes.append(helper.make_node("Concat", [x, u], [c], name=c, axis=1))
            o = f"b{k}_mix"
            nodes.append(helper.make_node("Conv", [c, "w1"], [o], name=o, kernel_shape=[1, 1]))
            x = o
            continue
        a, r, b, s = (f"b{k}_{t}" for t in ("conv1", "relu", "conv2", "add"))
        nodes.append(helper.make_node("Conv", [x, "w"], [a], name=a, kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [a], [r], name=r))
        nodes.append(helper.make_node("Conv", [r, "w"], [b], name=b, kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Add", [x, b], [s], name=s))
        x = s
    g = helper.make_graph(nodes, "large", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", C, "H", "W"])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], [w, wt, w1])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def unet_levels(model: onnx.ModelProto) -> int:
    return sum(n.op_type == "Concat" for n in model.graph.node)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nodes", type=int)
    ap.add_argument("out")
    ap.add_argument("--unet-every", type=int, default=50)
    ap.add_argument("--pools", type=int, default=0, help="MaxPool k2 s2 layers in front")
    a = ap.parse_args()
    m = make(a.nodes, a.unet_every, a.pools)
    onnx.save(m, a.out)
    print(f"{a.out}: {len(m.graph.node)} nodes, {unet_levels(m)} U-Net levels")


if __name__ == "__main__":
    main()
