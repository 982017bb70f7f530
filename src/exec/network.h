// snare::exec — runs ir graphs on LibTorch: lowering, forward, evaluation.
//
// A Network holds a graph's weights as LibTorch tensors on a device (trainable ones with
// requires_grad) and runs the graph layer by layer with functional ops; there is no torch::nn
// module tree to keep in sync with the IR. `to_graph()` copies the (trained) weights back.
//
//   at::Tensor probs = exec::predict(graph, x);                    // eval mode, CPU
//   exec::EvalResult r = exec::evaluate(graph, dataset.test);      // accuracy, loss
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "ir/graph.h"

namespace snare::dist {
class Group;
}

namespace snare::exec {

class ActivationCache;

/// Parses "cpu", "cuda" or "cuda:N". Throws OptionError for other names, and when CUDA is asked for but this
/// LibTorch build or machine has none.
c10::Device parse_device(const std::string& name);

/// LibTorch's intra-op threads: `n`, or every core when 0. The library never sets them on its own: a program
/// calls this once at its edge (the CLI does, from $SNARE_THREADS), before any work. The first call also
/// selects OpenBLAS's kernels where OpenBLAS does not know the CPU (select_blas_kernels, blas_kernels.h).
void set_threads(int n);

class Network {
 public:
  Network(const ir::Graph& graph, c10::Device device = c10::Device(c10::kCPU));

  /// Runs the graph on a batch [N, ...] laid out like the graph's input (see adapt_input).
  /// `training` enables dropout and batch statistics. With `logits`, a softmax that ends the graph
  /// is skipped so the result suits cross-entropy.
  at::Tensor forward(const at::Tensor& x, bool training = false, bool logits = false);

  /// forward(x, false, logits) that takes the outputs of layers computing the same thing from the same inputs as
  /// before from `cache` and leaves its own there. `batch_key` names the rows of x (equal for the same rows of the
  /// same split). For evaluation only: the keys describe the weights the network was built with, not trained ones.
  at::Tensor forward_cached(const at::Tensor& x, uint64_t batch_key, bool logits, ActivationCache& cache);

  /// Trainable tensors (requires_grad) in graph order, and for each its mask or an undefined tensor.
  std::vector<at::Tensor> parameters() const;
  std::vector<at::Tensor> parameter_masks() const;
  /// Every weight tensor, trainable or not (BatchNorm running statistics too): a training snapshot.
  std::vector<at::Tensor> state() const;
  /// Re-applies connection masks (weights *= mask) so masked weights stay exactly zero.
  void apply_masks();

  /// The graph with the current weights copied back (CPU, float32, no grad).
  ir::Graph to_graph() const;
  const ir::Graph& graph() const { return graph_; }
  c10::Device device() const { return device_; }

  /// Outputs of every layer of the last forward when recording was switched on (tests, criteria).
  void record_activations(bool on) { record_ = on; }
  const std::map<std::string, at::Tensor>& activations() const { return activations_; }

 private:
  /// `apply_activation` false: the layer's output before its activation (a ReLU deferred past the max pool that reads it).
  at::Tensor run_layer(const ir::Layer& layer, const std::vector<at::Tensor>& in, bool training, bool skip_softmax,
                       bool apply_activation = true);
  at::Tensor& w(const ir::Layer& layer, const std::string& name);

  ir::Graph graph_;
  c10::Device device_;
  std::map<std::string, std::map<std::string, at::Tensor>> weights_;  ///< layer -> name -> tensor
  std::map<std::string, std::map<std::string, at::Tensor>> masks_;
  bool record_ = false;
  std::map<std::string, at::Tensor> activations_;
  /// Layers whose ReLU forward() applies after the max pool that alone reads them (through dropout layers, if
  /// any), and those pools: max commutes with ReLU, so values and gradients are the same, on a quarter of the
  /// elements (LeNet-5's pools) forward and backward.
  std::set<std::string> relu_deferred_, relu_after_;
  /// Per layer: its fingerprint chained with its inputs' (what it computes from the network's input), built on
  /// the first forward_cached.
  std::vector<uint64_t> path_keys_;
};

/// Reshapes a data batch to the graph's input when the per-sample sizes agree but the layouts differ
/// only trivially (flat 784 vs (1,28,28)); throws DataError naming both shapes otherwise.
at::Tensor adapt_input(const ir::Graph& graph, const at::Tensor& x);

struct ExecOptions {
  int64_t batch_size = 1000;
  std::string device = "cpu";
  /// evaluate() only: each rank of a distributed run evaluates its shard and the counts are summed, so every
  /// rank gets the whole split's result (null: this process evaluates all of it).
  dist::Group* group = nullptr;
  /// evaluate() only: layer outputs reused across evaluations of related models on the same split (one cache per
  /// split; null: none).
  ActivationCache* cache = nullptr;
};

/// Model outputs for all of `x`, in eval mode, on CPU.
at::Tensor predict(const ir::Graph& graph, const at::Tensor& x, const ExecOptions& options = {});

struct EvalResult {
  double accuracy = 0;
  double loss = 0;  ///< mean cross-entropy
  int64_t samples = 0;
  std::vector<double> per_class_accuracy;
  std::vector<uint8_t> correct;  ///< per sample, in split order: 1 when predicted right (paired tests)
};

/// Accuracy and cross-entropy of `graph` on `split`. Throws DataError when labels exceed the
/// model's outputs or the split is empty.
EvalResult evaluate(const ir::Graph& graph, const data::Split& split, const ExecOptions& options = {});

}  // namespace snare::exec
