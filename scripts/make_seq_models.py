"""Two 1-D sequence models exported by torch.onnx (TorchScript exporter, opset 17) for
tests/test_sequence_models.py, written to tests/data/ with their weights (a few KB each):

- ``tasnet_like_ts.onnx``: torchaudio.models.ConvTasNet's ``forward`` as written there
  (``_align_num_frames_with_strides``, encoder Conv1d(k=16, s=8, p=8), mask × features, decoder
  ConvTranspose1d, ``view(batch, num_sources, num_padded_frames)``, crop), its separation network
  replaced by a 1×1 Conv + sigmoid. Traced at L = 800, a multiple of the stride: the padding branch
  is not taken, so the exported graph pads nothing and its final Reshape holds only at L mod 8 = 0.
- ``bilstm_gru_ts.onnx``: Conv1d(k=16, s=8) → 2-layer bidirectional LSTM → GRU → Linear, batch_first.

Needs torch (the zoo's venv has it; torchaudio is not needed):

    /work/zoo-venv/bin/python scripts/make_seq_models.py [OUT_DIR]
"""

from __future__ import annotations

import sys

import torch
import torch.nn as nn


class TasNetLike(nn.Module):
    def __init__(self, enc_kernel_size=16, enc_num_feats=8, num_sources=2):
        super().__init__()
        self.enc_kernel_size, self.enc_stride = enc_kernel_size, enc_kernel_size // 2
        self.num_sources, self.enc_num_feats = num_sources, enc_num_feats
        self.encoder = nn.Conv1d(1, enc_num_feats, enc_kernel_size, stride=self.enc_stride, padding=self.enc_stride,
                                 bias=False)
        self.mask = nn.Conv1d(enc_num_feats, enc_num_feats * num_sources, 1)
        self.decoder = nn.ConvTranspose1d(enc_num_feats, 1, enc_kernel_size, stride=self.enc_stride,
                                          padding=self.enc_stride, bias=False)

    def _align_num_frames_with_strides(self, input):  # torchaudio's, unchanged
        batch_size, num_channels, num_frames = input.shape
        is_odd = self.enc_kernel_size % 2
        num_strides = (num_frames - is_odd) // self.enc_stride
        num_remainings = num_frames - (is_odd + num_strides * self.enc_stride)
        if num_remainings == 0:
            return input, 0
        num_paddings = self.enc_stride - num_remainings
        pad = torch.zeros(batch_size, num_channels, num_paddings, dtype=input.dtype, device=input.device)
        return torch.cat([input, pad], 2), num_paddings

    def forward(self, input):
        padded, num_pads = self._align_num_frames_with_strides(input)
        batch_size, num_padded_frames = padded.shape[0], padded.shape[2]
        feats = self.encoder(padded)
        masked = torch.sigmoid(self.mask(feats)).view(batch_size, self.num_sources, self.enc_num_feats, -1) \
            * feats.unsqueeze(1)
        masked = masked.view(batch_size * self.num_sources, self.enc_num_feats, -1)
        decoded = self.decoder(masked)
        output = decoded.view(batch_size, self.num_sources, num_padded_frames)
        if num_pads > 0:
            output = output[..., :-num_pads]
        return output


class BiLSTMGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 16, stride=8)
        self.lstm = nn.LSTM(8, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(12, 5, batch_first=True)
        self.out = nn.Linear(5, 3)

    def forward(self, x):
        h, _ = self.lstm(self.conv(x).transpose(1, 2))
        h, _ = self.gru(h)
        return self.out(h)


def main(out_dir: str = "tests/data") -> None:
    torch.manual_seed(0)
    for name, model in (("tasnet_like_ts", TasNetLike()), ("bilstm_gru_ts", BiLSTMGRU())):
        model.eval()
        torch.onnx.export(model, torch.randn(1, 1, 800), f"{out_dir}/{name}.onnx", input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N", 2: "L"}, "y": {0: "N"}}, opset_version=17,
                          dynamo=False)


if __name__ == "__main__":
    main(*sys.argv[1:2])
