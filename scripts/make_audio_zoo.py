#!/usr/bin/env python3
"""Build the 1-D audio zoo: ONNX exports of public audio code, with onnxruntime's verdict per length.

    python scripts/make_audio_zoo.py                 # every model, each in its own process
    python scripts/make_audio_zoo.py --only NAME ... # re-make some (merged into zoo/audio/verdicts.json)
    python scripts/make_audio_zoo.py --list          # the models and their constructor calls
    python scripts/make_audio_zoo.py --readme        # rewrite zoo/audio/README.md from verdicts.json

As scripts/make_zoo.py does for the 2-D zoo, and with its functions (strip, _export_reason) and
tests/zoo_util's (the refill with random weights, child-process runs): every model is built from
its library's own code with torch.manual_seed(0) and random init (nothing downloaded; small configs),
exported with a dynamic batch and length (input `input`, dims `N` and `L`) by the TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`, opset 17) or the dynamo
exporter, and run by onnxruntime (CPU, one thread) WITH its weights, batch 1, at every length
L = 1..64 and at a seeded sample up to 16000 (multiples of the models' strides 8, 10, 16, 160, 320,
the same plus and minus one, and random lengths): 150 lengths. Each length is recorded as
{"verdict": "ok", "outputs": [output shapes]} or {"verdict": "fail", "error": first line}; a length
at which onnxruntime's process dies is a failure 'onnxruntime crashed: SIGNAL'. The model is then
stored graph-only (tensors over 1 KB to external data that is deleted) as zoo/audio/NAME.onnx, after
checking that the stripped model refilled with seeded random weights gives the measured verdicts at
a sample of lengths. A model that fails to export or to load is listed in zoo/audio/skipped.json.

Requirements: a venv of its own (torchaudio 2.9 needs torch 2.9.1), scripts/audio-zoo-requirements.txt.
Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
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
AUDIO = os.path.join(REPO, "zoo", "audio")
VERDICTS = os.path.join(AUDIO, "verdicts.json")
SKIPPED = os.path.join(AUDIO, "skipped.json")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

import make_zoo  # noqa: E402  (strip, _export_reason, _load_json, _save_json)
import zoo_util  # noqa: E402


def lengths(seed=2026):
    """L = 1..64, then multiples of the usual strides (and one off) and random lengths up to 16000."""
    rng = random.Random(seed)
    out = set(range(1, 65))
    for s in (8, 10, 16, 160, 320):
        for m in rng.sample(range(9, 16000 // s), 4):
            out |= {m * s, m * s + 1, m * s - 1}
    while len(out) < 150:
        out.add(rng.randint(65, 16000))
    return sorted(out)


LENGTHS = lengths()

TS, DY = "torchscript", "dynamo"
TA, AST, SB = "torchaudio", "asteroid", "speechbrain"
W2V_TINY = ("extractor_conv_layer_config=[(16, 10, 5), (16, 3, 2), (16, 3, 2), (16, 3, 2), (16, 3, 2), (16, 2, 2), "
            "(16, 2, 2)], extractor_conv_bias=False, encoder_embed_dim=32, encoder_projection_dropout=0.0, "
            "encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=2, "
            "encoder_attention_dropout=0.0, encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.0, "
            "encoder_dropout=0.0, encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None")
CONVTASNET_SMALL = ("num_sources=2, enc_kernel_size=16, enc_num_feats=32, msk_kernel_size=3, msk_num_feats=16, "
                    "msk_num_hidden_feats=32, msk_num_layers=3, msk_num_stacks=1")
ECAPA_SMALL = ("input_size=20, channels=[32, 32, 32, 32, 96], lin_neurons=16, attention_channels=16, "
               "se_channels=16")

# name: (exporter, library, constructor call, input layout ("NL", "N1L", or "NLF<k>" / "N1LF<k>": frames
#        of k features), example length traced [, options]); options: {"batch": 1}: trace at batch 1 (default 2)
MODELS = {
    "ta_convtasnet_l800_ts": (TS, TA, f"torchaudio.models.ConvTasNet({CONVTASNET_SMALL})", "N1L", 800),
    "ta_convtasnet_l801_ts": (TS, TA, f"torchaudio.models.ConvTasNet({CONVTASNET_SMALL})", "N1L", 801),
    "ta_wav2letter_ts": (TS, TA, "torchaudio.models.Wav2Letter(num_classes=10, input_type='waveform', num_features=1)",
                         "N1L", 1600),
    "ta_wav2vec2_tiny_ts": (TS, TA, f"torchaudio.models.wav2vec2_model(extractor_mode='group_norm', {W2V_TINY})",
                            "NL", 1600),
    "ta_wav2vec2_tiny_layernorm_dynamo": (DY, TA, "torchaudio.models.wav2vec2_model(extractor_mode='layer_norm', "
                                          f"{W2V_TINY})", "NL", 1600),
    "ta_deepspeech_ts": (TS, TA, "torchaudio.models.DeepSpeech(n_feature=20, n_hidden=32, n_class=10)", "N1LF20", 200),
    "ta_hdemucs_small_ts": (TS, TA, "torchaudio.models.HDemucs(sources=['a', 'b'], audio_channels=1, channels=8, "
                            "depth=3, nfft=256)", "N1L", 4096),
    "ta_hdemucs_small_dynamo": (DY, TA, "torchaudio.models.HDemucs(sources=['a', 'b'], audio_channels=1, "
                                "channels=8, depth=3, nfft=256)", "N1L", 4096),
    "ast_convtasnet_ts": (TS, AST, "asteroid.models.ConvTasNet(n_src=2, n_blocks=2, n_repeats=1, bn_chan=16, "
                          "hid_chan=32, skip_chan=16, n_filters=32, kernel_size=16, stride=8)", "NL", 800),
    "ast_dprnntasnet_dynamo": (DY, AST, "asteroid.models.DPRNNTasNet(n_src=2, n_repeats=1, bn_chan=16, hid_size=16, "
                           "chunk_size=20, hop_size=10, n_filters=32, kernel_size=16, stride=8)", "NL", 800),
    "ast_sudormrf_ts": (TS, AST, "asteroid.models.SuDORMRFNet(n_src=2, bn_chan=16, num_blocks=2, upsampling_depth=3, "
                        "in_chan=32, n_filters=32, kernel_size=21, stride=10)", "NL", 800),
    "ast_dcunet_ts": (TS, AST, "asteroid.models.DCUNet('DCUNet-10', n_src=1, stft_n_filters=64, "
                      "stft_kernel_size=64, stft_stride=16, fix_length_mode='pad')", "NL", 1024),
    "ast_dptnet_dynamo": (DY, AST, "asteroid.models.DPTNet(n_src=2, n_heads=2, ff_hid=16, chunk_size=20, "
                          "hop_size=10, n_repeats=1, in_chan=32, n_filters=32, kernel_size=16, stride=8)", "NL", 800),
    "ast_demask_ts": (TS, AST, "asteroid.models.DeMask(hidden_dims=[64], n_filters=128, kernel_size=128, stride=64)",
                      "NL", 1600),
    "sb_xvector_ts": (TS, SB, "speechbrain.lobes.models.Xvector.Xvector(in_channels=20, tdnn_blocks=5, "
                      "tdnn_channels=[32, 32, 32, 32, 64], tdnn_kernel_sizes=[5, 3, 3, 1, 1], "
                      "tdnn_dilations=[1, 2, 3, 1, 1], lin_neurons=16)", "NLF20", 200, {"batch": 1}),
    "sb_sepformer_ts": (TS, SB, "sepformer()", "NL", 800),
    "sb_ecapa_tdnn_ts": (TS, SB, f"speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN({ECAPA_SMALL})", "NLF20", 200,
                         {"batch": 1}),
    "sb_ecapa_tdnn_batch2_ts": (TS, SB, f"speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN({ECAPA_SMALL})", "NLF20",
                                200),
}


def _opts(name):
    return MODELS[name][5] if len(MODELS[name]) > 5 else {}


def input_shape(layout, n, length):
    if layout == "NL":
        return [n, length]
    if layout == "N1L":
        return [n, 1, length]
    if layout.startswith("N1LF"):  # [N, 1, T, F]: frames of F features (torchaudio's DeepSpeech)
        return [n, 1, length, int(layout[4:])]
    return [n, length, int(layout[3:])]


def length_axis(layout):
    return 2 if layout.startswith("N1L") else 1


# --------------------------------------------------------------------------------------------------
# build and export (torch only here)

def sepformer(num_spks=2, n_feats=32, kernel_size=16, chunk=25, layers=1):
    """SepFormer as speechbrain's separation recipe and SepformerSeparation.separate_batch put it
    together from speechbrain.lobes.models.dual_path (Encoder, Dual_Path_Model of SBTransformerBlocks,
    Decoder), small: the masks times the encoded mixture, decoded per speaker, then padded or cropped
    to the input's length (T_origin vs T_est, a Python branch: the trace keeps the one taken)."""
    import torch
    import torch.nn.functional as F
    from speechbrain.lobes.models import dual_path as dp

    class Sepformer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = dp.Encoder(kernel_size=kernel_size, out_channels=n_feats)
            block = lambda: dp.SBTransformerBlock(num_layers=layers, d_model=n_feats, nhead=2,  # noqa: E731
                                                  d_ffn=64, dropout=0.0, use_positional_encoding=True,
                                                  norm_before=True)
            self.masknet = dp.Dual_Path_Model(n_feats, n_feats, block(), block(), num_layers=1, K=chunk,
                                              num_spks=num_spks, use_global_pos_enc=False)
            self.decoder = dp.Decoder(in_channels=n_feats, out_channels=1, kernel_size=kernel_size,
                                      stride=kernel_size // 2, bias=False)

        def forward(self, mix):  # separate_batch, as written there
            mix_w = self.encoder(mix)
            est_mask = self.masknet(mix_w)
            mix_w = torch.stack([mix_w] * num_spks)
            sep_h = mix_w * est_mask
            est_source = torch.cat([self.decoder(sep_h[i]).unsqueeze(-1) for i in range(num_spks)], dim=-1)
            t_origin, t_est = mix.size(1), est_source.size(1)
            if t_origin > t_est:
                est_source = F.pad(est_source, (0, 0, 0, t_origin - t_est))
            else:
                est_source = est_source[:, :t_origin, :]
            return est_source

    return Sepformer()


def _namespace():
    import importlib

    ns = {}
    for mod in ("torchaudio", "torchaudio.models", "asteroid", "asteroid.models", "speechbrain",
                "speechbrain.lobes.models.ECAPA_TDNN", "speechbrain.lobes.models.Xvector"):
        try:
            importlib.import_module(mod)
        except ImportError:
            continue
        ns[mod.split(".")[0]] = sys.modules[mod.split(".")[0]]
    ns["sepformer"] = sepformer
    return ns


def build(name):
    import torch

    call = MODELS[name][2]
    torch.manual_seed(0)
    model = eval(call, _namespace())  # noqa: S307 -- the constructor calls above, as recorded
    model.eval()

    class Outputs(torch.nn.Module):
        """The model's tensors as a flat tuple (wav2vec2 returns (features, lengths=None))."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            y = self.m(x)
            if isinstance(y, torch.Tensor):
                return y
            flat = tuple(t for t in y if isinstance(t, torch.Tensor))
            return flat[0] if len(flat) == 1 else flat

    return Outputs(model).eval()


def export(name, path):
    import torch

    exporter, _lib, _call, layout, example = MODELS[name][:5]
    model = build(name)
    x = torch.randn(*input_shape(layout, _opts(name).get("batch", 2), example))
    axis = length_axis(layout)
    with torch.no_grad():
        if exporter == TS:
            torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17,
                              input_names=["input"], dynamic_axes={"input": {0: "N", axis: "L"}},
                              do_constant_folding=True)
        else:
            torch.onnx.export(model, (x,), path, dynamo=True, input_names=["input"],
                              dynamic_shapes=({0: torch.export.Dim("N"), axis: torch.export.Dim("L")},),
                              verbose=False)


# --------------------------------------------------------------------------------------------------
# measure, strip, check (onnx + onnxruntime)

def measure(path, layout, lens):
    got = zoo_util.run_shapes(path, [input_shape(layout, 1, n) for n in lens])
    out = {}
    for n in lens:
        res, shapes = got[",".join(map(str, input_shape(layout, 1, n)))]
        out[str(n)] = {"verdict": "ok", "outputs": shapes} if res == "ok" else {"verdict": "fail", "error": res}
    return out


def check_sample(table, layout, stripped_path, seed_name):
    """The lengths (up to 8 ok and 8 failing) where the refilled graph-only model's verdict or output
    shapes differ from the measured ones."""
    rng = random.Random(seed_name)
    oks = [n for n, v in table.items() if v["verdict"] == "ok"]
    fails = [n for n, v in table.items() if v["verdict"] != "ok"]
    sample = rng.sample(oks, min(8, len(oks))) + rng.sample(fails, min(8, len(fails)))
    refilled = stripped_path + ".refilled.onnx"
    zoo_util.with_random_weights(stripped_path, refilled, seed=0)
    got = measure(refilled, layout, [int(n) for n in sample])
    os.remove(refilled)
    bad = [f"L={n}: measured {table[n]}, refilled {got[n]}" for n in sample
           if table[n]["verdict"] != got[n]["verdict"] or table[n].get("outputs") != got[n].get("outputs")]
    return bad, len(sample)


def _record(name, entry=None, skip=None):
    verdicts, skipped = make_zoo._load_json(VERDICTS), make_zoo._load_json(SKIPPED)
    verdicts.pop(name + ".onnx", None)
    skipped.pop(name, None)
    if entry is not None:
        verdicts[name + ".onnx"] = entry
    if skip is not None:
        skipped[name] = skip
    make_zoo._save_json(VERDICTS, verdicts)
    make_zoo._save_json(SKIPPED, skipped)


def make_one(name):
    import importlib.metadata as md

    import onnx
    import onnxruntime
    import torch

    exporter, lib, call, layout, example = MODELS[name][:5]
    fname = name + ".onnx"
    dst = os.path.join(AUDIO, fname)
    _record(name)
    if os.path.exists(dst):
        os.remove(dst)
    base = {"library": lib, "version": md.version(lib), "build": call, "exporter": exporter,
            "opset": 17 if exporter == TS else "dynamo default",
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "export_input": input_shape(layout, _opts(name).get("batch", 2), example), "length_axis": length_axis(layout)}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, fname)
        try:
            export(name, full)
            model = onnx.load(full)
        except Exception as e:
            reason = make_zoo._export_reason(e)
            traceback.print_exc()
            print(f"{name}: export failed: {reason}")
            _record(name, skip=dict(base, stage="export", reason=reason))
            return 1
        t1 = time.time()
        try:
            table = measure(full, layout, LENGTHS)
        except Exception as e:
            reason = f"{type(e).__name__}: {zoo_util.error_line(e)}"
            print(f"{name}: onnxruntime cannot load it: {reason}")
            _record(name, skip=dict(base, stage="session", reason=reason))
            return 1
        t2 = time.time()
        out = os.path.join(tmp, "out", fname)
        os.makedirs(os.path.dirname(out))
        make_zoo.strip(model, out)
        bad, n_checked = check_sample(table, layout, out, name)
        if bad:
            print(f"{name}: dropped, the refilled graph-only model disagrees at {len(bad)}/{n_checked} lengths:")
            for line in bad:
                print("  " + line)
            _record(name, skip=dict(base, stage="refill", reason=f"refilled with random weights, the verdict differs "
                                    f"at {len(bad)} of {n_checked} sampled lengths, e.g. {bad[0]}"))
            return 1
        os.makedirs(AUDIO, exist_ok=True)
        shutil.copyfile(out, dst)
        stripped = onnx.load(dst, load_external_data=False)
    inp = stripped.graph.input[0]
    shape = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    outs = [o.name for o in stripped.graph.output]
    ok = sum(v["verdict"] == "ok" for v in table.values())
    _record(name, dict({"input": inp.name, "input_shape": shape, "outputs": outs}, **base,
                       refill_checked_lengths=n_checked, lengths=table))
    print(f"{name}: {exporter}, {ok}/{len(table)} lengths ok, {os.path.getsize(dst) / 1024:.0f} KB graph-only; "
          f"export {t1 - t0:.0f} s, measure {t2 - t1:.0f} s, refill check {time.time() - t2:.0f} s")
    return 0


# --------------------------------------------------------------------------------------------------
# README

def summary(entry):
    lens = entry["lengths"]
    ok = sorted(int(n) for n, v in lens.items() if v["verdict"] == "ok")
    small = [n for n in ok if n <= 64]
    txt = f"{len(ok)}/{len(lens)} ok"
    if len(ok) == len(lens):
        return txt + " (every length)"
    if small:
        txt += f"; of 1–64: {make_zoo._ranges(small)}"
    else:
        txt += "; none of 1–64"
    ops = {}
    for v in lens.values():
        if v["verdict"] != "ok":
            e = v["error"]
            op = e.split(" node.")[0].split(": ", 1)[-1] if " node." in e else e[:40]
            ops[op] = ops.get(op, 0) + 1
    return txt + "; fails in " + ", ".join(f"{op} ({n})" for op, n in sorted(ops.items(), key=lambda kv: -kv[1]))


def write_readme():
    verdicts, skipped = make_zoo._load_json(VERDICTS), make_zoo._load_json(SKIPPED)
    total = sum(os.path.getsize(os.path.join(AUDIO, f)) for f in os.listdir(AUDIO))
    lines = [
        "# Audio zoo: 1-D models of public audio code, exported, with onnxruntime's verdict per length",
        "",
        "Made by `scripts/make_audio_zoo.py` (which documents how; do not edit by hand: re-run it with "
        "`--only NAME`, then `--readme`). Each model was built from its library's code with "
        "`torch.manual_seed(0)` and random init, exported with a dynamic batch `N` and length `L`, run by "
        "onnxruntime (CPU, one thread, batch 1) *with its weights* at every L from 1 to 64 and at a seeded "
        "sample up to 16000 (150 lengths), and stored graph-only as `../README.md` describes for the 2-D zoo "
        "(tensors over 1 KB deleted; `tests/zoo_util.with_random_weights` refills them, and the script checked "
        "that the refilled model gives the measured verdicts and output shapes at up to 16 lengths).",
        "",
        "`verdicts.json`: per file `input`, `input_shape`, `length_axis`, `outputs` (names), `library`, "
        "`version`, `build` (the constructor call), `exporter`, `opset`, `torch`, `onnxruntime`, "
        "`export_input` (the example input traced) and `lengths`: `\"L\": {\"verdict\": \"ok\", \"outputs\": "
        "[shape of each output]}` or `{\"verdict\": \"fail\", \"error\": first line of onnxruntime's error}`.",
        "",
        f"{len(verdicts)} models; {total / 1e6:.1f} MB in this folder.",
        "",
        "| file | library | version | exporter | traced at | verdicts |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for fname, e in sorted(verdicts.items()):
        lines.append(f"| `{fname}` | {e['library']} | {e['version']} | {e['exporter']} | "
                     f"{'×'.join(map(str, e['export_input']))} | {summary(e)} |")
    lines += ["", "## Constructor calls", ""]
    for fname, e in sorted(verdicts.items()):
        lines.append(f"- `{fname}`: `{e['build']}`")
    lines += ["", "## Not in the zoo", ""]
    if not skipped:
        lines.append("Every model the script lists was exported and kept.")
    else:
        lines += ["| model | library | exporter | stage | reason |", "| --- | --- | --- | --- | --- |"]
        for name, s in sorted(skipped.items()):
            reason = s["reason"].replace("|", "\\|").replace("\n", " ")[:400]
            lines.append(f"| `{name}` | {s['library']} {s['version']} | {s['exporter']} | {s['stage']} | {reason} |")
    with open(os.path.join(AUDIO, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="NAME", help="make these models, in this process")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--readme", action="store_true", help="only rewrite zoo/audio/README.md")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per model (when making all)")
    args = ap.parse_args(argv)
    if args.list:
        for name, (exporter, lib, call, layout, example, *_) in MODELS.items():
            print(f"{name}\t{exporter}\t{layout}\t{example}\t{call}")
        return 0
    os.makedirs(AUDIO, exist_ok=True)
    if args.readme:
        write_readme()
        return 0
    names = args.only or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s): {', '.join(unknown)}")
    if args.only and len(names) == 1:
        rc = make_one(names[0])
        write_readme()
        return rc
    failed = []
    for name in names:  # each in its own process: an exporter that crashes or hangs takes only its model
        try:
            if subprocess.run([sys.executable, __file__, "--only", name], timeout=args.timeout).returncode:
                failed.append(name)
        except subprocess.TimeoutExpired:
            print(f"{name}: timed out after {args.timeout} s")
            failed.append(name)
    write_readme()
    print(f"done; not kept: {', '.join(failed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
