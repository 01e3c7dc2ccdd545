#!/usr/bin/env python3
"""Writes the seed corpora, tests/fuzz/corpus/<harness>/, in the input
formats ring_fuzz.cpp, policy_fuzz.cpp, kv_fuzz.cpp and vlm_parse_fuzz.cpp read (front to back, little
endian). Seeds are starting points that reach the interesting states
quickly; the fuzzer mutates them. Rerun after changing an input format:

    tests/fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# ring_fuzz: geometry, timeout code, sq_head, then ops (op & 15, reps = 1 + (op >> 4)).
def ring_op(code, reps=1):
    return u8(code | ((reps - 1) << 4))


def ring(geo, head, body, timeout=0):
    return u8(geo) + u8(timeout) + u64(head) + body


POP0, POP1, BEGIN_NEAR, BEGIN_ANY, COMPLETE, POKE, PUBLISH, PUBLISH_LAP, CLOCK, DEPTH, TAMPER, CYCLE, READY, ENTRY = range(14)

ring_seeds = {
    # Eight published requests served by the normal cycle, then the depth.
    "cycle": ring(0, 0, ring_op(PUBLISH, 8) + u8(0) + ring_op(CYCLE, 8) + ring_op(DEPTH) + u16(64)),
    # The same across the head's 64-bit wrap, in the largest geometry.
    "wrap": ring(7, 2**64 - 4, ring_op(PUBLISH, 8) + u8(0) + ring_op(CYCLE, 8)),
    # A hole at the head with entries behind it: polls, time passes, it is skipped.
    "hole": ring(1, 5, ring_op(PUBLISH, 8) + u8(1) + ring_op(POP0, 16) * 8 + ring_op(CLOCK) + u16(0xFFFF)
                 + ring_op(POP0, 16) * 8 + ring_op(CYCLE, 8)),
    # An entry of a later lap over an unconsumed position.
    "lap": ring(2, 3, ring_op(PUBLISH_LAP, 4) + u8(0) + ring_op(POP0, 4) + ring_op(DEPTH) + u16(100)),
    # Another executor moves the head during a pop; the device rewrites an entry during one.
    "race": ring(0, 0, ring_op(PUBLISH, 4) + u8(0) + ring_op(TAMPER) + u8(1) + u32(0) + u64(7) + ring_op(POP0)
                 + ring_op(TAMPER) + u8(0) + u32(1 + 32 * 8 + 1) + u64(0) + ring_op(POP1, 4)),
    # Slot indices out of range, slots READY but never queued, begin and complete by hand.
    "indices": ring(0, 0, ring_op(BEGIN_ANY) + u32(0xFFFFFFFF) + ring_op(BEGIN_NEAR) + u8(33) + ring_op(READY) + u8(3)
                    + ring_op(BEGIN_NEAR) + u8(3) + ring_op(COMPLETE) + u8(3) + u64(2**63)
                    + ring_op(ENTRY) + u32(1000) + ring_op(CYCLE)),
    # Raw device writes: a slot's state and the head.
    "poke": ring(4, 0, ring_op(POKE) + u32(1) + u64(2) + ring_op(POKE) + u32(0) + u64(2**40) + ring_op(POP0, 4)),
}

# policy_fuzz: config, arena bytes, regions, protected fds, files, then requests.
OPS = ["read", "write", "pread64", "pwrite64", "lseek", "openat", "close", "mmap", "munmap", "madvise",
       "recvfrom", "sendto", "getrusage", "fstat", "fsync", "getpid", "getppid", "nop"]


def val(sel, delta=0, extra=b""):
    return u8(sel) + u8(delta) + extra


REGION = lambda k=0, d=0: val(0 | (k << 4), d)        # a region's start (+ delta)
REGION_END = lambda k=0, d=0: val(1 | (k << 4), d)    # a region's end (+ delta)
SMALL = lambda n: val(6 | (n << 4))                   # a small int: fd, flags, index
LEN = lambda n: val(8, n)                             # a small length
TO_END = lambda k=0, d=0: val(7 | (k << 4), d)        # from the previous argument to a region's end
MAP = lambda k=0: val(3 | (k << 4))                   # a mapping's start
MAP_LEN = lambda: val(10)                             # the rest of that mapping
SPECIAL = lambda i: val(5, i)                         # 0, 1, user top - 1, ...


def request(op, flags_sel, *args):
    args = list(args) + [SMALL(0)] * (6 - len(args))
    return u8(0) + u8(OPS.index(op)) + u8(flags_sel) + b"".join(args)


def policy(cfg, body, regions=((0, 4096), (8192, 512)), fill=(), protect=(), files=(), allow=None):
    out = u8(cfg)
    if cfg & 0x10:
        out += u16(allow)
    out += u8(len(fill)) + b"".join(u16(at) + u8(v) for at, v in fill)
    out += u8(len(regions)) + b"".join(u16(off) + u16(n - 1) for off, n in regions)
    out += u8(len(protect)) + b"".join(u8(fd - 3) for fd in protect)
    out += u8(len(files)) + b"".join(u8(fd + 1) for fd in files)
    return out + body


every_op = b"".join([
    request("read", 0, SMALL(3), REGION(), LEN(64)),
    request("write", 1, SMALL(4), REGION(1), TO_END(1)),
    request("pread64", 2, SMALL(0), REGION(), LEN(16), SMALL(0)),
    request("pwrite64", 0, SMALL(5), REGION_END(0, -8), LEN(8), SMALL(1)),
    request("lseek", 0, SMALL(3), SMALL(0), SMALL(1)),
    request("openat", 0, SPECIAL(7), REGION(0, 10), SMALL(0), SMALL(0)),
    request("close", 0, SMALL(6)),
    request("mmap", 0, SPECIAL(0), val(9, 0, u16(8192)), SMALL(3), SMALL(2), SPECIAL(8), SMALL(0)) + u8(4),
    request("madvise", 0, MAP(), MAP_LEN(), SMALL(4)),
    request("munmap", 0, MAP(), LEN(1)),
    request("recvfrom", 0, SMALL(3), REGION(), LEN(100), SMALL(0), REGION(1), REGION(1, 120)),
    request("sendto", 0, SMALL(3), REGION(), LEN(100), SMALL(0), REGION(1), LEN(16)),
    request("getrusage", 0, SMALL(0), REGION()),
    request("fstat", 2, SMALL(1), REGION()),
    request("fsync", 0, SMALL(9)),
    request("getpid", 0),
    request("nop", 0),
])
# NULs that end paths, and socklen words, inside the regions.
fill = ((10 + 40, 0), (8192 + 120, 16), (8192 + 124, 0))

policy_seeds = {
    "every-op-confined": policy(0x01, every_op, fill=fill, protect=(5,), files=(3, -1, 7)),
    "every-op-open": policy(0x00, every_op, fill=fill, protect=(5,), files=(3,)),
    "every-op-kernel-maps": policy(0x03, every_op, fill=fill),
    "small-io-cap": policy(0x05, every_op, fill=fill),
    "no-io-cap": policy(0x0D, every_op + request("munmap", 0, MAP(), SPECIAL(5)), fill=fill),
    "allow-list": policy(0x71, every_op, fill=fill, allow=0x2103),
    # Region edges and the path's NUL at and past a region's end.
    "edges": policy(0x01, request("read", 0, SMALL(3), REGION_END(0, -1), LEN(1))
                    + request("read", 0, SMALL(3), REGION_END(0, -1), LEN(2))
                    + request("openat", 0, SPECIAL(7), REGION_END(1, -4), SMALL(0))
                    + request("fstat", 0, SMALL(3), REGION_END(0, -100))
                    + request("recvfrom", 0, SMALL(3), REGION(), LEN(1), SMALL(0), REGION_END(1, -16), REGION(1, 120)),
                    fill=((4095, 0), (8192 + 120, 128))),
}


def write(harness, seeds):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


# kv_fuzz: a max_value selector (0, 1, 64, 1000, 1 MiB, 2^31-3, 2^31-2,
# 2^32-1 by the low 3 bits), then one datagram's payload.
def kv(sel, text):
    return u8(sel) + text


kv_seeds = {
    "storage": kv(3, b"set k 0 0 5\r\nhello\r\nadd a 1 -1 2 noreply\r\nab\r\ncas k 5 0 1 77\r\nv\r\n"
                  b"append k 0 0 1\r\nx\r\nprepend k 0 0 1\r\ny\r\nreplace k 4294967296 0 1\r\nz\r\n"),
    "too-large": kv(2, b"set k 0 0 100\r\n" + b"x" * 100 + b"\r\nget k\r\n"),
    "get": kv(3, b"get a bb  c\r\ngets k\r\nget " + b"k" * 251 + b"\r\n"),
    "other": kv(3, b"incr n 5\r\ndecr n 18446744073709551615\r\ntouch k -1\r\ndelete k 0 noreply\r\n"
                b"flush_all 10\r\nverbosity 1 noreply\r\nstats\r\nstats reset\r\nversion\r\nmn\r\nshutdown\r\n"),
    "errors": kv(3, b"set k 0 0 abc noreply\r\ndelete k 1\r\nincr k -1\r\nbogus\r\n\r\nset k\x000 0 1\r\n"
                 b"get " + b"a " * 30 + b"\r\nGET / HTTP/1.1\r\nget k"),
    "quit": kv(3, b"get k\r\nquit\r\nget j\r\n"),
}


# vlm_parse_fuzz: the reader (0 json, 1 safetensors, 2 index, 3 config,
# 4 prompt, 5 heads.json, 6 serve request, 7 serve reply), then the file. safetensors: flags (bit 0: the
# length field is set to the JSON's length, bit 1: the u32 is the file's
# size rather than the data bytes after the header; the rest: the file
# index), u32, then the file's first bytes.
def safetensors(tensors, data_bytes, flags=0):
    j, off = [], 0
    for name, dt, shape in tensors:
        n = {"F32": 4, "F16": 2, "BF16": 2}[dt]
        for d in shape:
            n *= d
        j.append('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}' % (name, dt, ",".join(map(str, shape)), off, off + n))
        off += n
    text = ('{"__metadata__":{"format":"pt"},' + ",".join(j) + "}").encode()
    return u8(1) + u8(flags) + u32(data_bytes if data_bytes is not None else off) + u64(len(text)) + text


vlm_seeds = {
    "json": u8(0) + b'{"a": [1, -2.5e+3, true, false, null], "b": {"c": "\\u00e9\\ud83d\\ude00\\n"}, "d": []}',
    "safetensors": safetensors([("embed", "BF16", [8, 4]), ("norm", "F32", [4]), ("w", "F16", [2, 3, 2]), ("s", "F32", [])], None),
    "safetensors-short": safetensors([("a", "F32", [2, 2]), ("b", "F16", [0, 5])], 8, flags=1),
    "index": u8(2) + b'{"metadata": {"total_size": 8}, "weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors",'
                     b' "c": "model-1.safetensors"}}',
    "config": u8(3) + b'{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,'
                      b' "intermediate_size": 96, "vocab_size": 320, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,'
                      b' "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}, "tie_word_embeddings": true,'
                      b' "torch_dtype": "bfloat16", "vision_start_token_id": 314, "vision_end_token_id": 315,'
                      b' "image_token_id": 317, "eos_token_id": 313}',
    "prompt": u8(4) + b'{"system": [1, 2], "content": [{"text": [3, 4]}, {"image": "img0.bin", "grid": [1, 4, 6]},'
                      b' {"image": "/abs/img1.bin", "grid": [2, 2, 2], "dtype": "BF16"}, {"text": [5]}], "assistant": [6]}',
    "heads": u8(5) + b'{"method": "blindsight", "layers": 2, "heads": 2, "prompts": 1, "params": {"sink_fraction": 0.25,'
                     b' "gamma_d": 0.5, "gamma_s": 0.5, "gamma_i": 0.5, "alpha_first": 0.1, "alpha_last": 0.1},'
                     b' "categories": [["dense", "sink"], ["intra", "intra+sink"]]}',
    "request": u8(6) + b'{"id": 7, "top_k": 3, "prompt": {"system": [1], "content": [{"text": [3, 4]},'
                       b' {"image": "a/img0.bin", "grid": [1, 4, 6]}, {"image": "/data/x.bin", "grid": [1, 2, 2]}]}}',
    "reply": u8(7) + b'{"id":7,"ok":true,"tokens":69,"images":2,"top":[[312,36.5594],[74,-1.5]],"load_ms":7.006,'
                     b'"prefill_ms":35.970}',
}


write("ring_fuzz", ring_seeds)
write("policy_fuzz", policy_seeds)
write("kv_fuzz", kv_seeds)
write("vlm_parse_fuzz", vlm_seeds)
