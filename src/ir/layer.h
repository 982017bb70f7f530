// snare::ir — the project's own network graph.
//
// A Graph is an ordered list of Layers (topological order, one Input first) plus the names of its
// outputs. Layers carry typed attributes and their weights as LibTorch tensors in LibTorch names and
// layouts; importers convert from Keras/ONNX layouts, exporters convert back. The IR knows nothing of
// torch::nn, training or files.
//
// Conventions (docs/ir.md):
//  * Shapes are per sample (no batch dimension) and channels-first: Dense (C), Conv1D/LSTM (C, L),
//    Conv2D (C, H, W). Keras' channels_last order survives only where it changes arithmetic: the
//    element order of Flatten and Reshape (`channels_last`).
//  * Weights: Dense weight [out,in], bias [out]; Conv weight [O,I,K..] (OIL / OIHW), bias [O];
//    BatchNorm weight, bias, running_mean, running_var [C] (weight only with use_scale, bias only with use_bias).
//  * Recurrent layers (LSTM, GRU, SimpleRNN) hold G gate blocks of U rows each (LSTM G=4, GRU 3, SimpleRNN 1):
//    weight_ih [G*U,in], weight_hh [G*U,U], bias_ih [G*U], bias_hh [G*U] (biases only with use_bias), LibTorch's
//    names, layouts and gate orders: LSTM i,f,g,o (= Keras i,f,c,o); GRU r,z,n (Keras and ONNX: z,r,h; the
//    importers swap the first two blocks). GRU reset_after=true (Keras 2.x/3 default, ONNX linear_before_reset=1,
//    what LibTorch computes): n = act(W_in x + b_in + r * (W_hn h + b_hn)); reset_after=false (Keras 2.3-era,
//    ONNX default): n = act(W_in x + b_in + W_hn (r * h) + b_hn). h' = (1 - z) * n + z * h.
//  * Bidirectional recurrent layers (`bidirectional`) carry the backward direction's weights under the same names
//    with LibTorch's "_reverse" suffix (weight_ih_reverse, ...). Both directions have `units` units: LibTorch's
//    and ONNX's bidirectional kernels and TensorFlow.js's Bidirectional (which builds the backward layer from the
//    forward layer's config) all require that, so a unit is removed from both directions at once. The backward
//    direction reads the sequence from its end; its sequence output is flipped back into time order before the
//    two are merged (`merge_mode`: concat [forward; backward] on the channel axis, or sum, mul, ave).
//  * A Layer is a value: copying a Graph is cheap and shares tensors, so transforms must replace
//    tensors, never modify them in place.
//
//   ir::Graph g = arch::build("lenet5");
//   g.infer_shapes();            // fills Layer::output_shape, throws ModelError on inconsistency
//   std::cout << ir::dump(g);    // diffable text form
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace snare::ir {

/// Closed set of layer kinds. Every concern (shapes, MACs, lowering, export, pruning) switches over
/// it without `default:` so the compiler names each concern a new kind still lacks.
enum class LayerKind {
  kInput,
  kDense,
  kConv1D,
  kConv2D,
  /// One k x k filter per input channel (times `multiplier`): Keras DepthwiseConv2D, ONNX Conv with group = C.
  kDepthwiseConv2D,
  kMaxPool1D,
  kMaxPool2D,
  kAvgPool1D,
  kAvgPool2D,
  kGlobalAvgPool1D,
  kGlobalAvgPool2D,
  kGlobalMaxPool1D,
  kGlobalMaxPool2D,
  kFlatten,
  kReshape,
  kZeroPadding1D,
  kZeroPadding2D,
  kDropout,
  kBatchNorm,
  kActivation,
  kAdd,
  kConcatenate,
  kLSTM,
  /// Keras GRU / ONNX GRU (weights: see the header comment; `reset_after`, `recurrent_activation`).
  kGRU,
  /// Keras SimpleRNN / ONNX RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh).
  kSimpleRNN,
  /// Reorders the per-sample axes (Keras Permute, ONNX Transpose that keeps the batch axis): output axis i is
  /// input axis `permutation[i]`, in the IR's channels-first order.
  kPermute,
  // Element-wise merges of two or more operands of one shape (unit axes broadcast, as in a squeeze-and-excitation
  // gate [C,1,1] times a trunk [C,H,W]); kAdd above is one of them. Subtract takes exactly two operands.
  kSubtract,
  kMultiply,
  kAverage,
  kMaximum,
  kMinimum,
  /// Cropping1D/2D: `pads` as ZeroPadding's, removed instead of added.
  kCropping1D,
  kCropping2D,
  /// UpSampling1D/2D, nearest: every value repeated `scale[i]` times along spatial axis i.
  kUpSampling1D,
  kUpSampling2D,
  /// Keras SeparableConv1D/2D: a depthwise conv (`multiplier`, `kernel`, `strides`, `dilation`, `padding`; weight
  /// `depthwise` [C*M,1,k...], no bias) then a pointwise conv to `units` filters (weight [units,C*M,1...], `bias`),
  /// then `activation`. One layer, as in Keras, so it is written back as the same class.
  kSeparableConv1D,
  kSeparableConv2D,
};

enum class Activation {
  kLinear, kRelu, kTanh, kSigmoid, kSoftmax, kElu, kSelu, kLeakyRelu,
  kRelu6,       ///< min(max(x, 0), 6): Keras ReLU(max_value=6), relu6; ONNX Clip(0, 6)
  kSwish,       ///< x * sigmoid(x) (Keras swish / silu)
  kHardSwish,   ///< x * relu6(x + 3) / 6
  kGelu,        ///< x * Phi(x), exact (Keras gelu, approximate=False)
  kSoftplus,    ///< log(1 + exp(x))
  kSoftsign,    ///< x / (1 + |x|)
  kExponential, ///< exp(x)
  /// clip(0.2 x + 0.5, 0, 1): Keras 2.x's (and TensorFlow.js') hard_sigmoid, ONNX HardSigmoid's default. Keras 3's
  /// hard_sigmoid is relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1), a different function: the Keras reader refuses it.
  kHardSigmoid,
};
/// How a bidirectional recurrent layer joins its two directions (Keras Bidirectional merge_mode).
enum class MergeMode { kConcat, kSum, kMul, kAve };
enum class Padding { kValid, kSame };

/// Per-sample shape, channels-first, no batch dimension.
using Shape = std::vector<int64_t>;

struct Layer {
  std::string name;
  LayerKind kind = LayerKind::kInput;
  /// Names of the producing layers, in operand order. Empty for Input.
  std::vector<std::string> inputs;

  // Attributes; each kind reads only its own (docs/ir.md lists which).
  int64_t units = 0;               ///< Dense units, Conv filters, recurrent units (per direction); DepthwiseConv2D: C * multiplier
  int64_t groups = 1;              ///< Conv: input channels and filters split into this many groups
  int64_t multiplier = 1;          ///< DepthwiseConv2D, SeparableConv: filters per input channel (depth_multiplier)
  std::vector<int64_t> kernel;     ///< Conv kernel / pool window, one entry per spatial dim
  std::vector<int64_t> strides;    ///< Conv / pool strides (pool default = window)
  std::vector<int64_t> dilation;   ///< Conv dilation
  Padding padding = Padding::kValid;
  std::vector<int64_t> pads;       ///< ZeroPadding / Cropping: {before, after} per spatial dim (1D: 2, 2D: 4)
  std::vector<int64_t> scale;      ///< UpSampling: repeat factor per spatial dim
  bool keepdims = false;           ///< Global pools: keep the pooled axes as size 1 ([C,1,1] instead of [C])
  Activation activation = Activation::kLinear;  ///< fused activation (Dense, Conv, Activation layer); GRU/SimpleRNN
                                                ///< cell activation (LSTM: always tanh, whatever this says)
  Activation recurrent_activation = Activation::kSigmoid;  ///< LSTM/GRU gate activation (sigmoid or hard_sigmoid)
  bool reset_after = true;         ///< GRU: reset gate after the recurrent matmul (see header comment)
  bool bidirectional = false;      ///< recurrent layers: a backward direction too (`_reverse` weights)
  MergeMode merge_mode = MergeMode::kConcat;  ///< bidirectional: how the directions' outputs are joined
  double alpha = 0.0;              ///< LeakyRelu slope / Elu alpha
  bool use_bias = true;
  double rate = 0.0;               ///< Dropout rate
  double epsilon = 1e-3;           ///< BatchNorm epsilon
  double momentum = 0.99;          ///< BatchNorm moving-average momentum (Keras convention)
  bool channels_last = false;      ///< Flatten / Reshape element order is (spatial..., C), as in Keras
  Shape target_shape;              ///< Reshape target, channels-first
  int64_t axis = 0;                ///< Concatenate axis, per-sample (0 = channels)
  bool return_sequences = false;   ///< recurrent: full sequence (U', L) instead of last output (U'); U' = 2U for concat
  Shape input_shape;               ///< Input: per-sample shape
  /// Permute: output per-sample axis i is input axis permutation[i] (channels-first order, 0 = channels; a
  /// permutation of 0..rank-1). Keras' channels-last `dims` are mapped by io/keras/layout.h.
  Shape permutation;
  /// BatchNorm: has the `weight` (gamma) tensor; false = Keras scale=False (gamma fixed at 1). The `bias` (beta)
  /// tensor follows `use_bias` (Keras center=False: beta fixed at 0).
  bool use_scale = true;

  /// Weights in LibTorch names and layouts (see header comment).
  std::map<std::string, at::Tensor> weights;
  /// Connection masks (float 0/1, same shape as the weight of the same name). Masked weights are
  /// exactly zero and stay zero through training.
  std::map<std::string, at::Tensor> masks;

  /// Format-specific configuration the layer was read from (the Keras layer config as JSON text),
  /// kept so writers can preserve fields the IR does not model. Empty for layers snare built.
  std::string origin_config;
  /// Set on the first of the two layers a factorisation makes: the name of the layer it replaced (the second
  /// layer keeps that name). "" for every other layer.
  std::string factorized_from;

  /// Filled by Graph::infer_shapes().
  Shape output_shape;
};

/// Stable lower-case names used in dumps, reports and error messages ("conv2d", "dense", ...).
const char* kind_name(LayerKind kind);
const char* activation_name(Activation activation);
const char* merge_mode_name(MergeMode mode);
/// Inverse of merge_mode_name ("concat", "sum", "mul", "ave"); throws UnsupportedError for others.
MergeMode merge_mode_from_name(const std::string& name);
/// Inverse of activation_name; throws UnsupportedError for unknown names.
Activation activation_from_name(const std::string& name);

/// True for kinds that own prunable output units (Dense, Conv1D, Conv2D, SeparableConv1D/2D, LSTM, GRU, SimpleRNN).
/// A DepthwiseConv2D's channels belong to its input's units (removing an input channel removes its `multiplier`
/// filters).
bool has_units(LayerKind kind);

/// True for the element-wise merges (Add, Subtract, Multiply, Average, Maximum, Minimum): same-shaped operands
/// (unit axes broadcast), one output of that shape, channel i of every operand meets channel i of the others.
bool is_merge(LayerKind kind);

/// True for LSTM, GRU and SimpleRNN.
bool is_recurrent(LayerKind kind);
/// Gate blocks of a recurrent kind's weights: LSTM 4, GRU 3, SimpleRNN 1 (0 for other kinds).
int64_t gate_count(LayerKind kind);
/// Channels a recurrent layer's output has per time step: units, or 2 * units for a concat-merged bidirectional one.
int64_t recurrent_output_units(const Layer& layer);
/// The names of a recurrent layer's weights in a direction: {"weight_ih", "weight_hh"} plus the biases with
/// use_bias; `reverse` appends "_reverse".
std::vector<std::string> recurrent_weight_names(const Layer& layer, bool reverse);

}  // namespace snare::ir
