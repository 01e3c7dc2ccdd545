#!/usr/bin/env python3
"""An independent check of gsys-vlm against numpy: it reads the same files
(config.json, model.safetensors, the prompt spec and its image files) with
its own code, builds the Qwen2-VL chat template and M-RoPE positions the way
transformers' Qwen2-VL get_rope_index does, runs the decoder in float64 and
compares the last token's logits with the ones gsys-vlm wrote
(--logits-out). Nothing is shared with the C++ reference.

usage: numpy_check.py MODEL_DIR PROMPT_SPEC LOGITS_FILE
Exit status: 0 agree, 1 differ, 77 numpy missing.
"""
import json
import os
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("numpy is not installed (python3-numpy); skipping")
    sys.exit(77)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        raw = data[b:e]
        if t["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif t["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2")
        elif t["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: {name}: dtype {t['dtype']}")
        out[name] = a.astype(np.float64).reshape(t["shape"])
    return out


def load_weights(model):
    index = os.path.join(model, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for f in files:
        w.update(read_safetensors(os.path.join(model, f)))
    return w


def build_prompt(cfg, spec, spec_dir, hidden):
    """Tokens, image embeddings per position (or None) and 3 x S positions."""
    vs, ve, pad = cfg["vision_start_token_id"], cfg["vision_end_token_id"], cfg["image_token_id"]
    im_end = cfg["eos_token_id"]
    im_start = im_end - 1
    tokens, embeds = [], []
    images = []  # (start index of the pads, t, h/2, w/2)
    def text(ids):
        for i in ids:
            tokens.append(i)
            embeds.append(None)
    if spec.get("system"):
        text([im_start] + spec["system"] + [im_end])
    text([im_start])
    for seg in spec["content"]:
        if "text" in seg:
            text(seg["text"])
            continue
        t, h, w = seg["grid"]
        n = t * (h // 2) * (w // 2)
        dt = {"F32": "<f4", "F16": "<f2", "BF16": "bf16"}[seg.get("dtype", "F32")]
        path = seg["image"] if seg["image"].startswith("/") else os.path.join(spec_dir, seg["image"])
        if dt == "bf16":
            e = (np.fromfile(path, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            e = np.fromfile(path, dtype=dt)
        e = e.astype(np.float64).reshape(n, hidden)
        text([vs])
        images.append((len(tokens), t, h // 2, w // 2))
        for k in range(n):
            tokens.append(pad)
            embeds.append(e[k])
        text([ve])
    text([im_end, im_start] + spec.get("assistant", []))
    # get_rope_index: text runs count on from the last position + 1; an
    # image's (t, row, col) grid starts at the position after its text.
    S = len(tokens)
    pos = np.zeros((3, S), dtype=np.int64)
    i, nxt = 0, 0
    for start, t, gh, gw in images + [(S, 0, 0, 0)]:
        while i < start:
            pos[:, i] = nxt
            nxt += 1
            i += 1
        if start == S:
            break
        tt, hh, ww = np.meshgrid(np.arange(t), np.arange(gh), np.arange(gw), indexing="ij")
        n = t * gh * gw
        pos[0, i:i + n] = tt.ravel() + nxt
        pos[1, i:i + n] = hh.ravel() + nxt
        pos[2, i:i + n] = ww.ravel() + nxt
        nxt = pos[:, i:i + n].max() + 1
        i += n
    return np.array(tokens), embeds, pos


def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def mrope(x, pos, section, theta):
    """x: S x heads x D. Qwen2-VL: cos/sin of dimension D (freqs twice),
    split into mrope_section * 2 chunks, chunk i from position component i % 3."""
    D = x.shape[-1]
    inv = theta ** (-np.arange(0, D, 2, dtype=np.float64) / D)
    freqs = pos[:, :, None].astype(np.float64) * inv[None, None, :]  # 3 x S x D/2
    emb = np.concatenate([freqs, freqs], -1)  # 3 x S x D
    bounds = np.cumsum(section * 2)[:-1]
    chunks = np.split(np.arange(D), bounds)
    ang = np.zeros(emb.shape[1:])
    for i, c in enumerate(chunks):
        ang[:, c] = emb[i % 3][:, c]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    rot = np.concatenate([-x[..., D // 2:], x[..., :D // 2]], -1)
    return x * cos + rot * sin


def main():
    model, spec_path, logits_path = sys.argv[1:4]
    cfg = json.load(open(os.path.join(model, "config.json")))
    H, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D, eps = H // nh, cfg["rms_norm_eps"]
    section = cfg["rope_scaling"]["mrope_section"]
    w = load_weights(model)
    spec = json.load(open(spec_path))
    tokens, embeds, pos = build_prompt(cfg, spec, os.path.dirname(spec_path) or ".", H)
    S = len(tokens)
    E = w["model.embed_tokens.weight"]
    x = np.stack([E[t] if e is None else e for t, e in zip(tokens, embeds)])
    causal = np.triu(np.full((S, S), -np.inf), 1)
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T + w[p + "self_attn.q_proj.bias"]).reshape(S, nh, D)
        k = (h @ w[p + "self_attn.k_proj.weight"].T + w[p + "self_attn.k_proj.bias"]).reshape(S, nkv, D)
        v = (h @ w[p + "self_attn.v_proj.weight"].T + w[p + "self_attn.v_proj.bias"]).reshape(S, nkv, D)
        q, k = mrope(q, pos, section, cfg["rope_theta"]), mrope(k, pos, section, cfg["rope_theta"])
        rep = nh // nkv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(D) + causal
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        a = np.einsum("hqk,khd->qhd", scores, v).reshape(S, nh * D)
        x = x + a @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        g, u = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    last = rms(x[-1], w["model.norm.weight"], eps)
    head = E if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    want = head @ last
    got = np.fromfile(logits_path, dtype="<f4").astype(np.float64)
    if got.shape != want.shape:
        print(f"{logits_path}: {got.shape[0]} logits, numpy has {want.shape[0]}")
        return 1
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    agree = int(got.argmax()) == int(want.argmax())
    print(f"numpy check: {S} tokens, relative logit error {err:.2g}, top-1 {'agrees' if agree else 'DIFFERS'}")
    return 0 if err < 2e-5 and agree else 1


if __name__ == "__main__":
    sys.exit(main())
