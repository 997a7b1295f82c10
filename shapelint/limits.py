"""Every limit on what a file (a model, a configuration, a baseline) or the command line can make
shapelint do, in one place. Each is checked *before* the count, size, depth or index it bounds
drives a loop or an allocation; exceeding one is a one-line error naming the limit (exit 2).
docs/hardening.md lists them; tests/test_limits.py checks that the list there is this one.
"""

from __future__ import annotations

# --- files shapelint reads besides models
MAX_CONFIG_BYTES = 1 << 20  # .shapelint.yaml / pyproject.toml: refused above 1 MiB, before reading
MAX_BASELINE_BYTES = 256 << 20  # a baseline JSON file: 256 MiB
MAX_CONFIG_DEPTH = 32  # nesting of mappings and lists in a configuration or a baseline
MAX_CONFIG_NUMBER_DIGITS = 20  # an integer in a configuration (Python refuses to parse 4,300+ digits)
MAX_DECLARED_SIZE = 1 << 20  # inputs.<name>.<axis>.min in a configuration (a size, not a count)

# --- models
MAX_FILE_BYTES = 2 << 30  # an ONNX file (protobuf cannot parse a message over 2 GiB; weights go external)
MAX_CONSTANT_ELEMENTS = 1024  # a constant's values are read only up to this many elements (else: a weight)
# nodes (ONNX nodes, Keras layers) in one graph. Measured (scripts/make_large.py, the CLI's peak
# RSS): 500,000 nodes 1.06 GB, 1,000,000 nodes 2.5 GB; the limit keeps the worst case under ~2 GB
MAX_NODES = 600_000
# items a graph lists: node inputs, outputs, attributes and attribute values, graph inputs and outputs
# and their dims (an ONNX graph: each costs protobuf and Python objects, however few bytes it takes in
# the file). Real graphs list 3-8 per node (make_large's 600,000 nodes: 4.1M); 6M of the costliest
# kind (empty attributes, one node's outputs) peak at ~1.5 GB
MAX_GRAPH_ITEMS = 6_000_000
# merges (Concat, Add…) whose inputs may disagree, judged per model: each costs ~1 ms and ~12 KB
# (600,000 such Concats took 566 s and 7.2 GB); past the limit the rest are not judged, an
# abstention (SL005) that names the limit. Real models have a few thousand at most
MAX_MERGES = 50_000
MAX_KERAS_CONFIG_BYTES = 64 << 20  # a .keras archive's config.json: refused above, before inflating
MAX_NESTING = 64  # models nested in models (Keras), functions calling functions (SavedModel)
MAX_INLINED_CALLS = 50_000  # SavedModel function calls inlined in all (a call tree doubles per level)
MAX_IF_ROUNDS = 8  # ONNX: inference passes that follow If nodes into their decided branch (If after If)
MAX_RANK = 64  # a tensor's rank: above, its shape is unknown (an input's, or an op's output's)
MAX_OUTPUTS_PER_LAYER = 4096  # a Keras layer's output index in a reference (its outputs are named one by one)
MAX_NAME_CHARS = 1000  # a name shown (escaped) this long or longer is shortened, with a hash (escape.name)
MAX_TRANSPOSED_STRIDE = 64  # a transposed convolution's stride: above, the node is an abstention (SL005)


def transposed_strides(strides) -> None:
    """ValueError (the op's shape is then unknown: shapelint abstains there, naming the op and this
    limit) when a transposed convolution's stride is above MAX_TRANSPOSED_STRIDE: its admissible
    sizes -- one per unit of stride -- are not enumerated."""
    for s in strides or ():
        if isinstance(s, int) and s > MAX_TRANSPOSED_STRIDE:
            raise ValueError(f"stride {s} is over shapelint's limit of {MAX_TRANSPOSED_STRIDE} for a transposed "
                             f"convolution (shapelint.limits.MAX_TRANSPOSED_STRIDE)")


# --- analysis budgets: past one, shapelint abstains (or leaves a set undecided) and says so
MAX_DIM_TERMS = 2000  # atoms in one dim's exact expression; beyond, the dim is unknown
MAX_RESIDUE_CLASSES = 2048  # residue classes per decision; beyond, undecided (a warning, no set)
MAX_CONCRETE_SIZES = 20_000  # sizes evaluated one by one below the periodic regime
MAX_SMALL_SIZES = 256  # sizes per symbol evaluated one by one below the pools' windows
MAX_SMALL_WORK = 60_000  # node inferences in all for those (a big graph with deep pools: abstain)

# --- the command line
MAX_JOBS_PER_CPU = 2  # -j N is capped at this many processes per CPU, and by the number of files


def jobs(requested: int, files: int, cpus=None) -> int:
    """The processes ``-j requested`` really starts for ``files`` models: never more than the files,
    nor than MAX_JOBS_PER_CPU per CPU."""
    import os

    cpus = cpus or os.cpu_count() or 1
    return max(1, min(requested, files, MAX_JOBS_PER_CPU * cpus))
