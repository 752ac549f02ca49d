// tuna's bridge to PyTorch's c10d (the engine of torch.distributed): the TCPStore, a process
// group with Gloo for CPU tensors (and NCCL for CUDA tensors where built with TUNA_NCCL), its
// collectives, and DDP's own c10d::Reducer (bucketed gradient all-reduce overlapped with the
// backward pass). Everything here is exported by the torch wheel's libtorch_cpu.so (and
// libtorch_cuda.so); this file only builds the objects as torch/distributed/distributed_c10d.py
// and nn/parallel/distributed.py do, and turns C++ exceptions into messages for Rust.
//
// Every function returns 0 on success, or 1 with a message in `err` (never throws across the
// C boundary). Tensors cross as `at::Tensor*` (tch's `Tensor::as_ptr()`).

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#ifdef TUNA_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/util/Logging.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
};

int fail(char* err, size_t len, const char* what) {
  if (err != nullptr && len > 0) {
    std::snprintf(err, len, "%s", what);
  }
  return 1;
}

// c10::Error's what() carries a C++ backtrace: users get the message alone.
#define TUNA_TRY(...)                                    \
  try {                                                  \
    __VA_ARGS__;                                                \
    return 0;                                            \
  } catch (const c10::Error& e) {                        \
    return fail(err, err_len, e.what_without_backtrace()); \
  } catch (const std::exception& e) {                    \
    return fail(err, err_len, e.what());                 \
  } catch (...) {                                        \
    return fail(err, err_len, "unknown C++ exception");  \
  }

std::vector<at::Tensor> tensors(at::Tensor** ts, size_t n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (size_t i = 0; i < n; i++) {
    v.push_back(*ts[i]);
  }
  return v;
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case 1: return c10d::ReduceOp::AVG;
    case 2: return c10d::ReduceOp::MAX;
    case 3: return c10d::ReduceOp::MIN;
    case 4: return c10d::ReduceOp::PRODUCT;
    default: return c10d::ReduceOp::SUM;
  }
}

}  // namespace

extern "C" {

// The store: a TCPStore at host:port (the server on `is_server`), waiting for `world` peers.
int tuna_store_new(const char* host, int port, int is_server, int world, int64_t timeout_ms, void** out,
                   char* err, size_t err_len) {
  TUNA_TRY({
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = is_server != 0;
    o.numWorkers = static_cast<std::size_t>(world);
    o.waitWorkers = true;
    o.timeout = std::chrono::milliseconds(timeout_ms);
    o.multiTenant = false;
    o.useLibUV = true;
    auto* s = new c10::intrusive_ptr<c10d::Store>(c10::make_intrusive<c10d::TCPStore>(host, o));
    *out = s;
  })
}

void tuna_store_free(void* store) { delete static_cast<c10::intrusive_ptr<c10d::Store>*>(store); }

int tuna_store_set(void* store, const char* key, const uint8_t* value, size_t len, char* err, size_t err_len) {
  TUNA_TRY({
    auto& s = *static_cast<c10::intrusive_ptr<c10d::Store>*>(store);
    s->set(key, std::vector<uint8_t>(value, value + len));
  })
}

// Waits up to `timeout_ms` for `key`; the value is written to `value` (at most `cap` bytes),
// its full length to `len`.
int tuna_store_get(void* store, const char* key, int64_t timeout_ms, uint8_t* value, size_t cap, size_t* len,
                   char* err, size_t err_len) {
  TUNA_TRY({
    auto& s = *static_cast<c10::intrusive_ptr<c10d::Store>*>(store);
    s->wait({key}, std::chrono::milliseconds(timeout_ms));
    auto v = s->get(key);
    *len = v.size();
    std::memcpy(value, v.data(), std::min(cap, v.size()));
  })
}

int tuna_store_check(void* store, const char* key, int* present, char* err, size_t err_len) {
  TUNA_TRY({
    auto& s = *static_cast<c10::intrusive_ptr<c10d::Store>*>(store);
    *present = s->check({key}) ? 1 : 0;
  })
}

int tuna_store_add(void* store, const char* key, int64_t delta, int64_t* value, char* err, size_t err_len) {
  TUNA_TRY({
    auto& s = *static_cast<c10::intrusive_ptr<c10d::Store>*>(store);
    *value = s->add(key, delta);
  })
}

// The default process group as torch.distributed.init_process_group builds it: the store under
// "default_pg/0/", Gloo under "cpu/" (and NCCL on cuda:`cuda_device` under "cuda/" when
// `cuda_device` >= 0 and this library was built with NCCL).
int tuna_group_new(void* store, int rank, int world, int64_t timeout_ms, const char* hostname, int cuda_device,
                   void** out, char* err, size_t err_len) {
  TUNA_TRY({
    auto& base = *static_cast<c10::intrusive_ptr<c10d::Store>*>(store);
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(
        "0/", c10::make_intrusive<c10d::PrefixStore>("default_pg", base));
    auto pg = c10::make_intrusive<c10d::ProcessGroup>(prefixed, rank, world);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("cpu/", prefixed), rank, world, options);
    gloo->setSequenceNumberForGroup();
    pg->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    pg->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
    if (cuda_device >= 0) {
#ifdef TUNA_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("cuda/", prefixed), rank, world, nccl_options);
      nccl->setSequenceNumberForGroup();
      pg->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
#else
      throw std::runtime_error(
          "this build of tuna has no NCCL: CUDA tensors cannot be reduced across processes "
          "(rebuild where the CUDA headers exist, see prelude/build.rs)");
#endif
    }
    *out = new Group{base, pg};
  })
}

// After a failure: c10d's store client logs each failed retry as a warning with a C++ backtrace;
// the error tuna reports says it once.
void tuna_quiet_logs() { FLAGS_caffe2_log_level = 2; }

void tuna_group_free(void* group) { delete static_cast<Group*>(group); }

int tuna_nccl_available() {
#ifdef TUNA_NCCL
  return 1;
#else
  return 0;
#endif
}

int tuna_allreduce(void* group, at::Tensor* t, int op, char* err, size_t err_len) {
  TUNA_TRY({
    auto& pg = static_cast<Group*>(group)->pg;
    std::vector<at::Tensor> v{*t};
    c10d::AllreduceOptions o;
    o.reduceOp = reduce_op(op);
    pg->allreduce(v, o)->wait();
  })
}

int tuna_broadcast(void* group, at::Tensor* t, int root, char* err, size_t err_len) {
  TUNA_TRY({
    auto& pg = static_cast<Group*>(group)->pg;
    std::vector<at::Tensor> v{*t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    pg->broadcast(v, o)->wait();
  })
}

int tuna_barrier(void* group, char* err, size_t err_len) {
  TUNA_TRY({
    auto& pg = static_cast<Group*>(group)->pg;
    pg->barrier()->wait();
  })
}

// `outs` has one tensor per rank, each shaped as `t`.
int tuna_allgather(void* group, at::Tensor* t, at::Tensor** outs, size_t n, char* err, size_t err_len) {
  TUNA_TRY({
    auto& pg = static_cast<Group*>(group)->pg;
    std::vector<std::vector<at::Tensor>> o{tensors(outs, n)};
    std::vector<at::Tensor> in{*t};
    pg->allgather(o, in)->wait();
  })
}

// DDP's reducer over `params` (the trainable variables, in creation order), with DDP's bucket
// assignment: `first_bucket_bytes` for the first bucket, `bucket_bytes` for the rest, buckets in
// reverse order (the backward pass produces the last parameters' gradients first).
int tuna_reducer_new(void* group, at::Tensor** params, size_t n, int64_t bucket_bytes, int64_t first_bucket_bytes,
                     int find_unused, void** out, char* err, size_t err_len) {
  TUNA_TRY({
    auto& pg = static_cast<Group*>(group)->pg;
    auto ps = tensors(params, n);
    std::vector<size_t> limits{static_cast<size_t>(first_bucket_bytes), static_cast<size_t>(bucket_bytes)};
    auto assignment = c10d::compute_bucket_assignment_by_size(ps, limits, std::vector<bool>(n, false));
    auto buckets = std::get<0>(assignment);
    auto sizes = std::get<1>(assignment);
    std::reverse(buckets.begin(), buckets.end());
    std::reverse(sizes.begin(), sizes.end());
    std::vector<int64_t> caps(sizes.begin(), sizes.end());
    std::unordered_map<size_t, std::string> names;
    auto* r = new c10d::Reducer(ps, buckets, pg, std::vector<bool>(n, false), bucket_bytes, find_unused != 0,
                                /*gradient_as_bucket_view=*/false, names, first_bucket_bytes,
                                /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false, caps);
    *out = r;
  })
}

void tuna_reducer_free(void* reducer) {
  try {
    delete static_cast<c10d::Reducer*>(reducer);
  } catch (...) {
    // The destructor may throw (noexcept(false)) when a collective failed; nothing to do then.
  }
}

// Before a forward pass whose backward must all-reduce gradients (DDP's pre-forward).
int tuna_reducer_prepare_forward(void* reducer, char* err, size_t err_len) {
  TUNA_TRY({
    auto* r = static_cast<c10d::Reducer*>(reducer);
    r->prepare_for_forward();
    r->rebuild_buckets();
  })
}

// After that forward: arms the autograd hooks; `outputs` (the loss) let the reducer find
// parameters that got no gradient when it was built with find_unused.
int tuna_reducer_prepare_backward(void* reducer, at::Tensor** outputs, size_t n, char* err, size_t err_len) {
  TUNA_TRY({
    auto* r = static_cast<c10d::Reducer*>(reducer);
    r->prepare_for_backward(tensors(outputs, n));
  })
}

}  // extern "C"
