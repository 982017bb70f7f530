#include "measure/input_means.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "exec/network.h"

namespace snare::measure {

std::map<std::string, at::Tensor> input_means(const ir::Graph& graph, const data::Split& sample) {
  std::map<std::string, at::Tensor> sums;
  if (sample.size() == 0) return sums;
  std::vector<const ir::Layer*> weighted;
  for (const ir::Layer& l : graph.layers) {
    const bool conv = l.kind == ir::LayerKind::kConv1D || l.kind == ir::LayerKind::kConv2D;
    if ((l.kind == ir::LayerKind::kDense || conv || ir::is_recurrent(l.kind)) && l.inputs.size() == 1) {
      weighted.push_back(&l);
    }
  }
  if (weighted.empty()) return sums;
  exec::Network net(graph);
  net.record_activations(true);
  at::NoGradGuard no_grad;
  constexpr int64_t kChunk = 256;  // bounds the recorded activations' memory
  for (int64_t begin = 0; begin < sample.size(); begin += kChunk) {
    const int64_t end = std::min(sample.size(), begin + kChunk);
    net.forward(sample.x.slice(0, begin, end), false, false);
    for (const ir::Layer* l : weighted) {
      at::Tensor in = net.activations().at(l->inputs[0]);
      std::vector<int64_t> axes;
      for (int64_t d = 0; d < in.dim(); ++d) {
        if (d != 1) axes.push_back(d);
      }
      // Sum over samples, mean over positions: chunks of different sizes then weigh each sample alike.
      at::Tensor per_channel = in.to(at::kCPU, at::kDouble).mean(axes) * (end - begin);
      auto it = sums.find(l->name);
      if (it == sums.end()) {
        sums.emplace(l->name, per_channel);
      } else {
        it->second += per_channel;
      }
    }
  }
  for (auto& [name, sum] : sums) sum = (sum / static_cast<double>(sample.size())).to(at::kFloat);
  return sums;
}

}  // namespace snare::measure
