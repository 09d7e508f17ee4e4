"""A residual block that keeps its input in L1 across the block: it fits a p150's L1, not an
n150's. `cargo xtask model-import` it on a p150 (where it runs), then let `--fix` make it fit an
n150:

    cargo xtask model-import --script models/scripts/skip-block.py --device p150 --out target/skip-block.toml
    cargo xtask model --model target/skip-block.toml --device n150 --fix

The runtime tests import it and replay the fixed model on the n150 runtime.
"""

import ttnn

L1 = ttnn.L1_MEMORY_CONFIG


def model(device):
    x = ttnn.zeros([1, 1, 16384, 1024], dtype=ttnn.bfloat16, layout=ttnn.TILE_LAYOUT, device=device, memory_config=L1)
    y = ttnn.silu(x, memory_config=L1)
    z = ttnn.add(y, x, memory_config=L1)
    ttnn.deallocate(x)
    ttnn.deallocate(y)
    return ttnn.relu(z)
