/*
 * ttnn_shim.h — a small C API over the TT-NN runtime (the `ttnn` Python wheel).
 *
 * The implementation (src/shim.cpp) embeds CPython, loaded with dlopen at run time, and drives
 * the official `ttnn` package through a small Python driver module. No entry point lets an
 * exception or a Python error escape: each returns a status code (TTNN_OK or one of the
 * TTNN_ERR_* codes below) and keeps a message, readable with ttnn_last_error() on the same
 * thread until the next call into the shim on that thread.
 *
 * Handles: the shim keeps a registry of the device and tensor handles it handed out. A NULL,
 * closed, freed or never-issued handle is rejected with TTNN_ERR_INVALID_ARGUMENT and never
 * dereferenced (a freed address reused by a newer handle of the same kind cannot be told apart).
 *
 * Threads: every entry point takes the Python GIL itself; any thread may call any function.
 * Strings returned through `char**` are allocated by the shim: free them with ttnn_string_free.
 */
#ifndef TTNN_SHIM_H
#define TTNN_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define TTNN_OK 0
/* The runtime raised an error while doing what was asked (tt-metal's TT_FATAL / TT_THROW,
 * raised to Python as RuntimeError): out of memory, circular-buffer clash, a failed check. */
#define TTNN_ERR_RUNTIME 1
/* The request was malformed: bad handle, unknown code, argument the runtime rejected by type. */
#define TTNN_ERR_INVALID_ARGUMENT 2
/* The runtime is not initialized or cannot be loaded (libpython, the ttnn package). */
#define TTNN_ERR_UNAVAILABLE 3
/* A Python exception other than the runtime's own errors. */
#define TTNN_ERR_PYTHON 4
/* A C++ exception inside the shim. */
#define TTNN_ERR_CXX 5
/* The runtime has no such function or feature (e.g. an attribute missing from `ttnn`). */
#define TTNN_ERR_UNSUPPORTED 6
/* The call is not allowed in the current state (a device already open, capture not begun). */
#define TTNN_ERR_STATE 7

/* Data types (ttnn.DataType). */
#define TTNN_DTYPE_BFLOAT16 0
#define TTNN_DTYPE_FLOAT32 1
#define TTNN_DTYPE_BFLOAT8_B 2
#define TTNN_DTYPE_BFLOAT4_B 3
#define TTNN_DTYPE_UINT8 4
#define TTNN_DTYPE_UINT16 5
#define TTNN_DTYPE_UINT32 6
#define TTNN_DTYPE_INT32 7

/* Page layouts (ttnn.Layout). */
#define TTNN_LAYOUT_TILE 0
#define TTNN_LAYOUT_ROW_MAJOR 1

/* Buffer types (ttnn.BufferType). */
#define TTNN_BUFFER_DRAM 0
#define TTNN_BUFFER_L1 1
#define TTNN_BUFFER_L1_SMALL 2
/* Sharded L1 memory configs, for ttnn_tensor_empty only: the tensor cut into one shard per
 * worker core with the shard spec memmodel::shard computes for the device's whole grid
 * (ShardOrientation::ROW_MAJOR). */
#define TTNN_BUFFER_L1_HEIGHT_SHARDED 3
#define TTNN_BUFFER_L1_WIDTH_SHARDED 4
#define TTNN_BUFFER_L1_BLOCK_SHARDED 5

/* Self-test failures (ttnn_selftest). */
#define TTNN_SELFTEST_PYTHON_EXCEPTION 1
#define TTNN_SELFTEST_CXX_EXCEPTION 2
#define TTNN_SELFTEST_UNKNOWN_EXCEPTION 3

/* An open device. */
typedef struct ttnn_device ttnn_device;
/* A tensor on a device (possibly sharing its buffer with another handle: views, in-place ops). */
typedef struct ttnn_tensor ttnn_tensor;

/* Allocator state of one buffer type, per bank (ttnn.get_memory_view). */
typedef struct ttnn_memory_view {
    uint64_t num_banks;
    uint64_t bytes_per_bank;
    uint64_t allocated_per_bank;
    uint64_t free_per_bank;
    uint64_t largest_free_block_per_bank;
} ttnn_memory_view;

/* Per-core peaks of a NO_DISPATCH graph capture (extract_resource_usage_per_core), bytes. */
typedef struct ttnn_core_usage {
    uint64_t peak_cb;
    uint64_t peak_dataflow_buffer;
    uint64_t peak_l1;
    uint64_t peak_total;
} ttnn_core_usage;

/* The message of the last failed call on this thread ("" if none). Valid until the next call
 * into the shim on this thread. */
const char* ttnn_last_error(void);

/* Frees a string the shim returned. NULL is allowed. */
void ttnn_string_free(char* s);

/* Loads libpython (RTLD_GLOBAL), sets the environment variables of `env_json` (a JSON object of
 * string values; NULL or "" for none) before Python starts, initializes Python, adds
 * `site_packages` as a site dir, imports ttnn and the driver, and releases the GIL.
 * Once per process: a second call with the same libpython path returns TTNN_OK. */
int32_t ttnn_runtime_init(const char* libpython_path, const char* site_packages, const char* env_json);

/* 1 when ttnn_runtime_init has succeeded in this process, else 0. */
int32_t ttnn_runtime_initialized(void);

/* The runtime's version (the ttnn package version), to free with ttnn_string_free. */
int32_t ttnn_runtime_version(char** out);

/* Opens device `device_id` with `l1_small_size` bytes of L1_SMALL. `env_json` (NULL for none)
 * holds environment variables set just before opening (e.g. TT_METAL_MOCK_CLUSTER_DESC_PATH).
 * One device may be open at a time. */
int32_t ttnn_device_open(int32_t device_id, uint64_t l1_small_size, const char* env_json, ttnn_device** out);

/* Closes the device. On success the handle is freed; on failure it stays valid. */
int32_t ttnn_device_close(ttnn_device* device);

/* A JSON object describing the device (arch, worker grid, l1_small_size), to free. */
int32_t ttnn_device_describe(ttnn_device* device, char** out_json);

/* Empties the device's program cache. Cached programs can hold device memory (max_pool2d keeps
 * config tensors in L1_SMALL), which this releases. */
int32_t ttnn_device_clear_program_cache(ttnn_device* device);

/* Allocator state of one buffer type (TTNN_BUFFER_*). */
int32_t ttnn_memory_view_get(ttnn_device* device, int32_t buffer_type, ttnn_memory_view* out);

/* ttnn.empty(shape, dtype, layout, device, memory config of buffer_type: interleaved for
 * TTNN_BUFFER_DRAM / L1 / L1_SMALL, sharded in L1 for TTNN_BUFFER_L1_*_SHARDED). At most 8
 * dims, each 1 to 4294967295 (tt-metal's uint32 dims); codes outside the TTNN_* lists are
 * TTNN_ERR_INVALID_ARGUMENT. */
int32_t ttnn_tensor_empty(ttnn_device* device, const uint64_t* shape, size_t rank, int32_t dtype,
                          int32_t layout, int32_t buffer_type, ttnn_tensor** out);

/* Frees the handle; the device buffer is deallocated unless another live handle shares it. */
int32_t ttnn_tensor_free(ttnn_tensor* tensor);

/* Writes up to `capacity` dims of the tensor's logical shape into `dims` and its rank into
 * `rank` (the rank may exceed `capacity`: call again with more room). */
int32_t ttnn_tensor_shape(ttnn_tensor* tensor, uint64_t* dims, size_t capacity, size_t* rank);

/* A JSON object: shape, dtype, layout, buffer_type, address, is_allocated. To free. */
int32_t ttnn_tensor_describe(ttnn_tensor* tensor, char** out_json);

/* Runs an invocation (memmodel's Invocation as JSON: {"steps":[{"function","args","kwargs"}],
 * "output_step"}) with `inputs` as its inputs. On success `*outputs` is a shim-allocated array of
 * `*n_outputs` new tensor handles (free each with ttnn_tensor_free and the array with
 * ttnn_tensor_list_free). An output may share its buffer with an input (views, in-place ops). */
int32_t ttnn_run(ttnn_device* device, const char* invocation_json, ttnn_tensor* const* inputs,
                 size_t n_inputs, ttnn_tensor*** outputs, size_t* n_outputs);

/* Frees an array returned by ttnn_run (not the handles in it). NULL is allowed. */
void ttnn_tensor_list_free(ttnn_tensor** list);

/* Begins a NO_DISPATCH graph capture: ops build their programs and report their allocations
 * without allocating or running anything (so without out-of-memory checks). */
int32_t ttnn_capture_begin(ttnn_device* device);

/* Ends the capture begun with ttnn_capture_begin: per-core peaks into `usage` and a JSON object
 * {"buffers":[{"size","max_size_per_bank","page_size","buffer_type"}],
 *  "circular_buffers":[{"size","core_range_set"}]} into `out_json` (to free). */
int32_t ttnn_capture_end(ttnn_device* device, ttnn_core_usage* usage, char** out_json);

/* Test hook: fails on purpose in the way `which` (TTNN_SELFTEST_*) names, inside the shim. */
int32_t ttnn_selftest(int32_t which);

#ifdef __cplusplus
}
#endif

#endif /* TTNN_SHIM_H */
