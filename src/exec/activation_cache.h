// Layer outputs kept across evaluations of related models on the same samples. A search probes dozens of variants
// of one model on one fixed sample; a variant that changes only the dense layers need not run the convolutions
// before them again. A layer's key is its fingerprint (ir::layer_fingerprint) chained with its inputs' keys and the
// batch's position, so a hit is a layer that computes the same thing from the same inputs: its output is the one
// computed before, bit for bit.
//
//   exec::ActivationCache cache;            // one per split of samples
//   exec::ExecOptions eo; eo.cache = &cache;
//   exec::evaluate(model, probe_split, eo); // fills it
//   exec::evaluate(variant, probe_split, eo);  // reuses the unchanged layers' outputs
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <list>
#include <unordered_map>

namespace snare::exec {

class ActivationCache {
 public:
  /// Holds at most `budget_bytes` of outputs; the least recently used go first, and an output larger than a
  /// quarter of the budget is not kept.
  explicit ActivationCache(int64_t budget_bytes = int64_t{512} << 20) : budget_(budget_bytes) {}

  /// The output kept under `key`, or an undefined tensor.
  at::Tensor find(uint64_t key);
  void insert(uint64_t key, const at::Tensor& value);

  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }
  int64_t bytes() const { return bytes_; }

 private:
  struct Entry {
    uint64_t key;
    at::Tensor value;
  };
  int64_t budget_;
  int64_t bytes_ = 0;
  int64_t hits_ = 0, misses_ = 0;
  std::list<Entry> order_;  ///< most recently used first
  std::unordered_map<uint64_t, std::list<Entry>::iterator> index_;
};

}  // namespace snare::exec
