"""Walking back from a tensor: the chain of ops that produced its shape, for messages."""

from __future__ import annotations

from ..infer import Inferred
from ..symbolic import Dim

# ops that pass a tensor's spatial size through unchanged (so the upsampler is further back)
PASS_THROUGH = frozenset({
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu",
    "Gelu", "Mish", "Clip", "BatchNormalization", "InstanceNormalization", "Identity", "Dropout",
    "Cast", "Add", "Mul", "Sub", "Div", "BiasAdd", "Relu6", "AddV2", "Identity",
    "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "PRELU", "LOGISTIC", "TANH", "HARD_SWISH", "ELU", "GELU",
    "ADD", "SUB", "MUL", "DIV", "QUANTIZE", "DEQUANTIZE",
    "Activation", "ReLU", "LeakyReLU", "Softmax", "Rescaling", "Normalization", "LayerNormalization",
    "GroupNormalization", "SpatialDropout2D", "GaussianNoise", "Subtract", "Multiply", "Average",
})
UPSAMPLERS = frozenset({"ConvTranspose", "Resize", "Upsample", "Conv2DBackpropInput", "Conv3DBackpropInputV2",
                        "ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic",
                        "TRANSPOSE_CONV", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "Convolution2DTransposeBias",
                        "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "UpSampling1D", "UpSampling2D",
                        "UpSampling3D"})


def fmt_dim(d: Dim) -> str:
    return "?" if d is None else str(d)


def fmt_shape(shape) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join(fmt_dim(d) for d in shape) + "]"


def lineage(inf: Inferred, tensor: str, limit: int = 400) -> list:
    """Tensors on the data path back from ``tensor`` (following each node's first input)."""
    out = [tensor]
    seen = {tensor}
    while len(out) < limit:
        node = inf.producer.get(out[-1])
        if node is None:
            break
        nxt = _data_input(inf, node)
        if nxt is None or nxt in seen:
            break
        seen.add(nxt)
        out.append(nxt)
    return out


# ops whose data input is not the first: op -> its index
DATA_INPUT = {"Conv2DBackpropInput": 2, "Conv3DBackpropInputV2": 2, "DepthwiseConv2dNativeBackpropInput": 2,
              "TRANSPOSE_CONV": 2, "CONV_3D_TRANSPOSE": 2}
WEIGHT_OPS = frozenset({"VarHandleOp", "ReadVariableOp", "VAR_HANDLE", "READ_VARIABLE"})


def _data_input(inf: Inferred, node):
    """The input that carries the data: the first one of the highest rank that is not a constant."""
    if node.op in DATA_INPUT and len(node.inputs) > DATA_INPUT[node.op]:
        return node.inputs[DATA_INPUT[node.op]]
    best, best_rank = None, -1
    for name in node.inputs:
        if not name or name in inf.graph.constants:
            continue
        prod = inf.producer.get(name)
        if prod is not None and prod.op in WEIGHT_OPS:
            continue
        s = inf.shape(name)
        r = len(s) if s is not None else 0
        if r > best_rank:
            best, best_rank = name, r
    return best


def branches(inf: Inferred, a: str, b: str, axis: int, max_steps: int = 6) -> tuple:
    """Lines showing how the sizes on ``axis`` of a and b came about, from a common ancestor."""
    la, lb = lineage(inf, a), lineage(inf, b)
    common = next((t for t in la if t in set(lb)), None)
    lines = []
    if common is not None:
        lines.append(f"common ancestor: {common} {fmt_shape(inf.shape(common))}")
    for label, lin in (("branch 1", la), ("branch 2", lb)):
        steps = lin[: lin.index(common)] if common in lin else lin
        steps = list(reversed(steps))
        cut = len(steps) > max_steps
        steps = steps[-max_steps:]
        parts = []
        for t in steps:
            node = inf.producer.get(t)
            s = inf.shape(t)
            d = fmt_dim(s[axis]) if s is not None and -len(s) <= axis < len(s) else "?"
            parts.append(f"{node.op if node else 'input'} {node.name if node else t} → {d}")
        if not parts:
            lines.append(f"{label}: (the common ancestor itself)")
            continue
        lines.append(f"{label}: " + ("… ⇒ " if cut else "") + parts[0])
        lines.extend(f"    ⇒ {p}" for p in parts[1:])
    return tuple(lines)


def find_upsampler(inf: Inferred, tensor: str, depth: int = 12):
    """The ConvTranspose/Resize/Upsample node whose output reaches ``tensor`` unchanged in size."""
    t = tensor
    for _ in range(depth):
        node = inf.producer.get(t)
        if node is None:
            return None
        if node.op in UPSAMPLERS:
            return node
        if node.op not in PASS_THROUGH:
            return None
        t = _data_input(inf, node)
        if t is None:
            return None
    return None
