#include "analysis/groups.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <set>

#include "common/error.h"
#include "ir/kind_traits.h"

namespace snare::analysis {

using ir::LayerKind;

namespace {

using Positions = std::vector<std::vector<int64_t>>;

/// Result of following one producer's units forward through the graph.
struct Trace {
  std::vector<UnitUse> uses;
  std::vector<std::string> adds;  ///< element-wise merges reached (Add, Multiply, ...: they couple producers)
  std::string blocked;            ///< non-empty: why the units cannot be removed
};

int64_t product(const ir::Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

/// True when `out` is `in` = [C] (or [C, 1...]) with unit axes appended: the channels keep their positions.
bool adds_unit_axes(const ir::Shape& in, const ir::Shape& out) {
  if (in.empty() || out.size() < in.size() || out[0] != in[0]) return false;
  return product(in) == in[0] && product(out) == out[0];
}

/// Input channel c of a depthwise conv owns its output channels c*M .. c*M+M-1.
Positions depthwise_rows(const Positions& pos, int64_t multiplier) {
  Positions rows(pos.size());
  for (size_t u = 0; u < pos.size(); ++u) {
    for (int64_t c : pos[u]) {
      for (int64_t m = 0; m < multiplier; ++m) rows[u].push_back(c * multiplier + m);
    }
  }
  return rows;
}

class Tracer {
 public:
  explicit Tracer(const ir::Graph& g) : g_(g) {
    for (const std::string& o : g.output_names()) outputs_.insert(o);
  }

  /// Follows `positions` (indices along the channel axis of `layer`'s output) to every reader.
  void follow(const std::string& layer, const Positions& positions, Trace& t) {
    if (!t.blocked.empty()) return;
    if (outputs_.count(layer)) {
      t.blocked = fmt::format("its units reach the network output through '{}'", layer);
      return;
    }
    for (const std::string& c : g_.consumers(layer)) read(g_.layer(c), layer, positions, t);
  }

 private:
  void read(const ir::Layer& l, const std::string& from, const Positions& pos, Trace& t) {
    const ir::KindTraits& kt = ir::traits(l.kind);
    if (kt.flow == ir::ChannelFlow::kPerChannel && !kt.weighted) {
      if (l.kind == LayerKind::kActivation && l.activation == ir::Activation::kSoftmax) {
        t.blocked = fmt::format("a softmax over channels in '{}' couples all units", l.name);
        return;
      }
      follow(l.name, pos, t);
      return;
    }
    if (kt.flow == ir::ChannelFlow::kMerge) {
      // Channel c of every operand meets channel c of the others (a broadcast [C,1,1] gate too).
      t.adds.push_back(l.name);
      follow(l.name, pos, t);
      return;
    }
    switch (l.kind) {
      case LayerKind::kConv1D:
      case LayerKind::kConv2D:
        if (l.groups != 1) {
          t.blocked = fmt::format("the grouped conv '{}' ({} groups) ties its input channels together", l.name, l.groups);
          return;
        }
        t.uses.push_back({l.name, UnitUse::Kind::kInputColumns, pos});
        return;
      case LayerKind::kDense:
      case LayerKind::kLSTM:
      case LayerKind::kGRU:
      case LayerKind::kSimpleRNN: t.uses.push_back({l.name, UnitUse::Kind::kInputColumns, pos}); return;
      case LayerKind::kDepthwiseConv2D:
        // Input channel c owns output channels c*M .. c*M+M-1: they go with it, and carry the unit on.
        t.uses.push_back({l.name, UnitUse::Kind::kDepthwise, depthwise_rows(pos, l.multiplier)});
        follow(l.name, t.uses.back().positions, t);
        return;
      case LayerKind::kSeparableConv1D:
      case LayerKind::kSeparableConv2D:
        // The same rows inside: the depthwise filters of channel c and the pointwise columns behind them.
        t.uses.push_back({l.name, UnitUse::Kind::kSeparable, depthwise_rows(pos, l.multiplier)});
        return;
      case LayerKind::kBatchNorm:
        t.uses.push_back({l.name, UnitUse::Kind::kBatchNorm, pos});
        follow(l.name, pos, t);
        return;
      case LayerKind::kFlatten: {
        const ir::Shape& in = g_.layer(from).output_shape;
        if (in.size() <= 1) {
          follow(l.name, pos, t);
          return;
        }
        const int64_t channels = in[0], spatial = product(in) / in[0];
        Positions flat(pos.size());
        for (size_t u = 0; u < pos.size(); ++u) {
          for (int64_t c : pos[u]) {
            for (int64_t s = 0; s < spatial; ++s) flat[u].push_back(l.channels_last ? s * channels + c : c * spatial + s);
          }
          std::sort(flat[u].begin(), flat[u].end());
        }
        follow(l.name, flat, t);
        return;
      }
      case LayerKind::kConcatenate: {
        if (l.axis != 0) {
          t.blocked = fmt::format("'{}' concatenates along a non-channel axis", l.name);
          return;
        }
        int64_t offset = 0;
        for (const std::string& i : l.inputs) {
          if (i == from) break;
          offset += g_.layer(i).output_shape.at(0);
        }
        Positions shifted = pos;
        for (auto& p : shifted) {
          for (int64_t& v : p) v += offset;
        }
        follow(l.name, shifted, t);
        return;
      }
      case LayerKind::kReshape:
        if (adds_unit_axes(g_.layer(from).output_shape, l.output_shape)) {
          // [C] -> [C,1,1] (a squeeze-and-excitation gate): channel c stays channel c; the target names C.
          t.uses.push_back({l.name, UnitUse::Kind::kReshapeChannels, pos});
          follow(l.name, pos, t);
          return;
        }
        t.blocked = fmt::format("its units pass the Reshape '{}'", l.name);
        return;
      case LayerKind::kPermute:
        // Channel positions survive a permutation of the spatial axes; one that moves the channel axis scatters them.
        if (l.permutation.empty() || l.permutation[0] != 0) {
          t.blocked = fmt::format("the Permute '{}' moves the channel axis", l.name);
          return;
        }
        follow(l.name, pos, t);
        return;
      case LayerKind::kInput: return;
      default:
        throw InternalError(fmt::format("unit groups: no channel rule for '{}' ({})", l.name, ir::kind_name(l.kind)));
    }
  }

  const ir::Graph& g_;
  std::set<std::string> outputs_;
};

/// The producer whose units reach `layer`'s channels through pass-through layers, or "" if none.
std::string producer_behind(const ir::Graph& g, const std::string& layer) {
  const ir::Layer& l = g.layer(layer);
  if (ir::has_units(l.kind)) return l.name;
  const ir::ChannelFlow flow = ir::traits(l.kind).flow;
  if (flow == ir::ChannelFlow::kPerChannel || flow == ir::ChannelFlow::kMerge) return producer_behind(g, l.inputs.at(0));
  switch (l.kind) {
    case LayerKind::kReshape:
      return adds_unit_axes(g.layer(l.inputs.at(0)).output_shape, l.output_shape) ? producer_behind(g, l.inputs.at(0))
                                                                                    : "";
    case LayerKind::kDepthwiseConv2D: return l.multiplier == 1 ? producer_behind(g, l.inputs.at(0)) : "";
    case LayerKind::kPermute:
      return !l.permutation.empty() && l.permutation[0] == 0 ? producer_behind(g, l.inputs.at(0)) : "";
    default: return "";
  }
}

/// Output channels of producer `l` that carry each of its units: unit u is channel u, except in a bidirectional
/// layer merged by concat, whose forward unit u is channel u and backward unit u channel U + u (the two directions'
/// unit u go together: see ir/layer.h).
Positions unit_positions(const ir::Layer& l) {
  Positions p(static_cast<size_t>(l.units));
  bool both = ir::is_recurrent(l.kind) && ir::recurrent_output_units(l) == 2 * l.units;
  for (int64_t u = 0; u < l.units; ++u) {
    p[static_cast<size_t>(u)] = both ? std::vector<int64_t>{u, l.units + u} : std::vector<int64_t>{u};
  }
  return p;
}

}  // namespace

std::vector<UnitGroup> unit_groups(const ir::Graph& graph) {
  ir::Graph g = graph;
  g.infer_shapes();
  Tracer tracer(g);
  // Trace every producer, then merge producers that meet in an Add (union-find over names).
  std::vector<std::string> producers;
  std::map<std::string, Trace> traces;
  for (const ir::Layer& l : g.layers) {
    if (!ir::has_units(l.kind)) continue;
    producers.push_back(l.name);
    tracer.follow(l.name, unit_positions(l), traces[l.name]);
  }
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& x) {
    auto it = parent.find(x);
    if (it == parent.end() || it->second == x) return x;
    return parent[x] = find(it->second);
  };
  std::map<std::string, std::string> add_owner;
  for (const std::string& p : producers) {
    for (const std::string& add : traces[p].adds) {
      auto it = add_owner.find(add);
      if (it == add_owner.end()) {
        add_owner[add] = p;
      } else {
        parent[find(p)] = find(it->second);
      }
    }
  }
  // An Add that also reads channels no producer owns (e.g. the network input) pins its group.
  std::map<std::string, std::string> pinned;  // producer root -> reason
  for (const auto& [add, owner] : add_owner) {
    for (const std::string& operand : g.layer(add).inputs) {
      std::string p = producer_behind(g, operand);
      if (p.empty() || find(p) != find(owner)) {
        pinned[find(owner)] = fmt::format("the {} '{}' also reads '{}', whose channels cannot shrink",
                                          ir::kind_name(g.layer(add).kind), add, operand);
      }
    }
  }
  std::vector<UnitGroup> groups;
  std::map<std::string, size_t> index;
  for (const std::string& p : producers) {
    std::string root = find(p);
    if (!index.count(root)) {
      index[root] = groups.size();
      UnitGroup grp;
      grp.id = p;
      grp.size = g.layer(p).units;
      groups.push_back(grp);
    }
    UnitGroup& grp = groups[index[root]];
    if (std::find(grp.producers.begin(), grp.producers.end(), p) == grp.producers.end()) grp.producers.push_back(p);
    const Trace& t = traces[p];
    if (g.layer(p).units != grp.size) {
      grp.prunable = false;
      grp.reason = "producers joined by an element-wise merge have different widths";
    }
    if (pinned.count(root) && grp.prunable) {
      grp.prunable = false;
      grp.reason = pinned[root];
    }
    if (!t.blocked.empty() && grp.prunable) {
      grp.prunable = false;
      grp.reason = t.blocked;
    }
    if (g.layer(p).groups != 1 && grp.prunable) {
      grp.prunable = false;
      grp.reason = fmt::format("'{}' is a grouped conv ({} groups): its filters cannot go one by one", p,
                               g.layer(p).groups);
    }
    for (const UnitUse& u : t.uses) {
      bool seen = std::any_of(grp.uses.begin(), grp.uses.end(), [&](const UnitUse& x) { return x.layer == u.layer; });
      if (!seen) grp.uses.push_back(u);
    }
  }
  return groups;
}

const UnitGroup& group_of(const std::vector<UnitGroup>& groups, const std::string& layer) {
  for (const UnitGroup& g : groups) {
    if (std::find(g.producers.begin(), g.producers.end(), layer) != g.producers.end()) return g;
  }
  throw ModelError(fmt::format("layer '{}' has no prunable units (only Dense, Conv1D, Conv2D, LSTM, GRU and SimpleRNN layers do)", layer));
}

}  // namespace snare::analysis
