#include "reduce/factorize.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"

namespace snare::reduce {

using ir::LayerKind;

int64_t max_useful_rank(const ir::Layer& l) {
  if (l.kind != LayerKind::kDense && l.kind != LayerKind::kConv1D && l.kind != LayerKind::kConv2D) return 0;
  const at::Tensor& w = l.weights.at("weight");
  int64_t out = w.size(0), fan_in = w.numel() / out;
  // rank*(fan_in + out) < out*fan_in, and rank <= min(out, fan_in)
  int64_t r = (out * fan_in - 1) / (fan_in + out);
  return std::max<int64_t>(0, std::min({r, out, fan_in}));
}

std::string factorize_problem(const ir::Graph& graph, const std::string& name, int64_t rank) {
  int index = graph.index_of(name);
  if (index < 0) return fmt::format("no layer named '{}'", name);
  const ir::Layer& l = graph.layers[static_cast<size_t>(index)];
  if (l.kind != LayerKind::kDense && l.kind != LayerKind::kConv1D && l.kind != LayerKind::kConv2D) {
    return fmt::format("layer '{}' ({}) cannot be factorised: only Dense and Conv layers", name, ir::kind_name(l.kind));
  }
  if (!l.masks.empty()) return fmt::format("layer '{}' has connection masks; factorise before masking", name);
  int64_t max_rank = max_useful_rank(l);
  if (rank < 1 || rank > max_rank) {
    return fmt::format("rank {} for '{}': must be in [1, {}] to reduce its parameters", rank, name, max_rank);
  }
  return "";
}

ir::Graph factorize(const ir::Graph& graph, const std::string& name, int64_t rank) {
  if (std::string problem = factorize_problem(graph, name, rank); !problem.empty()) {
    throw OptionError("factorize(layer, rank)", problem);
  }
  const int index = graph.index_of(name);
  const ir::Layer& l = graph.layers[static_cast<size_t>(index)];
  const at::Tensor& w = l.weights.at("weight");
  const int64_t out = w.size(0);
  at::Tensor matrix = w.reshape({out, -1}).to(at::kDouble);
  auto [u, s, vh] = at::linalg_svd(matrix, /*full_matrices=*/false);
  at::Tensor root = s.narrow(0, 0, rank).sqrt();
  // Split the singular values evenly so both factors have similar scale (better for retraining).
  at::Tensor first = (root.unsqueeze(1) * vh.narrow(0, 0, rank)).to(at::kFloat);      // [rank, fan_in]
  at::Tensor second = (u.narrow(1, 0, rank) * root.unsqueeze(0)).to(at::kFloat);     // [out, rank]

  ir::Layer a = l;
  a.name = name + "_lowrank";
  a.factorized_from = name;
  a.units = rank;
  a.activation = ir::Activation::kLinear;
  a.use_bias = false;
  a.origin_config.clear();
  a.weights.clear();
  std::vector<int64_t> first_shape(w.sizes().begin(), w.sizes().end());
  first_shape[0] = rank;
  a.weights["weight"] = first.reshape(first_shape).contiguous();

  ir::Layer b = l;
  b.inputs = {a.name};
  if (l.kind == LayerKind::kDense) {
    b.weights["weight"] = second.contiguous();
  } else {
    std::vector<int64_t> pointwise{out, rank};
    for (size_t i = 0; i < l.kernel.size(); ++i) pointwise.push_back(1);
    b.weights["weight"] = second.reshape(pointwise).contiguous();
    b.kernel.assign(l.kernel.size(), 1);
    b.strides.assign(l.kernel.size(), 1);
    b.dilation.assign(l.kernel.size(), 1);
    b.padding = ir::Padding::kValid;
  }
  ir::Graph g = graph;
  g.layers[static_cast<size_t>(index)] = b;
  g.layers.insert(g.layers.begin() + index, a);
  g.infer_shapes();
  return g;
}

}  // namespace snare::reduce
