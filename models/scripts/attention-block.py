"""A small attention-style block written as TT-NN code, for `cargo xtask model-import`:

    cargo xtask model-import --script models/scripts/attention-block.py --out target/attention-block.toml
    cargo xtask model --model target/attention-block.toml --backend metal

`model(device)` makes its inputs on the device, calls TT-NN and returns its output; the import
records the calls on a mock device (no hardware needed). The runtime tests import it and replay
it on sim and on the runtime, call by call.
"""

import ttnn

L1 = ttnn.L1_MEMORY_CONFIG
DRAM = ttnn.DRAM_MEMORY_CONFIG
TOKENS, WIDTH = 512, 256


def model(device):
    def on_device(shape, memory):
        return ttnn.zeros(shape, dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=memory)

    x = on_device([1, 1, TOKENS, WIDTH], L1)
    w_q = on_device([WIDTH, WIDTH], DRAM)
    w_k = on_device([WIDTH, WIDTH], DRAM)
    w_out = on_device([WIDTH, WIDTH], DRAM)

    q = ttnn.linear(x, w_q, memory_config=L1)
    k = ttnn.linear(x, w_k, memory_config=L1)
    k_t = ttnn.permute(k, (0, 1, 3, 2))
    ttnn.deallocate(k)
    scores = ttnn.matmul(q, k_t, memory_config=L1)
    ttnn.deallocate(q)
    ttnn.deallocate(k_t)
    attn = ttnn.softmax(scores, dim=-1)
    ttnn.deallocate(scores)
    mixed = ttnn.matmul(attn, x, memory_config=L1)
    ttnn.deallocate(attn)
    h = ttnn.add(mixed, x, memory_config=L1)
    ttnn.deallocate(mixed)
    h = ttnn.silu(h)
    skip = ttnn.to_memory_config(h, DRAM)
    out = ttnn.linear(h, w_out, memory_config=L1)
    ttnn.deallocate(h)
    both = ttnn.concat([ttnn.to_memory_config(out, DRAM), skip], dim=-1, memory_config=DRAM)
    return ttnn.reshape(both, [1, TOKENS, 2 * WIDTH])
