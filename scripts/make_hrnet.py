"""An HRNet-like ONNX graph for the contract benchmark: a stride-4 stem, then stages of parallel
resolution branches (1, 2, 3, 4 branches; each new branch a stride-2 Conv of the lowest one), each
module = basic residual blocks per branch (Conv → BatchNorm → Relu → Conv → BatchNorm → Add → Relu)
and a multi-resolution exchange unit: every branch is brought to every other branch's resolution
(stride-2 Convs down, 1×1 Conv + Resize ×2^k or ConvTranspose ×2^k up) and summed (Add → Relu).
Dynamic [N, C, H, W] input; weights are zero initializers shared by shape (shapes are what matter).

    python scripts/make_hrnet.py /tmp/hrnet.onnx --nodes 2000

The exchange units are the expensive part of a contract: every Add meets sizes that went down and
up through different numbers of stride-2 stages.
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

C = 4  # channels of branch 0; branch b has C·2^b


class _Builder:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: dict = {}
        self.k = 0

    def _init(self, name: str, arr: np.ndarray) -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(arr, name)
        return name

    def _name(self, op: str) -> str:
        self.k += 1
        return f"{op.lower()}{self.k}"

    def node(self, op: str, inputs: list, **attrs) -> str:
        n = self._name(op)
        self.nodes.append(helper.make_node(op, inputs, [n], name=n, **attrs))
        return n

    def conv(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1) -> str:
        w = self._init(f"w_{cout}_{cin}_{k}", np.zeros((cout, cin, k, k), np.float32))
        p = k // 2
        return self.node("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p])

    def bn(self, x: str, c: int) -> str:
        names = [self._init(f"bn{c}_{t}", (np.ones if t in ("scale", "var") else np.zeros)((c,), np.float32))
                 for t in ("scale", "bias", "mean", "var")]
        return self.node("BatchNormalization", [x] + names)

    def relu(self, x: str) -> str:
        return self.node("Relu", [x])

    def conv_bn(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1, relu: bool = True) -> str:
        y = self.bn(self.conv(x, cin, cout, k, stride), cout)
        return self.relu(y) if relu else y

    def basic_block(self, x: str, c: int) -> str:
        y = self.conv_bn(x, c, c)
        y = self.conv_bn(y, c, c, relu=False)
        return self.relu(self.node("Add", [x, y]))

    def upsample(self, x: str, cin: int, cout: int, f: int, transposed: bool) -> str:
        if transposed:  # ConvTranspose ×f (kernel = stride = f), then BatchNorm
            w = self._init(f"wt_{cin}_{cout}_{f}", np.zeros((cin, cout, f, f), np.float32))
            y = self.node("ConvTranspose", [x, w], kernel_shape=[f, f], strides=[f, f])
            return self.bn(y, cout)
        y = self.conv_bn(x, cin, cout, k=1, relu=False)
        s = self._init(f"scales_{f}", np.array([1, 1, f, f], np.float32))
        return self.node("Resize", [y, "", s], mode="nearest")

    def downsample(self, x: str, cin: int, cout: int, steps: int) -> str:
        for t in range(steps):
            last = t == steps - 1
            c = cout if last else cin
            x = self.conv_bn(x, cin, c, stride=2, relu=not last)
        return x


def _c(b: int) -> int:
    return C * 2 ** b


def make(modules=(1, 1, 4, 3), blocks: int = 4) -> onnx.ModelProto:
    """``modules``: exchange modules in stages 1-4 (1-4 branches); ``blocks`` basic blocks per
    branch in each module."""
    g = _Builder()
    x = g.conv_bn("x", 3, C, stride=2)
    x = g.conv_bn(x, C, C, stride=2)
    branches = [x]
    up_k = 0
    for stage, n_mod in enumerate(modules):
        n_br = stage + 1
        while len(branches) < n_br:  # transition: a new branch from the lowest resolution
            b = len(branches)
            branches.append(g.conv_bn(branches[-1], _c(b - 1), _c(b), stride=2))
        for _ in range(n_mod):
            branches = [_repeat(g, br, _c(b), blocks) for b, br in enumerate(branches)]
            if n_br == 1:
                continue
            fused = []
            for i in range(n_br):  # exchange unit: bring every branch j to branch i's resolution
                terms = []
                for j in range(n_br):
                    if j == i:
                        terms.append(branches[j])
                    elif j > i:
                        up_k += 1
                        terms.append(g.upsample(branches[j], _c(j), _c(i), 2 ** (j - i), transposed=up_k % 2 == 0))
                    else:
                        terms.append(g.downsample(branches[j], _c(j), _c(i), i - j))
                s = terms[0]
                for t in terms[1:]:
                    s = g.node("Add", [s, t])
                fused.append(g.relu(s))
            branches = fused
    # head: every branch up to branch 0's resolution, concatenated
    ups = [branches[0]] + [g.upsample(br, _c(b), _c(b), 2 ** b, transposed=False) for b, br in
                           enumerate(branches) if b]
    out = g.node("Concat", ups, axis=1)
    graph = helper.make_graph(g.nodes, "hrnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], list(g.inits.values()))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _repeat(g: _Builder, x: str, c: int, n: int) -> str:
    for _ in range(n):
        x = g.basic_block(x, c)
    return x


def make_nodes(n_nodes: int, modules=(1, 1, 2, 1)) -> onnx.ModelProto:
    """At least ``n_nodes`` nodes: the basic blocks per branch grow until there are (the number of
    exchange units stays ``modules``: each one nests the broadcast sizes of the sums once more, and
    shapelint's size expressions grow with that nesting)."""
    blocks = 1
    while True:
        m = make(tuple(modules), blocks)
        if len(m.graph.node) >= n_nodes:
            return m
        blocks += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--modules", default="1,1,2,1", help="exchange modules in stages 1-4 (HRNet-W32: 1,1,4,3)")
    a = ap.parse_args()
    m = make_nodes(a.nodes, tuple(int(x) for x in a.modules.split(",")))
    ops: dict = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    onnx.save(m, a.out)
    print(f"{a.out}: {len(m.graph.node)} nodes, 4 branches, "
          + ", ".join(f"{v} {k}" for k, v in sorted(ops.items(), key=lambda t: -t[1])))


if __name__ == "__main__":
    main()
