#include "exec/activation_cache.h"

namespace snare::exec {

namespace {

int64_t bytes_of(const at::Tensor& t) { return static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()); }

}  // namespace

at::Tensor ActivationCache::find(uint64_t key) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return {};
  }
  ++hits_;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->value;
}

void ActivationCache::insert(uint64_t key, const at::Tensor& value) {
  const int64_t size = bytes_of(value);
  if (size > budget_ / 4 || index_.count(key)) return;
  order_.push_front(Entry{key, value});
  index_[key] = order_.begin();
  bytes_ += size;
  while (bytes_ > budget_ && !order_.empty()) {
    bytes_ -= bytes_of(order_.back().value);
    index_.erase(order_.back().key);
    order_.pop_back();
  }
}

}  // namespace snare::exec
