// libFuzzer target for the C++ shim itself, built by `cargo xtask sanitize` with clang's
// -fsanitize=fuzzer,address,undefined (so the shim's own code is coverage-guided and checked,
// unlike the Rust `c_api` target, which sees the shim as an uninstrumented library).
//
// No runtime is loaded: every entry point must refuse its arguments with an error status and a
// message, never touch a handle it did not issue, and ttnn_runtime_init must parse any env_json
// (before it tries the missing libpython) without reading out of bounds.

#include "ttnn_shim.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Input {
    const uint8_t* data;
    size_t size;
    size_t pos = 0;
    uint64_t u64() {
        uint64_t v = 0;
        for (int i = 0; i < 8 && pos < size; ++i) v = (v << 8) | data[pos++];
        return v;
    }
    uint8_t byte() { return pos < size ? data[pos++] : 0; }
    std::string rest() {
        std::string s(reinterpret_cast<const char*>(data + pos), size - pos);
        pos = size;
        return s;
    }
};

void require(bool ok) {
    if (!ok) std::abort();
}

void expect_error(int32_t rc) {
    require(rc != TTNN_OK);
    require(std::strlen(ttnn_last_error()) > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Input in{data, size};
    uint64_t stack[8] = {0};
    for (int step = 0; step < 4 && in.pos < in.size; ++step) {
        uint8_t op = in.byte();
        uintptr_t h = 0;
        switch (in.byte() % 4) {
            case 0: h = 0; break;
            case 1: h = static_cast<uintptr_t>(in.byte()) + 1; break;
            case 2: h = static_cast<uintptr_t>(in.u64()) | 1; break;
            default: h = reinterpret_cast<uintptr_t>(stack); break;
        }
        auto* dev = reinterpret_cast<ttnn_device*>(h);
        auto* t = reinterpret_cast<ttnn_tensor*>(h);
        int32_t code = static_cast<int32_t>(in.u64());
        char* s = nullptr;
        switch (op % 12) {
            case 0: expect_error(ttnn_device_close(dev)); break;
            case 1: expect_error(ttnn_device_describe(dev, &s)); break;
            case 2: expect_error(ttnn_device_clear_program_cache(dev)); break;
            case 3: {
                ttnn_memory_view v{};
                expect_error(ttnn_memory_view_get(dev, code, &v));
                break;
            }
            case 4: {
                uint64_t dims[8];
                for (auto& d : dims) d = in.u64();
                size_t rank = in.byte() % 9;
                ttnn_tensor* out = nullptr;
                expect_error(ttnn_tensor_empty(dev, dims, rank, code, code >> 8, code >> 16, &out));
                require(out == nullptr);
                break;
            }
            case 5: {
                int32_t rc = ttnn_tensor_free(t);
                require(h == 0 ? rc == TTNN_OK : rc == TTNN_ERR_INVALID_ARGUMENT);
                break;
            }
            case 6: {
                uint64_t dims[8];
                size_t rank = 0;
                expect_error(ttnn_tensor_shape(t, dims, in.byte() % 9, &rank));
                break;
            }
            case 7: expect_error(ttnn_tensor_describe(t, &s)); break;
            case 8: {
                ttnn_tensor* inputs[2] = {t, t};
                ttnn_tensor** outs = nullptr;
                size_t n = 0;
                expect_error(ttnn_run(dev, "{}", inputs, in.byte() % 3, &outs, &n));
                require(outs == nullptr && n == 0);
                break;
            }
            case 9: expect_error(ttnn_capture_begin(dev)); break;
            case 10: {
                ttnn_core_usage u{};
                expect_error(ttnn_capture_end(dev, &u, &s));
                break;
            }
            default: expect_error(ttnn_selftest(code)); break;
        }
        require(s == nullptr);
        for (uint64_t v : stack) require(v == 0);
    }
    // env_json: parsed before libpython is loaded (which fails: the path does not exist).
    std::string env = in.rest();
    int32_t rc = ttnn_runtime_init("/nonexistent/ttnn-oom-shim-fuzz/libpython.so", "", env.c_str());
    require(rc == TTNN_ERR_INVALID_ARGUMENT || rc == TTNN_ERR_UNAVAILABLE);
    require(ttnn_runtime_initialized() == 0);
    return 0;
}
