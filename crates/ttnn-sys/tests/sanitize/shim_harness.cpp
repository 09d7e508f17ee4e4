// The C API of include/ttnn_shim.h exercised from C++, for `cargo xtask sanitize`: built with
// clang under AddressSanitizer + UndefinedBehaviorSanitizer together with src/shim.cpp, it runs
//
//   1. every entry point's error paths without a runtime: NULL and never-issued handles, NULL
//      out-pointers, bad codes and shapes, malformed env_json, a libpython that does not exist,
//      the self-tests that throw C++ exceptions;
//   2. with the runtime (when TTNN_SAN_LIBPYTHON is set): init, version, a mock device open,
//      describe, memory views, tensors (ok, out of memory, bad codes), shape and describe, an op
//      through ttnn_run, a NO_DISPATCH capture, a Python exception, stale handles after free and
//      close, and a clean close.
//
// Every check prints one line; the program exits 1 on the first failed check. Sanitizer reports
// abort the program (-fno-sanitize-recover=all, halt_on_error=1), so exit code 0 means zero
// reports.

#include "ttnn_shim.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int checks = 0;

void check(bool ok, const char* what, int32_t rc) {
    ++checks;
    std::printf("%s %s (rc=%d, last_error=\"%s\")\n", ok ? "ok  " : "FAIL", what, rc, ttnn_last_error());
    std::fflush(stdout);
    if (!ok) std::exit(1);
}

void expect_rc(int32_t rc, int32_t want, const char* what) {
    check(rc == want, what, rc);
}

// A status other than OK, with a non-empty message.
void expect_error(int32_t rc, const char* what) {
    check(rc != TTNN_OK && std::strlen(ttnn_last_error()) > 0, what, rc);
}

// Pointers that look like handles but were never handed out. Never dereferenced by the shim.
ttnn_device* fake_device(uintptr_t v) { return reinterpret_cast<ttnn_device*>(v); }
ttnn_tensor* fake_tensor(uintptr_t v) { return reinterpret_cast<ttnn_tensor*>(v); }

void without_runtime() {
    std::printf("-- without a runtime\n");
    check(ttnn_runtime_initialized() == 0, "not initialized", 0);
    check(std::strlen(ttnn_last_error()) == 0, "no error before any call", 0);
    ttnn_string_free(nullptr);
    ttnn_tensor_list_free(nullptr);

    char* s = nullptr;
    expect_rc(ttnn_runtime_version(&s), TTNN_ERR_UNAVAILABLE, "version needs the runtime");
    check(s == nullptr, "version leaves out untouched", 0);
    expect_rc(ttnn_runtime_version(nullptr), TTNN_ERR_UNAVAILABLE, "version(NULL)");

    ttnn_device* dev = fake_device(0x1);
    expect_rc(ttnn_device_open(0, 0, nullptr, &dev), TTNN_ERR_UNAVAILABLE, "device_open needs the runtime");
    expect_rc(ttnn_device_open(0, 0, nullptr, nullptr), TTNN_ERR_UNAVAILABLE, "device_open(out=NULL)");

    const uintptr_t fakes[] = {0x1, 0x10, 0xdeadbeef, reinterpret_cast<uintptr_t>(&checks), UINTPTR_MAX};
    for (uintptr_t f : fakes) {
        expect_error(ttnn_device_close(fake_device(f)), "device_close(never issued)");
        expect_error(ttnn_device_clear_program_cache(fake_device(f)), "clear_program_cache(never issued)");
        expect_error(ttnn_device_describe(fake_device(f), &s), "device_describe(never issued)");
        ttnn_memory_view mv{};
        expect_error(ttnn_memory_view_get(fake_device(f), TTNN_BUFFER_L1, &mv), "memory_view(never issued)");
        expect_error(ttnn_capture_begin(fake_device(f)), "capture_begin(never issued)");
        ttnn_core_usage usage{};
        expect_error(ttnn_capture_end(fake_device(f), &usage, &s), "capture_end(never issued)");
        uint64_t shape[] = {1, 1, 32, 32};
        ttnn_tensor* t = nullptr;
        expect_error(ttnn_tensor_empty(fake_device(f), shape, 4, 0, 0, 1, &t), "tensor_empty(never issued)");
        // Freeing a pointer the shim never handed out must not free it (it would crash here).
        expect_rc(ttnn_tensor_free(fake_tensor(f)), TTNN_ERR_INVALID_ARGUMENT, "tensor_free(never issued)");
        uint64_t dims[8];
        size_t rank = 0;
        expect_error(ttnn_tensor_shape(fake_tensor(f), dims, 8, &rank), "tensor_shape(never issued)");
        expect_error(ttnn_tensor_describe(fake_tensor(f), &s), "tensor_describe(never issued)");
        ttnn_tensor* inputs[] = {fake_tensor(f)};
        ttnn_tensor** outs = nullptr;
        size_t n = 0;
        expect_error(ttnn_run(fake_device(f), "{}", inputs, 1, &outs, &n), "run(never issued)");
    }
    expect_rc(ttnn_tensor_free(nullptr), TTNN_OK, "tensor_free(NULL) is a no-op");
    expect_error(ttnn_device_close(nullptr), "device_close(NULL)");

    expect_rc(ttnn_selftest(TTNN_SELFTEST_CXX_EXCEPTION), TTNN_ERR_CXX, "a C++ exception is caught");
    expect_rc(ttnn_selftest(TTNN_SELFTEST_UNKNOWN_EXCEPTION), TTNN_ERR_CXX, "a non-std exception is caught");
    expect_rc(ttnn_selftest(TTNN_SELFTEST_PYTHON_EXCEPTION), TTNN_ERR_UNAVAILABLE, "python selftest needs the runtime");
    expect_rc(ttnn_selftest(-7), TTNN_ERR_INVALID_ARGUMENT, "unknown selftest");

    // ttnn_runtime_init parses env_json before it loads libpython: a libpython that does not
    // exist gives UNAVAILABLE for good JSON and INVALID_ARGUMENT for bad JSON.
    const char* missing = "/nonexistent/libpython-for-the-sanitizer-harness.so";
    expect_rc(ttnn_runtime_init(nullptr, "", nullptr), TTNN_ERR_INVALID_ARGUMENT, "init(libpython=NULL)");
    expect_rc(ttnn_runtime_init(missing, "", nullptr), TTNN_ERR_UNAVAILABLE, "init with a missing libpython");
    expect_rc(ttnn_runtime_init(missing, nullptr, "  {\"A_B\": \"x\\u00e9\\n\"} "), TTNN_ERR_UNAVAILABLE,
              "good env_json, missing libpython");
    const char* bad_json[] = {
        "[",   "{",         "{\"a\"",       "{\"a\":",         "{\"a\":1}",         "{\"a\":\"b\"",
        "{\"a\":\"b\",}", "{\"\\u12\":\"x\"}", "{\"\\uzzzz\":\"x\"}", "{\"a\\q\":\"x\"}", "{\"a\":\"b\"} trailing",
        "{} x", "{\"\":\"x\"}", "{\"a=b\":\"x\"}", "{\"a\":\"\\u0000\"}", "\"just a string\"", "{\"a\\",
    };
    for (const char* j : bad_json) {
        int32_t rc = ttnn_runtime_init(missing, "", j);
        std::string what = std::string("bad env_json rejected: ") + j;
        check(rc == TTNN_ERR_INVALID_ARGUMENT, what.c_str(), rc);
    }
    check(ttnn_runtime_initialized() == 0, "still not initialized", 0);
}

const char* env_or_null(const char* name) {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
}

void with_runtime() {
    const char* libpython = env_or_null("TTNN_SAN_LIBPYTHON");
    if (libpython == nullptr) {
        std::printf("-- with the runtime: skipped (TTNN_SAN_LIBPYTHON not set)\n");
        return;
    }
    std::printf("-- with the runtime (%s)\n", libpython);
    const char* site = env_or_null("TTNN_SAN_SITE_PACKAGES");
    const char* env_json = env_or_null("TTNN_SAN_ENV_JSON");
    const char* device_env = env_or_null("TTNN_SAN_DEVICE_ENV_JSON");
    expect_rc(ttnn_runtime_init(libpython, site, env_json), TTNN_OK, "init");
    expect_rc(ttnn_runtime_init(libpython, site, env_json), TTNN_OK, "init again is a no-op");
    expect_rc(ttnn_runtime_init("/other/libpython.so", site, env_json), TTNN_ERR_INVALID_ARGUMENT,
              "init with another libpython");
    check(ttnn_runtime_initialized() == 1, "initialized", 0);

    char* s = nullptr;
    expect_rc(ttnn_runtime_version(&s), TTNN_OK, "version");
    std::printf("     ttnn %s\n", s);
    ttnn_string_free(s);
    expect_rc(ttnn_runtime_version(nullptr), TTNN_ERR_INVALID_ARGUMENT, "version(NULL)");
    expect_rc(ttnn_selftest(TTNN_SELFTEST_PYTHON_EXCEPTION), TTNN_ERR_PYTHON, "a Python exception is caught");

    ttnn_device* dev = nullptr;
    expect_rc(ttnn_device_open(0, 0, device_env, nullptr), TTNN_ERR_INVALID_ARGUMENT, "device_open(out=NULL)");
    expect_rc(ttnn_device_open(0, 0, device_env, &dev), TTNN_OK, "device_open");
    ttnn_device* second = nullptr;
    expect_rc(ttnn_device_open(0, 0, device_env, &second), TTNN_ERR_STATE, "a second device_open");
    check(second == nullptr, "no second handle", 0);

    s = nullptr;
    expect_rc(ttnn_device_describe(dev, &s), TTNN_OK, "device_describe");
    std::printf("     %s\n", s);
    ttnn_string_free(s);
    expect_rc(ttnn_device_describe(dev, nullptr), TTNN_ERR_INVALID_ARGUMENT, "device_describe(out=NULL)");

    ttnn_memory_view l1{};
    for (int32_t bt : {TTNN_BUFFER_DRAM, TTNN_BUFFER_L1, TTNN_BUFFER_L1_SMALL}) {
        ttnn_memory_view mv{};
        expect_rc(ttnn_memory_view_get(dev, bt, &mv), TTNN_OK, "memory_view");
        if (bt == TTNN_BUFFER_L1) l1 = mv;
    }
    check(l1.num_banks > 0 && l1.bytes_per_bank > 0, "L1 has banks", 0);
    ttnn_memory_view mv{};
    expect_rc(ttnn_memory_view_get(dev, 9, &mv), TTNN_ERR_INVALID_ARGUMENT, "memory_view(bad buffer type)");
    expect_rc(ttnn_memory_view_get(dev, TTNN_BUFFER_L1, nullptr), TTNN_ERR_INVALID_ARGUMENT, "memory_view(NULL)");

    uint64_t small[] = {1, 1, 32, 32};
    ttnn_tensor* a = nullptr;
    ttnn_tensor* b = nullptr;
    expect_rc(ttnn_tensor_empty(dev, small, 4, TTNN_DTYPE_BFLOAT16, TTNN_LAYOUT_TILE, TTNN_BUFFER_L1, &a), TTNN_OK,
              "tensor_empty");
    expect_rc(ttnn_tensor_empty(dev, small, 4, TTNN_DTYPE_BFLOAT16, TTNN_LAYOUT_TILE, TTNN_BUFFER_L1, &b), TTNN_OK,
              "tensor_empty (second)");
    uint64_t huge[] = {1, 96, 2160, 3840};
    ttnn_tensor* c = nullptr;
    expect_rc(ttnn_tensor_empty(dev, huge, 4, TTNN_DTYPE_BFLOAT16, TTNN_LAYOUT_TILE, TTNN_BUFFER_L1, &c),
              TTNN_ERR_RUNTIME, "tensor_empty out of memory");
    check(c == nullptr && std::strstr(ttnn_last_error(), "Out of Memory") != nullptr, "the OOM text", 0);
    uint64_t zero[] = {1, 0, 32};
    expect_rc(ttnn_tensor_empty(dev, zero, 3, 0, 0, 1, &c), TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(zero dim)");
    uint64_t too_big[] = {uint64_t{1} << 33};
    expect_rc(ttnn_tensor_empty(dev, too_big, 1, 0, 0, 1, &c), TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(dim > u32)");
    expect_rc(ttnn_tensor_empty(dev, small, 9, 0, 0, 1, &c), TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(rank 9)");
    expect_rc(ttnn_tensor_empty(dev, small, 4, 99, 0, 1, &c), TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(bad dtype)");
    expect_rc(ttnn_tensor_empty(dev, small, 4, 0, -1, 1, &c), TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(bad layout)");
    expect_rc(ttnn_tensor_empty(dev, small, 4, 0, 0, 9, &c), TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(bad buffer)");
    expect_rc(ttnn_tensor_empty(dev, small, 4, 0, TTNN_LAYOUT_ROW_MAJOR, TTNN_BUFFER_L1_BLOCK_SHARDED, &c),
              TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(sharded row-major)");
    ttnn_tensor* sharded = nullptr;
    expect_rc(ttnn_tensor_empty(dev, small, 4, TTNN_DTYPE_BFLOAT16, TTNN_LAYOUT_TILE, TTNN_BUFFER_L1_HEIGHT_SHARDED,
                                &sharded),
              TTNN_OK, "tensor_empty (height sharded)");
    expect_rc(ttnn_tensor_free(sharded), TTNN_OK, "tensor_free (height sharded)");
    expect_rc(ttnn_tensor_empty(dev, nullptr, 4, 0, 0, 1, &c), TTNN_ERR_INVALID_ARGUMENT, "tensor_empty(shape NULL)");

    uint64_t dims[2] = {0, 0};
    size_t rank = 0;
    expect_rc(ttnn_tensor_shape(a, dims, 2, &rank), TTNN_OK, "tensor_shape with less room than the rank");
    check(rank == 4 && dims[0] == 1 && dims[1] == 1, "rank 4, first dims", 0);
    expect_rc(ttnn_tensor_shape(a, nullptr, 0, &rank), TTNN_OK, "tensor_shape(capacity 0)");
    expect_rc(ttnn_tensor_shape(a, nullptr, 4, &rank), TTNN_ERR_INVALID_ARGUMENT, "tensor_shape(dims NULL)");
    s = nullptr;
    expect_rc(ttnn_tensor_describe(a, &s), TTNN_OK, "tensor_describe");
    std::printf("     %s\n", s);
    ttnn_string_free(s);

    const char* add = "{\"steps\":[{\"function\":\"ttnn.add\",\"args\":[{\"kind\":\"input\",\"value\":0},"
                      "{\"kind\":\"input\",\"value\":1}],\"kwargs\":{\"memory_config\":{\"kind\":\"memory_config\","
                      "\"value\":\"l1\"}}}],\"output_step\":0}";
    ttnn_tensor* inputs[] = {a, b};
    ttnn_tensor** outs = nullptr;
    size_t n = 0;
    expect_rc(ttnn_run(dev, add, inputs, 2, &outs, &n), TTNN_OK, "run ttnn.add");
    check(n == 1 && outs != nullptr && outs[0] != nullptr, "one output", 0);
    for (size_t i = 0; i < n; ++i) expect_rc(ttnn_tensor_free(outs[i]), TTNN_OK, "free an output");
    ttnn_tensor_list_free(outs);
    expect_error(ttnn_run(dev, "not json", inputs, 2, &outs, &n), "run(bad JSON)");
    expect_error(ttnn_run(dev, "{\"steps\":[{\"function\":\"ttnn.no_such_op\",\"args\":[],\"kwargs\":{}}],\"output_step\":0}",
                          inputs, 2, &outs, &n),
                 "run(unknown function)");
    expect_rc(ttnn_run(dev, nullptr, inputs, 2, &outs, &n), TTNN_ERR_INVALID_ARGUMENT, "run(invocation NULL)");
    expect_rc(ttnn_run(dev, add, nullptr, 2, &outs, &n), TTNN_ERR_INVALID_ARGUMENT, "run(inputs NULL)");

    expect_rc(ttnn_capture_begin(dev), TTNN_OK, "capture_begin");
    ttnn_tensor* captured = nullptr;
    expect_rc(ttnn_tensor_empty(dev, huge, 4, TTNN_DTYPE_BFLOAT16, TTNN_LAYOUT_TILE, TTNN_BUFFER_L1, &captured), TTNN_OK,
              "tensor_empty inside a capture does not allocate");
    expect_rc(ttnn_tensor_free(captured), TTNN_OK, "free the captured tensor");
    ttnn_core_usage usage{};
    s = nullptr;
    expect_rc(ttnn_capture_end(dev, &usage, &s), TTNN_OK, "capture_end");
    check(s != nullptr && std::strstr(s, "buffers") != nullptr, "capture detail", 0);
    ttnn_string_free(s);
    expect_error(ttnn_capture_end(dev, &usage, &s), "capture_end without a capture");
    expect_rc(ttnn_device_clear_program_cache(dev), TTNN_OK, "clear_program_cache");

    expect_rc(ttnn_tensor_free(a), TTNN_OK, "free a");
    expect_rc(ttnn_tensor_free(a), TTNN_ERR_INVALID_ARGUMENT, "a second free of a is rejected");
    expect_error(ttnn_tensor_describe(a, &s), "describe a freed tensor");
    expect_rc(ttnn_tensor_free(b), TTNN_OK, "free b");

    ttnn_memory_view after{};
    expect_rc(ttnn_memory_view_get(dev, TTNN_BUFFER_L1, &after), TTNN_OK, "memory_view after");
    check(after.allocated_per_bank == l1.allocated_per_bank, "L1 back at its baseline", 0);

    expect_rc(ttnn_device_close(dev), TTNN_OK, "device_close");
    expect_rc(ttnn_device_close(dev), TTNN_ERR_INVALID_ARGUMENT, "a second close is rejected");
    expect_rc(ttnn_memory_view_get(dev, TTNN_BUFFER_L1, &after), TTNN_ERR_INVALID_ARGUMENT, "a closed device");
}

}  // namespace

int main() {
    without_runtime();
    with_runtime();
    std::printf("%d checks passed\n", checks);
    return 0;
}
