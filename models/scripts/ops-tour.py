"""The other TT-NN calls `cargo xtask model-import` maps, one after another on a small map: the
runtime tests import it and replay it on sim and on the runtime, call by call.

    cargo xtask model-import --script models/scripts/ops-tour.py --out target/ops-tour.toml
"""

import ttnn
L1 = ttnn.L1_MEMORY_CONFIG
DRAM = ttnn.DRAM_MEMORY_CONFIG

def model(device):
    x = ttnn.zeros([1, 64, 64, 64], dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=L1)
    t = ttnn.transpose(x, 1, 2, memory_config=L1)
    a, b = ttnn.split(t, 32, 3)
    c = ttnn.gelu(a, memory_config=L1)
    d = ttnn.clamp(b, min=-1.0, max=1.0)
    e = ttnn.leaky_relu(d, negative_slope=0.1)
    u = ttnn.unsqueeze(e, 0)
    m = ttnn.mean(c, dim=-1, keepdim=True)
    r = ttnn.to_layout(c, ttnn.ROW_MAJOR_LAYOUT)
    up = ttnn.upsample(r, 2)
    cl = ttnn.clone(t, memory_config=DRAM)
    tk = ttnn.topk(t, 32, dim=-1)
    # A 3x3 conv on the L1 interleaved NHWC map, weights and bias on the host (the op prepares
    # them on the device), its output asked in L1 interleaved.
    weight = ttnn.zeros([32, 64, 3, 3], dtype=ttnn.bfloat16, layout=ttnn.ROW_MAJOR_LAYOUT)
    bias = ttnn.zeros([1, 1, 1, 32], dtype=ttnn.bfloat16, layout=ttnn.ROW_MAJOR_LAYOUT)
    conv = ttnn.conv2d(
        input_tensor=x, weight_tensor=weight, bias_tensor=bias, device=device, in_channels=64,
        out_channels=32, batch_size=1, input_height=64, input_width=64, kernel_size=(3, 3),
        stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1, memory_config=L1,
    )
    s = ttnn.silu(x, output_tensor=x)
    return up, m, u, cl, tk, conv, s
