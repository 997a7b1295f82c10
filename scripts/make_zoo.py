#!/usr/bin/env python3
"""Build the model zoo: ONNX exports of public architecture code, with onnxruntime's verdict per size.

    python scripts/make_zoo.py                 # every model, each in its own process
    python scripts/make_zoo.py --only NAME ... # re-make some models (merged into zoo/verdicts.json)
    python scripts/make_zoo.py --list          # the models and their constructor calls
    python scripts/make_zoo.py --readme        # rewrite zoo/README.md from zoo/verdicts.json

Every model is built from its library's own code with torch.manual_seed(0) and random init
(weights=None / encoder_weights=None / pretrained=False / a config: nothing is downloaded), exported
with a dynamic batch, H and W (input `input`, dims `N`, `H`, `W`) by the TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`, opset 17) or the dynamo exporter (`dynamo=True`, its own
opset), and run by onnxruntime (CPUExecutionProvider, one thread) WITH its weights at every square
size H = W = 16..130 and at 30 seeded random (H, W) pairs in 16..130 (batch 1). Each size is
recorded as "ok" or {"verdict": "fail", "error": first line of the error (boilerplate cut), <= 200
chars}; each model's sizes run in a child process, and a size at which onnxruntime's process dies
is a failure with the error 'onnxruntime crashed: SIGNAL'. Then the model is stripped to its graph
(every tensor over 1 KB, initializer or Constant value, moved to external data that is deleted, as
../shared/corpus does; per-node metadata, the dynamo exporter's stack traces, dropped) and written
to zoo/NAME.onnx. Before it is kept, the stripped model refilled with seeded random weights
(tests/zoo_util.with_random_weights, the refill the tests use) must give the same verdicts at a
sample of sizes; a model where it does not is dropped and listed with the reason, like a model
that fails to export (zoo/skipped.json, zoo/README.md).

Requirements (a venv outside the repository; torch is no dependency of shapelint, the script runs
once and its outputs are committed), see scripts/zoo-requirements.txt:
    pip install torch==2.14.1 torchvision==0.29.1
    pip install -c constraints.txt -r scripts/zoo-requirements.txt
(constraints.txt pins torch==2.14.1 and torchvision==0.29.1). Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ZOO = os.path.join(REPO, "zoo")
VERDICTS = os.path.join(ZOO, "verdicts.json")
SKIPPED = os.path.join(ZOO, "skipped.json")
sys.path.insert(0, os.path.join(REPO, "tests"))  # zoo_util: the refill and run helpers the tests use

import zoo_util  # noqa: E402

SQUARES = [(h, h) for h in range(16, 131)]


def random_pairs(n=30, seed=2024):
    """n distinct (H, W) pairs with H != W in 16..130, the same for every model."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        h, w = rng.randint(16, 130), rng.randint(16, 130)
        if h != w and (h, w) not in out:
            out.append((h, w))
    return out


SIZES = SQUARES + random_pairs()

# name: (exporter, library distribution, constructor call, input channels, example H = W for the export
#        [, options]); options: {"grad": True} exports with autograd on (default: under torch.no_grad(),
#        where nn.MultiheadAttention takes its fused fast path, which the TorchScript exporter lacks)
# The constructor call is evaluated as written, in a namespace holding the libraries' modules.
TS, DY = "torchscript", "dynamo"
SMP, TV, TIMM, HF, MONAI = "segmentation-models-pytorch", "torchvision", "timm", "transformers", "monai"
MODELS = {
    # segmentation_models_pytorch: the encoders' strides meet the decoders' upsampling
    "smp_unet_resnet18_ts": (TS, SMP, "smp.Unet('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_unetplusplus_resnet18_ts": (TS, SMP, "smp.UnetPlusPlus('resnet18', encoder_weights=None, classes=1, decoder_channels=(64, 32, 16, 16, 8))", 3, 128),
    "smp_fpn_resnet18_ts": (TS, SMP, "smp.FPN('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_linknet_mobilenet_v2_ts": (TS, SMP, "smp.Linknet('mobilenet_v2', encoder_weights=None, classes=1)", 3, 128),
    "smp_pspnet_resnet18_ts": (TS, SMP, "smp.PSPNet('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_deeplabv3_resnet18_ts": (TS, SMP, "smp.DeepLabV3('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_deeplabv3plus_resnet18_ts": (TS, SMP, "smp.DeepLabV3Plus('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_manet_resnet18_ts": (TS, SMP, "smp.MAnet('resnet18', encoder_weights=None, classes=1, decoder_channels=(64, 32, 16, 16, 8))", 3, 128),
    "smp_pan_resnet18_ts": (TS, SMP, "smp.PAN('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_upernet_resnet18_ts": (TS, SMP, "smp.UPerNet('resnet18', encoder_weights=None, classes=1, decoder_channels=64)", 3, 128),
    "smp_segformer_mit_b0_ts": (TS, SMP, "smp.Segformer('mit_b0', encoder_weights=None, classes=1)", 3, 128),
    "smp_unet_efficientnet-b0_ts": (TS, SMP, "smp.Unet('efficientnet-b0', encoder_weights=None, classes=1)", 3, 128),
    "smp_fpn_timm-efficientnet-b0_ts": (TS, SMP, "smp.FPN('timm-efficientnet-b0', encoder_weights=None, classes=1)", 3, 128),
    "smp_unet_tu-convnext_atto_ts": (TS, SMP, "smp.Unet('tu-convnext_atto', encoder_weights=None, classes=1, encoder_depth=4, decoder_channels=(64, 32, 16, 8))", 3, 128),
    "smp_unet_resnet18_dynamo": (DY, SMP, "smp.Unet('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_linknet_resnet18_dynamo": (DY, SMP, "smp.Linknet('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_pspnet_resnet18_dynamo": (DY, SMP, "smp.PSPNet('resnet18', encoder_weights=None, classes=1)", 3, 128),
    "smp_upernet_resnet18_dynamo": (DY, SMP, "smp.UPerNet('resnet18', encoder_weights=None, classes=1, decoder_channels=64)", 3, 128),
    "smp_deeplabv3plus_resnet18_dynamo": (DY, SMP, "smp.DeepLabV3Plus('resnet18', encoder_weights=None, classes=1)", 3, 128),
    # torchvision: segmentation heads that resize to the input, classifiers with global pools
    "tv_fcn_resnet50_ts": (TS, TV, "torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=2, aux_loss=False)", 3, 128),
    "tv_deeplabv3_mobilenet_v3_large_ts": (TS, TV, "torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=2)", 3, 128),
    "tv_lraspp_mobilenet_v3_large_ts": (TS, TV, "torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=2)", 3, 128),
    "tv_resnet18_ts": (TS, TV, "torchvision.models.resnet18(weights=None)", 3, 128),
    "tv_mobilenet_v3_small_ts": (TS, TV, "torchvision.models.mobilenet_v3_small(weights=None)", 3, 128),
    "tv_efficientnet_b0_ts": (TS, TV, "torchvision.models.efficientnet_b0(weights=None)", 3, 128),
    "tv_regnet_y_400mf_ts": (TS, TV, "torchvision.models.regnet_y_400mf(weights=None)", 3, 128),
    "tv_convnext_tiny_ts": (TS, TV, "torchvision.models.convnext_tiny(weights=None)", 3, 128),
    "tv_swin_t_ts": (TS, TV, "torchvision.models.swin_t(weights=None)", 3, 128),
    "tv_vit_b_16_ts": (TS, TV, "torchvision.models.vit_b_16(weights=None, image_size=64)", 3, 64),
    "tv_vit_b_16_grad_ts": (TS, TV, "torchvision.models.vit_b_16(weights=None, image_size=64)", 3, 64, {"grad": True}),
    "tv_maxvit_t_ts": (TS, TV, "torchvision.models.maxvit_t(weights=None, input_size=(112, 112))", 3, 112),
    "tv_maxvit_small_ts": (TS, TV, "torchvision.models.maxvit.MaxVit(input_size=(128, 128), stem_channels=16, partition_size=4, block_channels=[16, 32, 64, 128], block_layers=[1, 1, 1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=10)", 3, 128),
    "tv_squeezenet1_1_ts": (TS, TV, "torchvision.models.squeezenet1_1(weights=None)", 3, 128),
    "tv_alexnet_ts": (TS, TV, "torchvision.models.alexnet(weights=None)", 3, 128),
    "tv_resnet18_dynamo": (DY, TV, "torchvision.models.resnet18(weights=None)", 3, 128),
    "tv_vit_b_16_dynamo": (DY, TV, "torchvision.models.vit_b_16(weights=None, image_size=64)", 3, 64),
    "tv_swin_t_dynamo": (DY, TV, "torchvision.models.swin_t(weights=None)", 3, 128),
    "tv_lraspp_mobilenet_v3_large_dynamo": (DY, TV, "torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=2)", 3, 128),
    # timm
    "timm_vit_tiny_ts": (TS, TIMM, "timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=64, depth=2)", 3, 64),
    "timm_vit_tiny_dynamic_img_size_ts": (TS, TIMM, "timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=64, depth=2, dynamic_img_size=True)", 3, 64),
    "timm_swin_tiny_ts": (TS, TIMM, "timm.create_model('swin_tiny_patch4_window7_224', pretrained=False, img_size=128, window_size=4, depths=(1, 1, 2, 1))", 3, 128),
    "timm_convnext_atto_ts": (TS, TIMM, "timm.create_model('convnext_atto', pretrained=False)", 3, 128),
    "timm_tf_efficientnet_b0_ts": (TS, TIMM, "timm.create_model('tf_efficientnet_b0', pretrained=False)", 3, 128),
    "timm_hrnet_w18_small_ts": (TS, TIMM, "timm.create_model('hrnet_w18_small', pretrained=False)", 3, 128),
    "timm_resnet18_ts": (TS, TIMM, "timm.create_model('resnet18', pretrained=False)", 3, 128),
    "timm_mobilevit_xxs_ts": (TS, TIMM, "timm.create_model('mobilevit_xxs', pretrained=False)", 3, 128),
    "timm_levit_128s_ts": (TS, TIMM, "timm.create_model('levit_128s', pretrained=False, img_size=128)", 3, 128),
    "timm_pvt_v2_b0_ts": (TS, TIMM, "timm.create_model('pvt_v2_b0', pretrained=False)", 3, 128),
    "timm_vit_tiny_dynamic_img_size_dynamo": (DY, TIMM, "timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=64, depth=2, dynamic_img_size=True)", 3, 64),
    "timm_vit_tiny_dynamo": (DY, TIMM, "timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=64, depth=2)", 3, 64),
    "timm_convnext_atto_dynamo": (DY, TIMM, "timm.create_model('convnext_atto', pretrained=False)", 3, 128),
    "timm_tf_efficientnet_b0_dynamo": (DY, TIMM, "timm.create_model('tf_efficientnet_b0', pretrained=False)", 3, 128),
    # transformers, from small configs
    "hf_segformer_ts": (TS, HF, "transformers.SegformerForSemanticSegmentation(transformers.SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128], num_attention_heads=[1, 2, 2, 4], decoder_hidden_size=64, num_labels=2))", 3, 128),
    "hf_dpt_ts": (TS, HF, "transformers.DPTForDepthEstimation(transformers.DPTConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 32, 64, 64], fusion_hidden_size=32, head_hidden_size=16))", 3, 64),
    "hf_vit_ts": (TS, HF, "transformers.ViTModel(transformers.ViTConfig(image_size=64, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64))", 3, 64),
    "hf_swin_ts": (TS, HF, "transformers.SwinModel(transformers.SwinConfig(image_size=128, patch_size=4, embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=4))", 3, 128),
    "hf_beit_ts": (TS, HF, "transformers.BeitModel(transformers.BeitConfig(image_size=64, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, use_relative_position_bias=True))", 3, 64),
    "hf_convnext_ts": (TS, HF, "transformers.ConvNextModel(transformers.ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1]))", 3, 128),
    "hf_mobilevit_ts": (TS, HF, "transformers.MobileViTModel(transformers.MobileViTConfig(image_size=128))", 3, 128),
    "hf_dinov2_ts": (TS, HF, "transformers.Dinov2Model(transformers.Dinov2Config(image_size=64, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64))", 3, 64),
    "hf_upernet_convnext_ts": (TS, HF, "transformers.UperNetForSemanticSegmentation(transformers.UperNetConfig(backbone_config=transformers.ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], out_features=['stage1', 'stage2', 'stage3', 'stage4']), hidden_size=32, use_auxiliary_head=False, num_labels=2))", 3, 128),
    "hf_upernet_convnext_dynamo": (DY, HF, "transformers.UperNetForSemanticSegmentation(transformers.UperNetConfig(backbone_config=transformers.ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], out_features=['stage1', 'stage2', 'stage3', 'stage4']), hidden_size=32, use_auxiliary_head=False, num_labels=2))", 3, 128),
    "hf_segformer_dynamo": (DY, HF, "transformers.SegformerForSemanticSegmentation(transformers.SegformerConfig(depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 64, 128], num_attention_heads=[1, 2, 2, 4], decoder_hidden_size=64, num_labels=2))", 3, 128),
    "hf_vit_dynamo": (DY, HF, "transformers.ViTModel(transformers.ViTConfig(image_size=64, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64))", 3, 64),
    "hf_swin_dynamo": (DY, HF, "transformers.SwinModel(transformers.SwinConfig(image_size=128, patch_size=4, embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], window_size=4))", 3, 128),
    # MONAI, 2-D
    "monai_unet_ts": (TS, MONAI, "monai.networks.nets.UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(8, 16, 32, 64, 128), strides=(2, 2, 2, 2), num_res_units=1)", 1, 128),
    "monai_basicunet_ts": (TS, MONAI, "monai.networks.nets.BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(8, 8, 16, 32, 64, 8))", 1, 128),
    "monai_attentionunet_ts": (TS, MONAI, "monai.networks.nets.AttentionUnet(spatial_dims=2, in_channels=1, out_channels=2, channels=(8, 16, 32, 64), strides=(2, 2, 2))", 1, 128),
    "monai_swinunetr_ts": (TS, MONAI, "monai.networks.nets.SwinUNETR(in_channels=1, out_channels=2, spatial_dims=2, feature_size=12, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2))", 1, 128),
    "monai_unetr_ts": (TS, MONAI, "monai.networks.nets.UNETR(in_channels=1, out_channels=2, img_size=(64, 64), spatial_dims=2, feature_size=8, hidden_size=48, mlp_dim=96, num_heads=4)", 1, 64),
    "monai_dynunet_ts": (TS, MONAI, "monai.networks.nets.DynUNet(spatial_dims=2, in_channels=1, out_channels=2, kernel_size=[3, 3, 3, 3], strides=[1, 2, 2, 2], upsample_kernel_size=[2, 2, 2], filters=[8, 16, 32, 64])", 1, 128),
    "monai_segresnet_ts": (TS, MONAI, "monai.networks.nets.SegResNet(spatial_dims=2, in_channels=1, out_channels=2, init_filters=8)", 1, 128),
    "monai_flexibleunet_efficientnet-b0_ts": (TS, MONAI, "monai.networks.nets.FlexibleUNet(in_channels=1, out_channels=2, backbone='efficientnet-b0', pretrained=False, spatial_dims=2, decoder_channels=(64, 32, 16, 8, 8))", 1, 128),
    "monai_unet_dynamo": (DY, MONAI, "monai.networks.nets.UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(8, 16, 32, 64), strides=(2, 2, 2), num_res_units=2)", 1, 128),
    "monai_basicunet_dynamo": (DY, MONAI, "monai.networks.nets.BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(8, 8, 16, 32, 64, 8))", 1, 128),
    "monai_dynunet_dynamo": (DY, MONAI, "monai.networks.nets.DynUNet(spatial_dims=2, in_channels=1, out_channels=2, kernel_size=[3, 3, 3, 3], strides=[1, 2, 2, 2], upsample_kernel_size=[2, 2, 2], filters=[8, 16, 32, 64])", 1, 128),
}


# --------------------------------------------------------------------------------------------------
# build and export (torch only here)

def _namespace():
    import importlib

    ns = {}
    for mod, alias in (("segmentation_models_pytorch", "smp"), ("torchvision", "torchvision"), ("timm", "timm"),
                       ("transformers", "transformers"), ("monai.networks.nets", None)):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        if alias:
            ns[alias] = m
        else:
            import monai

            ns["monai"] = monai
    return ns


def build(name):
    import torch

    exporter, lib, call, channels, example = MODELS[name][:5]
    torch.manual_seed(0)
    model = eval(call, _namespace())  # noqa: S307 -- the constructor calls above, as recorded
    model.eval()

    class Outputs(torch.nn.Module):
        """The model's tensors as a flat tuple (dicts of torchvision's segmentation models and
        transformers' ModelOutput carry their tensors in order)."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            y = self.m(x)
            if isinstance(y, torch.Tensor):
                return y
            if hasattr(y, "to_tuple"):
                y = y.to_tuple()
            elif isinstance(y, dict):
                y = tuple(y.values())
            flat = tuple(t for t in y if isinstance(t, torch.Tensor))
            return flat[0] if len(flat) == 1 else flat

    return Outputs(model).eval(), channels, example, exporter


def export(name, path):
    import torch

    model, channels, example, exporter = build(name)
    x = torch.randn(2, channels, example, example)
    grad = MODELS[name][5].get("grad", False) if len(MODELS[name]) > 5 else False
    with torch.set_grad_enabled(grad):
        if exporter == TS:
            torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17, input_names=["input"],
                              dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}}, do_constant_folding=True)
        else:
            torch.onnx.export(model, (x,), path, dynamo=True, input_names=["input"],
                              dynamic_shapes=({0: "N", 2: "H", 3: "W"},), verbose=False)
    return channels, example


# --------------------------------------------------------------------------------------------------
# measure, strip, check (onnx + onnxruntime)

def measure(path, channels, sizes):
    """onnxruntime's verdict at each size, in child processes (zoo_util.run_sizes: a size that
    crashes onnxruntime is a failure, 'onnxruntime crashed: SIGFPE')."""
    got = zoo_util.run_sizes(path, channels, sizes)
    return {f"{h}x{w}": "ok" if got[f"{h}x{w}"] == "ok" else {"verdict": "fail", "error": got[f"{h}x{w}"]}
            for h, w in sizes}


def drop_debug_info(model):
    """Clears the per-node and per-value metadata_props (the dynamo exporter's stack traces, module
    names and FX node names: about 2 MB of a swin_t graph) and node doc strings. The graph is unchanged."""
    def graph(g):
        for n in g.node:
            del n.metadata_props[:]
            n.doc_string = ""
            for a in n.attribute:
                if a.g.node:
                    graph(a.g)
                for sub in a.graphs:
                    graph(sub)
        for v in list(g.value_info) + list(g.input) + list(g.output):
            del v.metadata_props[:]

    graph(model.graph)
    for f in model.functions:
        for n in f.node:
            del n.metadata_props[:]
    return model


def strip(model, path):
    """Writes `model` to `path` graph-only: tensors over 1 KB go to external data, which is deleted;
    debug metadata is dropped (drop_debug_info)."""
    import onnx

    drop_debug_info(model)

    data = os.path.basename(path) + ".data"
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data,
                    size_threshold=1024, convert_attribute=True)
    os.remove(os.path.join(os.path.dirname(path), data))


def check_sample(sizes, channels, stripped_path, seed_name):
    """The sizes (a sample of ok and failing ones) where the refilled graph-only model's verdict
    differs from the measured one."""
    rng = random.Random(seed_name)
    oks = [s for s, v in sizes.items() if v == "ok"]
    fails = [s for s, v in sizes.items() if v != "ok"]
    sample = rng.sample(oks, min(8, len(oks))) + rng.sample(fails, min(8, len(fails)))
    refilled = stripped_path + ".refilled.onnx"
    zoo_util.with_random_weights(stripped_path, refilled, seed=0)
    results = zoo_util.run_sizes(refilled, channels, [tuple(int(v) for v in s.split("x")) for s in sample])
    os.remove(refilled)
    bad = []
    for s in sample:
        got = results[s]
        if (got == "ok") != (sizes[s] == "ok"):
            bad.append(f"{s}: measured {zoo_util.verdict(sizes[s])}, refilled {'ok' if got == 'ok' else 'fail: ' + got}")
    return bad, len(sample)


def _dims(model):
    t = model.graph.input[0]
    return t.name, [d.dim_param or str(d.dim_value) for d in t.type.tensor_type.shape.dim]


def _load_json(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def _save_json(path, table):
    with open(path, "w") as f:
        json.dump(dict(sorted(table.items())), f, indent=1)
        f.write("\n")


def _export_reason(e):
    """The first line of the exporter's error, and of its deepest cause when it has one (the dynamo
    exporter wraps torch.export's error in a TorchExportError whose own text is generic)."""
    import re

    def first(x, n=1):
        lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(x)).splitlines() if ln.strip()]
        return " ".join(lines[:n])[:300]

    reason = f"{type(e).__name__}: {first(e)}"
    inner = e
    while inner.__cause__ is not None or (inner.__context__ is not None and not inner.__suppress_context__):
        inner = inner.__cause__ or inner.__context__
    if inner is not e:
        reason += f" -- caused by {type(inner).__name__}: {first(inner, 2)}"
    return reason


def _record(name, entry=None, skip=None):
    """Replaces the model's entry in zoo/verdicts.json and zoo/skipped.json (read just before, so
    that only this model's entries change)."""
    verdicts, skipped = _load_json(VERDICTS), _load_json(SKIPPED)
    verdicts.pop(name + ".onnx", None)
    skipped.pop(name, None)
    if entry is not None:
        verdicts[name + ".onnx"] = entry
    if skip is not None:
        skipped[name] = skip
    _save_json(VERDICTS, verdicts)
    _save_json(SKIPPED, skipped)


def record_skip(name, skip):
    _record(name, skip=skip)


def make_one(name):
    """Export, measure, strip, check one model; update zoo/verdicts.json or zoo/skipped.json."""
    import importlib.metadata as md

    import onnx
    import onnxruntime
    import torch

    exporter, lib, call, channels, example = MODELS[name][:5]
    fname = name + ".onnx"
    dst = os.path.join(ZOO, fname)
    _record(name)
    if os.path.exists(dst):
        os.remove(dst)
    opts = MODELS[name][5] if len(MODELS[name]) > 5 else {}
    base = {"library": lib, "version": md.version(lib), "build": call, "exporter": exporter,
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "export_input": [2, channels, example, example]}
    if opts.get("grad"):
        base["export_note"] = "exported with autograd on (under torch.no_grad() the TorchScript exporter fails)"
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, fname)
        try:
            export(name, full)
            model = onnx.load(full)  # with its weights (external data included, if the exporter wrote any)
        except Exception as e:
            reason = _export_reason(e)
            traceback.print_exc()
            print(f"{name}: export failed: {reason}")
            record_skip(name, dict(base, stage="export", reason=reason))
            return 1
        t1 = time.time()
        try:
            sizes = measure(full, channels, SIZES)
        except Exception as e:  # the session itself cannot be made
            reason = f"{type(e).__name__}: {zoo_util.error_line(e)}"
            print(f"{name}: onnxruntime cannot load it: {reason}")
            record_skip(name, dict(base, stage="session", reason=reason))
            return 1
        t2 = time.time()
        out = os.path.join(tmp, "out", fname)
        os.makedirs(os.path.dirname(out))
        strip(model, out)  # (saving with external data empties the tensors of `model`)
        bad, n_checked = check_sample(sizes, channels, out, name)
        if bad:
            print(f"{name}: dropped, the refilled graph-only model disagrees at {len(bad)}/{n_checked} sampled sizes:")
            for line in bad:
                print("  " + line)
            record_skip(name, dict(base, stage="refill", reason=f"refilled with random weights, the verdict differs "
                                   f"at {len(bad)} of {n_checked} sampled sizes, e.g. {bad[0]}"))
            return 1
        os.makedirs(ZOO, exist_ok=True)
        shutil.copyfile(out, dst)
        stripped = onnx.load(dst, load_external_data=False)
    inp, shape = _dims(stripped)
    ok = sum(v == "ok" for v in sizes.values())
    _record(name, dict({"input": inp, "input_shape": shape}, **base, refill_checked_sizes=n_checked, sizes=sizes))
    print(f"{name}: {exporter}, {ok}/{len(sizes)} sizes ok, {os.path.getsize(dst) / 1024:.0f} KB graph-only; "
          f"export {t1 - t0:.0f} s, measure {t2 - t1:.0f} s, refill check {time.time() - t2:.0f} s on {n_checked} sizes")
    return 0


# --------------------------------------------------------------------------------------------------
# README

def _ranges(hs):
    hs = sorted(hs)
    out, start = [], None
    for k, h in enumerate(hs):
        if start is None:
            start = h
        if k + 1 == len(hs) or hs[k + 1] != h + 1:
            out.append(str(start) if start == h else f"{start}–{h}")
            start = None
    return ", ".join(out)


def summary(entry):
    sizes = entry["sizes"]
    sq = [int(s.split("x")[0]) for s, v in sizes.items() if v == "ok" and s.split("x")[0] == s.split("x")[1]]
    n_sq = sum(1 for s in sizes if s.split("x")[0] == s.split("x")[1])
    pairs_ok = sum(1 for s, v in sizes.items() if v == "ok" and s.split("x")[0] != s.split("x")[1])
    n_pairs = len(sizes) - n_sq
    if len(sq) == n_sq:
        sq_txt = "every square size"
    elif not sq:
        sq_txt = "no square size"
    else:
        sq_txt = f"H = W ∈ {{{_ranges(sq)}}}"
    ops = {}
    for v in sizes.values():
        if v != "ok":
            e = v["error"]
            op = e.split(" node.")[0].split(": ", 1)[-1] if " node." in e else e[:40]
            if e.startswith("onnxruntime crashed: "):
                op = "a crash of onnxruntime's process, " + e.split(": ", 1)[1]
            ops[op] = ops.get(op, 0) + 1
    fails = "; fails in " + ", ".join(f"{op} ({n})" for op, n in sorted(ops.items(), key=lambda kv: -kv[1])) if ops else ""
    return f"runs at {sq_txt} ({len(sq)}/{n_sq}), {pairs_ok}/{n_pairs} random pairs{fails}"


def write_readme():
    verdicts, skipped = _load_json(VERDICTS), _load_json(SKIPPED)
    total = sum(os.path.getsize(os.path.join(ZOO, f)) for f in os.listdir(ZOO))
    lines = [
        "# Model zoo: public architecture code, exported, with onnxruntime's verdicts",
        "",
        "Made by `scripts/make_zoo.py` (which documents how; do not edit by hand, re-run it: "
        "`python scripts/make_zoo.py --only NAME`, then `--readme`). Every model below was built from its "
        "library's own code with `torch.manual_seed(0)` and random init (nothing downloaded), exported with a "
        "dynamic batch, H and W (input `input`, dims `N`, `H`, `W`), run by onnxruntime (CPU, one thread) "
        "*with its weights* at every H = W from 16 to 130 and at 30 seeded random (H, W) pairs (batch 1), "
        "and then stored graph-only: every tensor over 1 KB (initializer or Constant value) was moved to "
        "external data that was then deleted. Dims and dtypes of every weight are still in the graph "
        "(`onnx.load(path, load_external_data=False)`); onnxruntime can run a model only once it is "
        "refilled (`tests/zoo_util.with_random_weights`), and the script checked, for every model kept, that "
        "the refilled model gives the measured verdict at a sample of sizes (up to 8 ok and 8 failing). "
        "Per-node metadata (the dynamo exporter's stack traces) was dropped; the graph is as exported.",
        "",
        "Each size runs in a child process: at a size where onnxruntime's process dies (SqueezeNet 1.1 at "
        "16×16: SIGFPE) the verdict is `fail` with the error `onnxruntime crashed: SIGNAL`. "
        "`tests/zoo_util.run_sizes` does the same for the tests.",
        "",
        "`verdicts.json` has the layout of `../shared/corpus/onnxruntime_verdicts.json`: per file `input`, "
        "`input_shape` and `sizes` (`\"HxW\": \"ok\"` or `{\"verdict\": \"fail\", \"error\": ...}`, the "
        "first line of onnxruntime's error with its fixed boilerplate cut, at most 200 characters), plus "
        "`library`, `version`, `build` (the constructor call, evaluated as written), `exporter` "
        "(`torchscript`: `torch.onnx.export(..., dynamo=False, opset_version=17)`; `dynamo`: "
        "`torch.onnx.export(..., dynamo=True)`), `torch`, `onnxruntime`, `export_input` (the example input "
        "the exporter traced) and `refill_checked_sizes`.",
        "",
        f"{len(verdicts)} models, {sum(e['exporter'] == 'dynamo' for e in verdicts.values())} of them by the "
        f"dynamo exporter; {total / 1e6:.1f} MB in this folder.",
        "",
        "| file | library | version | exporter | traced at | verdicts |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for fname, e in sorted(verdicts.items()):
        lines.append(f"| `{fname}` | {e['library']} | {e['version']} | {e['exporter']} | "
                     f"{e['export_input'][2]}×{e['export_input'][3]} | {summary(e)} |")
    lines += ["", "## Constructor calls", ""]
    for fname, e in sorted(verdicts.items()):
        lines.append(f"- `{fname}`: `{e['build']}`")
    lines += ["", "## Not in the zoo", ""]
    if not skipped:
        lines.append("Every model the script lists was exported and kept.")
    else:
        lines.append("Models the script tried and did not keep, with the reason "
                     "(`export`: the exporter failed; `session`: onnxruntime could not load the export; "
                     "`refill`: the graph-only model refilled with random weights does not give the measured "
                     "verdicts):")
        lines.append("")
        lines.append("| model | library | exporter | stage | reason |")
        lines.append("| --- | --- | --- | --- | --- |")
        for name, s in sorted(skipped.items()):
            reason = s["reason"].split(" Please feel free to request support")[0].split("  [Caused by")[0]
            reason = reason.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{name}` | {s['library']} {s['version']} | {s['exporter']} | {s['stage']} | {reason} |")
    with open(os.path.join(ZOO, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def record_timeout(name, seconds):
    import importlib.metadata as md

    exporter, lib, call = MODELS[name][:3]
    record_skip(name, {"library": lib, "version": md.version(lib), "build": call, "exporter": exporter,
                       "stage": "export", "reason": f"not done after {seconds} s (2 shared cores), stopped"})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="NAME", help="make these models, in this process")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--readme", action="store_true", help="only rewrite zoo/README.md")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per model (when making all)")
    args = ap.parse_args(argv)
    if args.list:
        for name, (exporter, lib, call, _, example, *_) in MODELS.items():
            print(f"{name}\t{exporter}\t{example}\t{call}")
        return 0
    if args.readme:
        write_readme()
        return 0
    os.makedirs(ZOO, exist_ok=True)
    if args.only:
        unknown = [n for n in args.only if n not in MODELS]
        if unknown:
            ap.error(f"unknown model(s): {', '.join(unknown)}")
        rc = 0
        for name in args.only:
            rc |= make_one(name)
        write_readme()
        return rc
    failed = []
    for name in MODELS:  # each in its own process: an exporter that crashes or hangs takes only its model
        try:
            p = subprocess.run([sys.executable, __file__, "--only", name], timeout=args.timeout)
            if p.returncode:
                failed.append(name)
        except subprocess.TimeoutExpired:
            print(f"{name}: timed out after {args.timeout} s")
            record_timeout(name, args.timeout)
            failed.append(name)
    write_readme()
    print(f"done; not kept: {', '.join(failed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
