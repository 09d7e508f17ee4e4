#!/usr/bin/env python3
"""Writes models/yolov12x.toml: YOLOv12x's forward pass as TT-NN's own demo calls it.

    python3 models/yolov12x.py > models/yolov12x.toml

(stdlib only; `cargo test -p memmodel` checks the committed file is this script's output when a
python3 is on PATH.)

Read from tenstorrent/tt-metal models/demos/yolov12x/tt/ at these revisions: yolov12x.py
1d921af5, c3k2.py 0762dfa1, a2c2f.py 00bbd1e0, ablock.py 2c4674af, aattn.py 1639d8cc,
common.py 016d30f0, detect.py 3db4dbcd, and models/experimental/yolo_common/yolo_utils.py
07b36c9a; channels from ultralytics' yolo12 scale "x" (width 1.50, max channels 512 -> 768).
Where the file departs from the demo it says so in the header it writes.
"""

import sys

out = []
calls = 0


def emit(text):
    out.append(text)


def q(v):
    """A TOML value: ints stay ints, expressions become strings."""
    if isinstance(v, int):
        return str(v)
    return '"%s"' % v


def call(op, inputs, outputs, memory=None, params=None, exprs=None, nhw=None, deallocate=None,
         comment=None):
    global calls
    calls += 1
    emit("")
    if comment:
        emit("# " + comment)
    emit("[[call]]")
    emit('op = "%s"' % op)
    emit("inputs = [%s]" % ", ".join('"%s"' % i for i in inputs))
    if nhw:
        emit("nhw = [%s]" % ", ".join(q(v) for v in nhw))
    if params:
        emit("params = { %s }" % ", ".join("%s = %s" % (k, toml_param(v)) for k, v in params.items()))
    if exprs:
        emit("param_exprs = { %s }" % ", ".join("%s = %s" % (k, toml_expr(v)) for k, v in exprs.items()))
    emit("outputs = [%s]" % ", ".join('"%s"' % o for o in outputs))
    if memory:
        emit('memory = "%s"' % memory)
    if deallocate:
        emit("deallocate = [%s]" % ", ".join('"%s"' % d for d in deallocate))


def toml_param(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[%s]" % ", ".join(str(x) for x in v)
    return '"%s"' % v


def toml_expr(v):
    if isinstance(v, list):
        return "[%s]" % ", ".join(q(x) for x in v)
    return q(v)


class Graph:
    """Names tensors and remembers which are sharded (a conv's output without memory_config,
    from an L1 input) and in which layout, as the demo's `is_sharded()` checks read them."""

    def __init__(self):
        self.n = 0
        self.sharded = {}
        self.row_major = {}
        self.dram = {}

    def new(self, stem, sharded=False, row_major=False, dram=False):
        self.n += 1
        name = "%s_%d" % (stem, self.n)
        self.sharded[name] = sharded
        self.row_major[name] = row_major
        self.dram[name] = dram
        return name


g = Graph()


def conv(x, cin, cout, hw, k=3, s=1, act="silu", shard="height", abh=None, reshard=True,
         groups=1, stem="conv"):
    """TtYOLOv12xConv2D: bfloat8_b activations and weights, conv+BN folded (bias), the fused
    activation, the demo's shard layout and act_block_h; no memory_config (the output stays
    sharded in L1)."""
    h, w = hw
    params = {
        "out_channels": cout,
        "kernel_size": k,
        "stride": s,
        "padding": k // 2,
        "groups": groups,
        "dtype": "bfloat8_b",
        "weights_dtype": "bfloat8_b",
        "shard_layout": shard,
        "reshard_if_not_optimal": reshard,
    }
    if act:
        params["activation"] = act
    if abh:
        params["act_block_h"] = abh
    # Sharded in L1 whatever the input's memory: with a shard layout set the runtime convolves
    # a DRAM input in L1 too (seen on 0.81.1: a 1x1 conv of a DRAM [1,1,6400,1536] input gives
    # a BLOCK_SHARDED L1 output).
    y = g.new(stem, sharded=True)
    call("conv2d", [x], [y], memory="default", params=params, nhw=[1, h, w],
         comment="%s %dx%d s%d %d -> %d%s" % (stem, k, k, s, cin, cout,
                                             " depthwise" if groups > 1 else ""))
    return y


def interleaved(x, dtype=None):
    """ttnn.sharded_to_interleaved(x, L1) where the demo calls it (only on a sharded tensor)."""
    if not g.sharded[x]:
        return x
    y = g.new("il", row_major=g.row_major[x])
    params = {"dtype": dtype} if dtype else None
    call("to_memory_config", [x], [y], memory="l1", params=params)
    return y


def to_dram(x):
    y = g.new("dram", row_major=g.row_major[x], dram=True)
    call("to_memory_config", [x], [y], memory="dram")
    return y


def to_l1(x):
    y = g.new("l1", row_major=g.row_major[x])
    call("to_memory_config", [x], [y], memory="l1")
    return y


def concat(tensors, sharded_concat, dim=-1, frees=None):
    """yolo_utils.concat: the sharded form moves each input to ROW_MAJOR bfloat16 first and
    concatenates height-sharded on 56 cores (here: L1 interleaved, the same bytes give or take
    the shard rounding); the other form makes sharded inputs interleaved and concatenates into
    L1."""
    parts = []
    for t in tensors:
        t = interleaved(t)
        if sharded_concat and not g.row_major[t]:
            r = g.new("rm", row_major=True)
            call("to_layout", [t], [r], memory="l1",
                 params={"layout": "row_major", "dtype": "bfloat16"})
            t = r
        parts.append(t)
    y = g.new("cat", row_major=sharded_concat)
    call("concat", parts, [y], memory="l1", params={"dim": dim}, deallocate=frees)
    return y


def add(a, b, stem="add"):
    y = g.new(stem, sharded=g.sharded[a])
    call("add", [a, b], [y], memory="default")
    return y


def bottleneck(x, c, hw):
    """TtnnBottleneck: two 3x3 convs and the shortcut."""
    y = conv(x, c, c, hw, stem="bottleneck_cv1")
    y = conv(y, c, c, hw, stem="bottleneck_cv2")
    return add(x, y)


def c3k(x, c1, c2, hw):
    """TtnnC3k (e=0.5, two bottlenecks)."""
    c_ = c2 // 2
    x1 = conv(x, c1, c_, hw, k=1, stem="c3k_cv1")
    x2 = conv(x, c1, c_, hw, k=1, stem="c3k_cv2")
    k1 = bottleneck(x1, c_, hw)
    k2 = bottleneck(k1, c_, hw)
    y = concat([k2, x2], sharded_concat=True)
    return conv(y, 2 * c_, c2, hw, k=1, stem="c3k_cv3")


def c3k2(x, c1, c2, e, hw, shard="height", reshard=True, abh=None):
    """TtnnC3k2 with two C3k blocks: cv1, its halves, C3k on the second half twice, the four
    concatenated, cv2."""
    c = int(c2 * e)
    y = conv(x, c1, 2 * c, hw, k=1, shard=shard, reshard=reshard, abh=abh, stem="c3k2_cv1")
    y = interleaved(y)
    y1, y2 = g.new("half"), g.new("half")
    call("split", [y], [y1, y2], memory="l1", params={"split_size": c, "dim": -1})
    y3 = c3k(y2, c, c, hw)
    y4 = c3k(y3, c, c, hw)
    cat = concat([y1, y2, y3, y4], sharded_concat=False)
    return conv(cat, 4 * c, c2, hw, k=1, shard=shard, reshard=reshard, abh=abh,
                stem="c3k2_cv2")


def aattn(x, hw, level):
    """TtnnAattn, area 4, 12 heads of 32: qkv 1x1, area split by reshapes, permute, q/k/v by
    split, SDPA, heads concatenated, the 7x7 depthwise positional conv on v, proj 1x1."""
    h, w = hw
    n, t = "N%d" % level, "T%d" % level
    qkv = conv(x, 384, 1152, hw, k=1, act=None, shard="height", stem="qkv")
    qkv = interleaved(qkv, dtype="bfloat8_b")
    rm = g.new("qkv_rm", row_major=True)
    call("to_layout", [qkv], [rm], memory="l1",
         params={"layout": "row_major", "dtype": "bfloat8_b"})
    a = g.new("areas", row_major=True)
    call("view", [rm], [a], exprs={"shape": [1, 4, 1152, t]})
    b = g.new("heads", row_major=True)
    call("view", [a], [b], exprs={"shape": [4, t, 12, 96]})
    p = g.new("perm", row_major=True)
    call("permute", [b], [p], memory="l1", params={"dims": [0, 2, 3, 1]})
    tl = g.new("qkv_t", dram=True)
    call("to_layout", [p], [tl], memory="dram", params={"layout": "tile", "dtype": "bfloat8_b"})
    qs, ks, vs = g.new("q"), g.new("k"), g.new("v")
    for tt in (qs, ks, vs):
        g.dram[tt] = True
    call("split", [tl], [qs, ks, vs], memory="dram", params={"split_size": 32, "dim": 2},
         deallocate=[tl])
    qp, kp, vp = g.new("qT", dram=True), g.new("kT", dram=True), g.new("vT", dram=True)
    for src, dst in ((qs, qp), (ks, kp), (vs, vp)):
        call("permute", [src], [dst], memory="default", params={"dims": [0, 1, 3, 2]})
    att = g.new("attn")
    call("sdpa", [qp, kp, vp], [att], memory="l1",
         exprs={"q_chunk_size": "Q%d" % level, "k_chunk_size": "K%d" % level},
         deallocate=[qp, kp])
    heads = g.new("heads_cat")
    call("concatenate_heads", [att], [heads], memory="l1", deallocate=[att])
    xa = g.new("attn_flat")
    call("view", [heads], [xa], exprs={"shape": [1, 1, n, 384]})
    vh = g.new("v_cat")
    call("concatenate_heads", [vp], [vh], memory="l1")
    vf = g.new("v_flat")
    call("view", [vh], [vf], exprs={"shape": [1, 1, n, 384]})
    pe = conv(vf, 384, 384, hw, k=7, act=None, shard="block", reshard=False, groups=384,
              stem="pe")
    pe = interleaved(pe, dtype="bfloat8_b")
    s = add(xa, pe, stem="attn_pe")
    y = conv(s, 384, 384, hw, k=1, act=None, shard="block", stem="proj")
    return interleaved(y, dtype="bfloat8_b")


def ablock(x, hw, level):
    """TtnnABlock: x + attn(x), then the MLP 384 -> 460 -> 384 (1x1 convs) and its residual."""
    x = add(x, aattn(x, hw, level), stem="ablock_attn")
    x0 = conv(x, 384, 460, hw, k=1, shard="block", stem="mlp0")
    xi = interleaved(x)
    x1 = conv(x0, 460, 384, hw, k=1, act=None, shard="block", stem="mlp1")
    x1 = interleaved(x1)
    return add(xi, x1, stem="ablock_mlp")


def a2c2f(x, c1, c2, n, a2, hw, level=None, gamma=None):
    """TtnnA2C2f (e=0.5): cv1, n steps of two ABlocks (a2) or one C3k, all concatenated, cv2,
    and with a2 the residual x + gamma * y."""
    c_ = c2 // 2
    ys = [conv(x, c1, c_, hw, k=1, shard="block", reshard=False, abh=32, stem="a2c2f_cv1")]
    for _ in range(n):
        if a2:
            out = ys[-1]
            for _ in range(2):
                out = ablock(out, hw, level)
            ys.append(out)
        else:
            ys.append(c3k(ys[-1], c_, c_, hw))
    cat = concat(ys, sharded_concat=False)
    y = conv(cat, (n + 1) * c_, c2, hw, k=1, shard="block", reshard=False, abh=32,
             stem="a2c2f_cv2")
    if not a2:
        return y
    xi, yi = interleaved(x), interleaved(y)
    scaled = g.new("gamma_y")
    call("mul", [gamma, yi], [scaled], memory="default")
    return add(xi, scaled, stem="a2c2f_residual")


def upsample(x, hw, c):
    """The demo's interleaved_to_sharded then ttnn.upsample(x2): ROW_MAJOR, [1, H, W, C],
    upsampled, flattened back (here interleaved in L1 instead of height-sharded)."""
    h, w = hw
    x = interleaved(x)
    rm = g.new("up_rm", row_major=True)
    call("to_layout", [x], [rm], memory="l1", params={"layout": "row_major"})
    img = g.new("up_img", row_major=True)
    call("view", [rm], [img], exprs={"shape": [1, h, w, c]})
    up = g.new("up", row_major=True)
    call("upsample_nearest2d", [img], [up], memory="l1", params={"scale_factor": 2})
    flat = g.new("up_flat", row_major=True)
    call("view", [up], [flat], exprs={"shape": [1, 1, "4 * %s * %s" % (h, w), c]})
    return flat


# The depthwise convs TtnnDetect block-shards (cv3_0_1_0, cv3_1_0_0, cv3_2_0_0), with
# act_block_h 32 for the first two; the rest take the wrapper's height sharding.
DETECT_DW = {
    (0, 1): {"shard": "height"},
    (0, 2): {"shard": "block", "abh": 32},
    (1, 1): {"shard": "block", "abh": 32},
    (1, 2): {"shard": "height"},
    (2, 1): {"shard": "block"},
    (2, 2): {"shard": "height"},
}


def detect_level(x, c, hw, level):
    """One level of TtnnDetect: the box branch (cv2: 3x3, 3x3, 1x1 -> 64) and the class branch
    (cv3: depthwise 3x3, 1x1 -> 384, depthwise 3x3, 1x1, 1x1 -> 80), concatenated."""
    x4 = conv(x, c, c, hw, groups=c, stem="det_cls_dw1", **DETECT_DW[(level, 1)])
    x4 = conv(x4, c, 384, hw, k=1, stem="det_cls_pw1")
    x4 = conv(x4, 384, 384, hw, groups=384, stem="det_cls_dw2", **DETECT_DW[(level, 2)])
    x4 = conv(x4, 384, 384, hw, k=1, stem="det_cls_pw2")
    x4 = conv(x4, 384, 80, hw, k=1, act=None, stem="det_cls_out")
    x1 = conv(x, c, 96, hw, stem="det_box_cv1")
    x1 = conv(x1, 96, 96, hw, stem="det_box_cv2")
    x1 = conv(x1, 96, 64, hw, k=1, act=None, stem="det_box_out")
    return concat([x1, x4], sharded_concat=False)


def main():
    emit("# YOLOv12x's forward pass as TT-NN's demo (tenstorrent/tt-metal models/demos/yolov12x)")
    emit("# calls it, one [[call]] per TT-NN call, written by models/yolov12x.py (edit that, not")
    emit("# this). Run it:")
    emit("#   cargo xtask model --model yolov12x --resolution 2176x3840 --device n150 --backend metal")
    emit("#")
    emit("# Activations are [1, 1, N*H*W, C] (NHWC flattened), bfloat8_b out of every conv. The")
    emit("# input is letterboxed to a multiple of 32 (HP x WP) as ultralytics does, so 2160x3840")
    emit("# runs as 2176x3840; the demo itself assumes 640x640 (sqrt(N) reshapes, Detect's 80/40/20")
    emit("# maps): here every shape follows the resolution.")
    emit("#")
    emit("# Where this file departs from the demo (the runtime's answer can differ there):")
    emit("# - tensors the demo height-shards by hand (the input, sharded concats, upsample inputs)")
    emit("#   are L1 interleaved here; conv outputs stay sharded as the demo leaves them;")
    emit("# - the convs' prepared weights are freed after each call (the demo keeps them on device")
    emit("#   across calls: about 60 MB of bfloat8_b DRAM in all), and the demo's")
    emit("#   enable_split_reader / double-buffer flags, which its conv wrapper does not pass on")
    emit("#   0.81.1's Conv2dConfig, are left out;")
    emit("# - slices (x[..., :c]) are ttnn.split calls (the same two new tensors);")
    emit("# - Detect's division by 2 divides by a one-element tensor (`two`), and its anchors and")
    emit("#   strides are model inputs in DRAM.")
    emit("")
    emit("[model]")
    emit('name = "yolov12x"')
    emit('about = "YOLOv12x (ultralytics yolo12 x) as TT-NN\'s demo runs it: backbone, neck with area attention, Detect"')
    emit("resolution = [640, 640]")
    emit('outputs = ["detections"]')
    emit("")
    emit("[symbols]")
    emit('HP = "cdiv(H, 32) * 32"')
    emit('WP = "cdiv(W, 32) * 32"')
    for s in (2, 4, 8, 16, 32):
        emit('H%d = "HP / %d"' % (s, s))
        emit('W%d = "WP / %d"' % (s, s))
        emit('N%d = "H%d * W%d"' % (s, s, s))
    emit("# Area attention: 4 areas of T tokens; the demo's SDPA chunk sizes step with T")
    emit("# (>= 512: 256 / 512, >= 256: 128 / 256, >= 128: 128 / 128, else 32 / 32).")
    for lv in (16, 32):
        emit('T%d = "N%d / 4"' % (lv, lv))
        emit('Q%d = "32 + 96 * min(1, T%d / 128) + 128 * min(1, T%d / 512)"' % (lv, lv, lv))
        emit('K%d = "32 + 96 * min(1, T%d / 128) + 128 * min(1, T%d / 256) + 256 * min(1, T%d / 512)"'
             % (lv, lv, lv, lv))
    emit('A = "N8 + N16 + N32"')
    emit("")
    emit("[[input]]")
    emit('name = "image"')
    emit('shape = [1, 1, "HP * WP", 16]')
    emit('layout = "row_major"')
    emit('memory = "l1"')
    g.sharded["image"], g.row_major["image"], g.dram["image"] = False, True, False
    for name, shape, memory in (
        ("gamma6", [1, 1, 1, 768], "dram"),
        ("gamma8", [1, 1, 1, 768], "dram"),
        ("anchors", [1, 2, "A"], "dram"),
        ("strides", [1, 1, "A"], "dram"),
        ("two", [1, 1, 1], "dram"),
    ):
        emit("")
        emit("[[input]]")
        emit('name = "%s"' % name)
        emit("shape = [%s]" % ", ".join(q(v) for v in shape))
        emit('memory = "%s"' % memory)
        g.sharded[name], g.row_major[name], g.dram[name] = False, False, True

    hw2, hw4, hw8, hw16, hw32 = (("H%d" % s, "W%d" % s) for s in (2, 4, 8, 16, 32))
    x = conv("image", 16, 96, ("HP", "WP"), s=2, abh=32, stem="l0")
    x = conv(x, 96, 192, hw2, s=2, abh=32, stem="l1")
    x = c3k2(x, 192, 384, 0.25, hw4)
    x = conv(x, 384, 384, hw4, s=2, abh=160, shard="block", stem="l3")
    x4 = c3k2(x, 384, 768, 0.25, hw8)
    x = conv(x4, 768, 768, hw8, s=2, shard="block", stem="l5")
    x6 = a2c2f(x, 768, 768, 4, True, hw16, level=16, gamma="gamma6")
    x = conv(x6, 768, 768, hw16, s=2, abh=32, shard="block", stem="l7")
    x8 = a2c2f(x, 768, 768, 4, True, hw32, level=32, gamma="gamma8")
    x = upsample(x8, hw32, 768)
    x = concat([x, x6], sharded_concat=True, frees=[x6])
    x = a2c2f(x, 1536, 768, 2, False, hw16)
    x11 = to_dram(interleaved(x))
    x = upsample(x, hw16, 768)
    x = concat([x, interleaved(x4)], sharded_concat=True)
    x = to_dram(x)
    x = a2c2f(x, 1536, 384, 2, False, hw8)
    x14 = to_dram(interleaved(x))
    x = conv(x, 384, 384, hw8, s=2, abh=32, shard="block", stem="l15")
    x11 = to_l1(x11)
    x = concat([x, x11], sharded_concat=False, frees=[x11])
    x = a2c2f(x, 1152, 768, 2, False, hw16)
    x17 = to_dram(interleaved(x))
    x = conv(x, 768, 768, hw16, s=2, abh=32, shard="block", stem="l18")
    x = concat([x, x8], sharded_concat=False, frees=[x8])
    x20 = c3k2(x, 1536, 768, 0.5, hw32, shard="block", reshard=False, abh=32)
    x14, x17 = to_l1(x14), to_l1(x17)

    # Detect: the three levels, the DFL over 16 bins, the box decode, the class sigmoid.
    y1 = detect_level(x14, 384, hw8, 0)
    y2 = detect_level(x17, 768, hw16, 1)
    y3 = detect_level(x20, 768, hw32, 2)
    y = g.new("det_all")
    call("concat", [y1, y2, y3], [y], memory="l1", params={"dim": 2})
    ya, yb = g.new("box"), g.new("cls")
    call("split", [y], [ya, yb], memory="l1", params={"split_sizes": [64, 80], "dim": -1})
    t = g.new("box_t")
    call("permute", [ya], [t], memory="l1", params={"dims": [0, 1, 3, 2]})
    r = g.new("box_bins")
    call("view", [t], [r], exprs={"shape": [1, 4, 16, "A"]})
    p = g.new("box_perm")
    call("permute", [r], [p], memory="l1", params={"dims": [0, 2, 1, 3]})
    sm = g.new("box_softmax")
    call("softmax", [p], [sm], memory="l1", params={"dim": 1})
    p2 = g.new("dfl_in")
    call("permute", [sm], [p2], memory="l1", params={"dims": [0, 2, 3, 1]})
    dfl = g.new("dfl", sharded=True)
    call("conv2d", [p2], [dfl], memory="default", nhw=[1, 4, "A"],
         params={"out_channels": 1, "kernel_size": 1, "stride": 1, "padding": 0, "bias": False,
                 "dtype": "bfloat8_b", "weights_dtype": "bfloat8_b"},
         comment="DFL: 1x1 conv 16 -> 1 over the 4 x A box bins")
    dfl = interleaved(dfl)
    rm = g.new("dfl_rm", row_major=True)
    call("to_layout", [dfl], [rm], memory="l1", params={"layout": "row_major"})
    pm = g.new("dfl_perm", row_major=True)
    call("permute", [rm], [pm], memory="l1", params={"dims": [0, 3, 1, 2]})
    c4 = g.new("dist", row_major=True)
    call("view", [pm], [c4], exprs={"shape": [1, 4, "A"]})
    c1, c2 = g.new("lt", row_major=True), g.new("rb", row_major=True)
    call("split", [c4], [c1, c2], memory="l1", params={"split_size": 2, "dim": 1})
    t1, t2 = g.new("lt_t"), g.new("rb_t")
    call("to_layout", [c1], [t1], memory="l1", params={"layout": "tile"})
    call("to_layout", [c2], [t2], memory="l1", params={"layout": "tile"})
    b1, b2 = g.new("x1y1"), g.new("x2y2")
    call("sub", ["anchors", t1], [b1], memory="l1")
    call("add", ["anchors", t2], [b2], memory="l1")
    wh, ctr = g.new("wh"), g.new("ctr2")
    call("sub", [b2, b1], [wh], memory="l1")
    call("add", [b1, b2], [ctr], memory="l1")
    ctr1 = g.new("ctr")
    call("div", [ctr, "two"], [ctr1], memory="l1")
    z = g.new("boxes")
    call("concat", [ctr1, wh], [z], memory="l1", params={"dim": 1})
    zs = g.new("boxes_px")
    call("mul", [z, "strides"], [zs], memory="l1")
    sq = g.new("cls_sq")
    call("view", [yb], [sq], exprs={"shape": [1, "A", 80]})
    ct = g.new("cls_t")
    call("permute", [sq], [ct], memory="l1", params={"dims": [0, 2, 1]})
    sg = g.new("cls_sigmoid")
    call("sigmoid", [ct], [sg], memory="l1")
    call("concat", [zs, sg], ["detections"], memory="l1", params={"dim": 1})

    sys.stdout.write("\n".join(out) + "\n")
    sys.stderr.write("%d calls\n" % calls)


if __name__ == "__main__":
    main()
