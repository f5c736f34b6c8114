"""Building the ONNX files kb/embedders/onnx.py runs: the only place torch is needed.

fp32: the transformer traced by `torch.onnx.export` (TorchScript exporter, opset 17; eager
attention, whose graph ONNX Runtime's BERT fusions recognise), then fused (attention,
LayerNorm, GELU) by `onnxruntime.transformers.optimizer`. Whatever is built must reproduce
the torch model's vectors on probe texts, or the unfused graph is tried, or the build fails.

int8: static quantisation of the fused fp32 graph's MatMuls. Each activation's range is fixed
once, at export, from the texts in calibration.json, so a passage's vector depends on its own
text only: dynamic quantisation scaled each batch by its own range, and a passage embedded
beside other passages moved (cosine 0.9970 to itself in another batch, over SciFact
abstracts), so a knowledge base grown in several ingests ranked differently from the same
documents built in one. The fixed ranges are also closer to fp32 (mean cosine 0.9994 vs
0.9984; bench/embed_runtimes.py). Per-channel weights are what rescue accuracy (0.937 with
the library defaults, 0.993 per channel). The down-projection after each GELU stays fp32: its
input has outliers that one per-tensor activation scale cannot represent. Weights are 7-bit
(`reduce_range`): ONNX Runtime's u8s8 kernels on AVX2 CPUs without VNNI can saturate with 8
bits. Embeddings and attention stay fp32.
"""
from __future__ import annotations

import inspect
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from kb.errors import ModelUnavailable
from kb.files import fsync

from .onnx import ModelSpec, cpu_count, mean_pool, open_session, open_tokenizer, run_batches, token_batches


OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
GELU_OPS = {"Gelu", "BiasGelu", "FastGelu", "QuickGelu", "Erf"}
FP32_MIN_COSINE = 0.9999  # an export must reproduce the torch model's vectors this closely
INT8_MIN_COSINE = 0.99  # a sanity floor: MiniLM's int8 export holds >= 0.9946 on PROBES

# Varied on purpose: short, long (truncated at max_seq_length), padded beside each other, unicode.
PROBES = [
    "Infant mental health consultation in early care settings.",
    "What does DC:0-5 say about diagnosing children under three?",
    "Crèche, naïve café: Übergang für Kleinkinder — 幼儿 心理健康 🙂",
    " ".join(["Home visiting programmes reduce maternal depression and improve attachment security."] * 40),
    "a",
]


def build(spec: ModelSpec, precision: str, target: Path, fp32_source: Path | None = None) -> None:
    """Write `target` whole (temp folder beside it, fsync, rename): fp32 from the model,
    int8 from `fp32_source`."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        try:
            built = export_fp32(spec, Path(tmp)) if precision == "fp32" else export_int8(spec, fp32_source, Path(tmp))
        except ModelUnavailable:
            raise
        except Exception as exc:  # torch/ONNX exporters fail in many ways; the remedy is the same
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ModelUnavailable(f"Could not build the ONNX export of {spec.name} ({first}); "
                                   "use the torch runtime (KB_RUNTIME=torch).") from exc
        os.chmod(built, 0o644)  # readable by the server's user, as any model file (the static quantiser writes 0600)
        fsync(built)
        os.replace(built, target)
        fsync(target.parent)


def export_fp32(spec: ModelSpec, tmp: Path) -> Path:
    model = load_transformer(spec)
    raw, fused = tmp / "raw.onnx", tmp / "fused.onnx"
    expected = torch_vectors(model, spec, PROBES)
    export_transformer(model, spec, raw)
    candidates = [fused, raw] if fuse(spec, raw, fused) else [raw]
    worst = 1.0
    for path in candidates:
        worst = min_cosine(onnx_vectors(path, spec, PROBES), expected)
        if worst >= FP32_MIN_COSINE:
            return path
    raise ModelUnavailable(f"The ONNX export of {spec.name} does not reproduce its vectors (cosine {worst:.5f}); "
                           "use the torch runtime (KB_RUNTIME=torch).")


def export_int8(spec: ModelSpec, fp32_source: Path, tmp: Path) -> Path:
    quantised = tmp / "int8.onnx"
    quantise_static(fp32_source, quantised, calibration_inputs(spec), keep_fp32=down_projections(fp32_source))
    worst = min_cosine(onnx_vectors(quantised, spec, PROBES), onnx_vectors(fp32_source, spec, PROBES))
    if worst < INT8_MIN_COSINE:
        raise ModelUnavailable(f"int8 quantisation of {spec.name} drifts too far from fp32 (cosine {worst:.4f}); "
                               "use fp32.")
    return quantised


# ---- the steps (bench/embed_runtimes.py builds its variants from them) -------------------------------

def load_transformer(spec: ModelSpec):
    """The Transformer module as a plain transformers model, with eager attention."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: nothing to fetch
    try:
        import torch
        import transformers
    except ImportError:
        raise ModelUnavailable("Building the ONNX export needs torch and transformers (`pip install "
                               "sentence-transformers`), once per model.") from None
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(cpu_count())
    return transformers.AutoModel.from_pretrained(str(spec.transformer), attn_implementation="eager").eval()


def input_names(model) -> list[str]:
    accepted = inspect.signature(model.forward).parameters
    return [n for n in INPUT_NAMES if n in accepted]


def export_transformer(model, spec: ModelSpec, path: Path) -> None:
    """Tokens in, token embeddings out; batch and sequence dynamic."""
    import torch

    names = input_names(model)

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    _, example = next(probe_batches(spec, PROBES[:2]))  # two lengths: the trace sees padding
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about Python branches on shapes
        # .eval(): the exporter puts the module back in the mode it found it in, and a new
        # Module is in training mode, which would leave dropout on in `model` afterwards.
        torch.onnx.export(TokenEmbeddings().eval(), tuple(torch.from_numpy(example[n]) for n in names), str(path),
                          input_names=names, output_names=["token_embeddings"],
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]},
                          opset_version=OPSET, dynamo=False)


def fuse(spec: ModelSpec, source: Path, target: Path) -> bool:
    """ONNX Runtime's transformer fusions; False if they do not apply to this graph."""
    import json

    from onnxruntime.transformers import optimizer

    config = json.loads((spec.transformer / "config.json").read_text())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = optimizer.optimize_model(str(source), model_type="bert", opt_level=0, use_gpu=False,
                                             num_heads=int(config.get("num_attention_heads", 0)),
                                             hidden_size=int(config.get("hidden_size", 0)))
    except Exception:  # a graph the BERT fusions do not understand: the unfused one still runs
        return False
    if not model.get_fused_operator_statistics().get("Attention"):
        return False
    model.save_model_to_file(str(target))
    return True


def quantise(source: Path, target: Path, keep_fp32: list[str] = (), op_types: tuple[str, ...] = ("MatMul",),
             per_channel: bool = True, reduce_range: bool = True) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # the quantiser warns about pre-processing through root
    quantize_dynamic(source, target, op_types_to_quantize=list(op_types), per_channel=per_channel,
                     reduce_range=reduce_range, nodes_to_exclude=list(keep_fp32),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def calibration_texts() -> list[str]:
    """Public-domain government passages (as the index embeds them), questions and odd inputs."""
    import json

    return json.loads((Path(__file__).with_name("calibration.json")).read_text(encoding="utf-8"))["texts"]


def calibration_inputs(spec: ModelSpec, batch_size: int = 16) -> list[dict[str, np.ndarray]]:
    tokenizer, pad = open_tokenizer(spec)
    return [dict(inputs) for _, inputs in
            token_batches(tokenizer, pad, calibration_texts(), spec.lowercase, batch_size)]


def quantise_static(source: Path, target: Path, inputs: list[dict[str, np.ndarray]], keep_fp32: list[str] = (),
                    per_channel: bool = True, reduce_range: bool = True) -> None:
    """int8 MatMuls with activation ranges fixed from `inputs` (min-max), weights per channel."""
    import logging

    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    wanted = {i.name for i in open_session(source).get_inputs()}

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{k: v for k, v in batch.items() if k in wanted} for batch in inputs])

        def get_next(self):
            return next(self.batches, None)

    logging.getLogger().setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(source), str(target), Batches(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul"], per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(keep_fp32), calibrate_method=CalibrationMethod.MinMax,
                        calibration_providers=["CPUExecutionProvider"],
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                       "CalibTensorRangeSymmetric": False})


def down_projections(path: Path) -> list[str]:
    """MatMuls fed (within three nodes) by a GELU: the FFN down-projections."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def after_gelu(name: str, depth: int = 3) -> bool:
        node = producer.get(name)
        return bool(node) and depth > 0 and (node.op_type in GELU_OPS or after_gelu(node.input[0], depth - 1))

    return [n.name for n in graph.node if n.op_type == "MatMul" and after_gelu(n.input[0])]


# ---- checking ---------------------------------------------------------------------------------

def probe_batches(spec: ModelSpec, texts: list[str]):
    tokenizer, pad = open_tokenizer(spec)
    return token_batches(tokenizer, pad, texts, spec.lowercase, len(texts))


def torch_vectors(model, spec: ModelSpec, texts: list[str]) -> np.ndarray:
    import torch

    names = input_names(model)
    rows, inputs = next(probe_batches(spec, texts))
    with torch.inference_mode():
        hidden = model(**{n: torch.from_numpy(inputs[n]) for n in names}).last_hidden_state.numpy()
    out = np.empty((len(texts), hidden.shape[-1]), np.float32)
    out[rows] = mean_pool(hidden, inputs["attention_mask"])
    return out


def onnx_vectors(path: Path, spec: ModelSpec, texts: list[str]) -> np.ndarray:
    return run_batches(open_session(path), *open_tokenizer(spec), spec, texts, len(texts))


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))
