#!/usr/bin/env python3
"""Write the small seed inputs of the fuzz targets into tests/fuzz/corpus/.

Run once by hand (python3 tests/fuzz/make_seeds.py [TARGET...]: only those
targets' seeds); the seeds are committed.
Standard library only: the .pth seeds are torch's zip layout with a pickle
that names torch's rebuild helpers, written without torch. The media seeds
come from the ffmpeg command (skipped when it is absent). The lora seeds are
copies of tests/data/fixtures/lora_dit's LoRA files (one per key dialect)."""
import io, json, os, pickle, struct, subprocess, sys, types, zipfile
from collections import OrderedDict

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


only = set(sys.argv[1:])


def put(target, name, data):
    if only and target not in only:
        return
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- safetensors ----------------------------------------------------------------
def safetensors(tensors, meta=None):
    header, blob = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
put("safetensors", "mixed", safetensors({
    "blocks.0.weight": ("F32", [2, 3], f32(1, 2, 3, 4, 5, 6)),
    "blocks.0.bias": ("BF16", [2], b"\x80\x3f\x00\x40"),
    "h": ("F16", [1, 2], b"\x00\x3c\x00\x40"),
    "ids": ("I64", [2], struct.pack("<2q", 7, -1)),
    "mask": ("U8", [0], b""),
    "s": ("F32", [], f32(0.5)),
}, {"format": "pt", "num_heads": "2"}))
put("safetensors", "fp8", safetensors({"w": ("F8_E4M3", [4], b"\x38\x40\x48\xb8"), "w.scale": ("F32", [1], f32(2))}))
put("safetensors", "empty", safetensors({}))

# ---- index.json (the fuzz target's folder holds a.safetensors and b.safetensors) -----
put("index_json", "two_shards", json.dumps(
    {"metadata": {"total_size": 40}, "weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}).encode())
put("index_json", "one_shard", json.dumps({"weight_map": {"x": "a.safetensors"}}, indent=1).encode())


# ---- PyTorch zip ------------------------------------------------------------------
def fake_module(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        v.__module__, v.__qualname__ = name, k
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def _rebuild_tensor_v2(*a): pass
def _rebuild_parameter(*a): pass
class FloatStorage: pass
class BFloat16Storage: pass

fake_module("torch._utils", _rebuild_tensor_v2=_rebuild_tensor_v2, _rebuild_parameter=_rebuild_parameter)
fake_module("torch", FloatStorage=FloatStorage, BFloat16Storage=BFloat16Storage)


class Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel


class Tensor:
    def __init__(self, storage, offset, size, stride, param=False):
        self.args = (storage, offset, size, stride, False, OrderedDict())
        self.param = param

    def __reduce__(self):
        if self.param:
            return (_rebuild_parameter, (Tensor(*self.args[:4]), False, OrderedDict()))
        return (_rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def pth(state, records, protocol=2, prefix="archive"):
    buf = io.BytesIO()
    Pickler(buf, protocol=protocol).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in [("data.pkl", buf.getvalue()), ("version", b"3\n")] + \
                          [("data/" + k, v) for k, v in records.items()]:
            z.writestr(zipfile.ZipInfo(prefix + "/" + name, (1980, 1, 1, 0, 0, 0)), data)  # fixed dates
    return out.getvalue()


s0, s1 = Storage(FloatStorage, "0", 6), Storage(BFloat16Storage, "1", 4)
state = OrderedDict()
state["conv.weight"] = Tensor(s0, 0, (2, 3), (3, 1))
state["conv.weight_t"] = Tensor(s0, 0, (3, 2), (1, 3))  # strided: copied
state["norm.bias"] = Tensor(s1, 1, (3,), (1,), param=True)
records = {"0": f32(1, 2, 3, 4, 5, 6), "1": b"\x80\x3f\x00\x40\x40\x40\x80\x40"}
put("pth", "state_dict_p2", pth(state, records, 2))
put("pth", "wrapped_p4", pth({"state_dict": state}, records, 4, "model"))

# ---- spiece.model (protobuf) -------------------------------------------------------
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def piece(text, score, kind=1):
    return field(1, 2, field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(kind)))


pieces = [("<pad>", 0, 3), ("</s>", 0, 3), ("<s>", 0, 3), ("<unk>", 0, 2), ("\u2581", -2, 1), ("a", -3, 1),
          ("b", -3.5, 1), ("\u2581a", -1, 1), ("ab", -2.5, 1), ("<0x41>", 0, 6), ("user", 0, 4)]
trainer = field(2, 2, field(3, 0, varint(1)) + field(35, 0, varint(1)) + field(40, 0, varint(3)))
norm = field(3, 2, field(1, 2, b"identity") + field(3, 0, varint(1)) + field(4, 0, varint(1)) + field(5, 0, varint(1)))
put("spiece", "tiny", b"".join(piece(*p) for p in pieces) + trainer + norm)
put("spiece", "no_specs", b"".join(piece(*p) for p in pieces[:6]))


def tiny_charsmap():
    """A darts-clone trie mapping TAB -> " ", "A" -> "y", "AB" -> "x" (as tests/unit/test_tokenizer.c)."""
    u = [0] * 0x42
    u[0], u[0x08], u[0x09] = 1 << 10, 1 << 10 | 1 << 8 | 0x09, 1 << 31 | 0
    u[0x40], u[0x41] = 1 << 10 | 1 << 8 | 0x41, 1 << 31 | 2
    u[0x03], u[0x07] = 4 << 10 | 1 << 8 | 0x42, 1 << 31 | 4
    return struct.pack("<I", 4 * len(u)) + struct.pack("<%dI" % len(u), *u) + b" \0y\0x\0"


norm_cm = field(3, 2, field(1, 2, b"nmt_nfkc") + field(2, 2, tiny_charsmap()) + field(3, 0, varint(1)))
put("spiece", "charsmap", b"".join(piece(*p) for p in pieces) + trainer + norm_cm)

# ---- tokenizer.json ---------------------------------------------------------------
vocab = [[p, s] for p, s, _ in pieces]
tj = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<pad>", "special": True},
                                          {"id": 10, "content": "user", "special": False}],
      "normalizer": {"type": "Sequence", "normalizers": [{"type": "Replace", "pattern": {"Regex": " {2,}"},
                                                          "content": " "}]},
      "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"},
      "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": True}}
put("tokenizer_json", "tiny", json.dumps(tj, ensure_ascii=False).encode())
import base64
tj2 = dict(tj, normalizer={"type": "Sequence", "normalizers": [
    {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(tiny_charsmap()).decode()}]})
put("tokenizer_json", "charsmap", json.dumps(tj2).encode())

# ---- cli_args (argv split at NUL bytes) ----------------------------------------------
for name, argv in {
    "basic": ["--model-dir", "m", "--prompt", "a fox", "--seed", "7", "-o", "x.mp4"],
    "sizes": ["--height", "33", "--width", "50", "--num-frames", "10", "--num-inference-steps", "2", "--tiled",
              "--tile-size", "30,52", "--tile-stride", "15,26", "--dtype", "f32", "--fps", "8", "--quality", "9"],
    "tea": ["--tea-cache-l1-thresh", "0.05", "--tea-cache-model-id", "Wan2.1-T2V-1.3B", "--cfg-scale", "1",
            "--sigma-shift", "3", "--frames", "out"],
    "v2v": ["--input-video", "in.mp4", "--denoising-strength", "0.7", "--negative-prompt", "blurry"],
}.items():
    put("cli_args", name, "\0".join(argv).encode())

# ---- dit_config (--dit-config FILE.json) ---------------------------------------------
put("dit_config", "flat", json.dumps({"num_heads": 2, "vace_layers": [0, 1]}).encode())
put("dit_config", "sections", json.dumps({
    "dit": {"has_image_input": False, "patch_size": [1, 2, 2], "in_dim": 16, "out_dim": 16, "freq_dim": 256,
            "eps": 1e-06, "dim": 64, "ffn_dim": 160, "num_heads": 2, "num_layers": 2, "text_dim": 48},
    "vace": {"vace_layers": [0], "vace_in_dim": 96, "num_heads": 2}}).encode())

# ---- GGUF (v3) ----------------------------------------------------------------------
def gguf(tensors, kv, alignment=32):
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, v in kv:
        out += s(k) + (struct.pack("<I", 8) + s(v) if isinstance(v, str) else struct.pack("<II", 4, v))
    data, infos = b"", b""
    for name, gtype, ne, payload in tensors:
        data += b"\0" * (-len(data) % alignment)
        infos += s(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        infos += struct.pack("<IQ", gtype, len(data))
        data += payload
    out += infos
    out += b"\0" * (-len(out) % alignment)
    return out + data


# types: 0 F32, 1 F16, 8 Q8_0 (blocks of 32: f16 scale + 32 int8)
q8 = struct.pack("<e", 0.5) + bytes(range(32))
put("gguf", "mixed", gguf([("blocks.0.self_attn.q.weight", 0, [3, 2], f32(1, 2, 3, 4, 5, 6)),
                           ("head.bias", 1, [4], b"\x00\x3c\x00\x40\x00\x3c\x00\x40"),
                           ("blocks.0.ffn.0.weight", 8, [32, 1], q8)],
                          [("general.architecture", "wan"), ("general.alignment", 32)]))

# ---- dataset metadata (fuzz_dataset.c: the first byte picks the format and options;
# the target's folder holds clip.mp4 and still.png) ---------------------------------------
CSV, JSON, JSONL, FIXED, IMAGE_KEY, FIVE, FIRST, LAST = 0, 1, 2, 4, 8, 16, 32, 64
put("dataset", "csv", bytes([CSV | FIRST | LAST | FIVE]) +
    b'\xef\xbb\xbfvideo,prompt,extra\r\nclip.mp4,"a cat, ""quoted""\nover two lines",7\r\n\r\nstill.png,plain,\n')
put("dataset", "csv_image_fixed", bytes([CSV | FIXED | IMAGE_KEY | LAST]) +
    b"image,prompt,video\nstill.png,one,clip.mp4\nclip.mp4,two,\n")
put("dataset", "json", bytes([JSON | FIRST | FIVE]) + json.dumps(
    [{"video": "clip.mp4", "prompt": "one", "n": 3, "f": 2.5, "b": True, "z": None},
     {"image": "x", "video": "still.png", "prompt": "two"}]).encode())
put("dataset", "jsonl", bytes([JSONL | LAST | FIXED]) +
    b'{"video": "clip.mp4", "prompt": "one"}\n\n{"video": "still.png", "prompt": "two", "later": 2.5}\n')
put("dataset", "errors_csv", bytes([CSV]) + b'video,prompt\nclip.mp4,"open\n')
put("dataset", "errors_jsonl", bytes([JSONL]) + b'{"video": "clip.mp4", "prompt": "a"}\n{"video": [1]}\n')

# ---- media (the first byte picks: odd = image reader, even = video reader) -------------
if only and "media" not in only:
    sys.exit(0)
tmp = os.path.join(root, "..", "tmp-media")
os.makedirs(tmp, exist_ok=True)
jobs = {"mp4": ("testsrc=size=32x16:rate=8:duration=0.5", ["-c:v", "libx264", "-pix_fmt", "yuv420p"], 0),
        "gif": ("testsrc=size=16x16:rate=4:duration=0.5", [], 0),
        "png": ("testsrc=size=8x8", ["-frames:v", "1"], 1),
        "jpg": ("testsrc=size=16x8", ["-frames:v", "1"], 1),
        "bmp": ("testsrc=size=4x4", ["-frames:v", "1"], 1)}
for ext, (src, args, pick) in jobs.items():
    out = os.path.join(tmp, "seed." + ext)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", src] + args + [out]
    try:
        subprocess.run(cmd, check=True)
    except (OSError, subprocess.CalledProcessError):
        continue
    with open(out, "rb") as f:
        put("media", ext, bytes([pick]) + f.read())
    os.remove(out)
os.rmdir(tmp)
