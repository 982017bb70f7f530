#include "exec/train.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <memory>

#include "common/error.h"
#include "dist/group.h"
#include "exec/fused_optimizer.h"
#include "exec/network.h"

namespace snare::exec {

namespace {

void check_options(const TrainOptions& o) {
  auto require = [](bool ok, const char* field, const std::string& problem) {
    if (!ok) throw OptionError(field, problem);
  };
  // A million epochs is weeks of training on anything; more is a typo, and epochs x batches must not overflow.
  constexpr int64_t kMaxEpochs = 1000000;
  require(o.epochs >= 1 && o.epochs <= kMaxEpochs, "TrainOptions::epochs",
          fmt::format("must be from 1 to {}, got {}", kMaxEpochs, o.epochs));
  require(std::isfinite(o.lr) && o.lr > 0, "TrainOptions::lr", fmt::format("must be a finite positive number, got {}", o.lr));
  require(std::isfinite(o.momentum) && o.momentum >= 0, "TrainOptions::momentum",
          fmt::format("must be a finite number >= 0, got {}", o.momentum));
  require(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "TrainOptions::weight_decay",
          fmt::format("must be a finite number >= 0, got {}", o.weight_decay));
  require(o.batch_size >= 1, "TrainOptions::batch_size", fmt::format("must be at least 1, got {}", o.batch_size));
  require(o.patience >= 0, "TrainOptions::patience", fmt::format("must be >= 0, got {}", o.patience));
  require(o.max_batches >= 0, "TrainOptions::max_batches", fmt::format("must be >= 0, got {}", o.max_batches));
}

std::vector<at::Tensor> snapshot(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : params) out.push_back(p.detach().clone());
  return out;
}

}  // namespace

const char* optimizer_name(Optimizer o) { return o == Optimizer::kAdam ? "adam" : "sgd"; }

std::vector<std::string> optimizer_names() { return {optimizer_name(Optimizer::kAdam), optimizer_name(Optimizer::kSgd)}; }

Optimizer optimizer_from_name(const std::string& name) {
  for (Optimizer o : {Optimizer::kAdam, Optimizer::kSgd}) {
    if (name == optimizer_name(o)) return o;
  }
  throw OptionError("TrainOptions::optimizer", fmt::format("expected {}, got '{}'", fmt::join(optimizer_names(), " or "), name));
}

TrainResult train(const ir::Graph& graph, const data::Split& fit, const data::Split* val, const TrainOptions& o,
                  ProgressSink& progress) {
  check_options(o);
  if (fit.size() == 0) throw DataError("train: the training split is empty");
  ir::Graph g = graph;
  g.infer_shapes();
  const int64_t classes = g.output_shape().at(0);
  if (fit.y.max().item<int64_t>() >= classes) {
    throw DataError(fmt::format("labels go up to {} but model '{}' has {} outputs", fit.y.max().item<int64_t>(), g.name,
                                classes));
  }
  // Dropout draws from the global generator; batches from our own, both from the seed.
  torch::manual_seed(o.seed);
  at::Generator order = at::detail::createCPUGenerator(o.seed);
  c10::Device device = parse_device(o.device);
  Network net(g, device);
  net.apply_masks();
  std::vector<at::Tensor> params = net.parameters();
  FusedOptimizer optimizer(params, net.parameter_masks(), o);
  std::unique_ptr<Network> teacher;
  if (o.teacher) teacher = std::make_unique<Network>(*o.teacher, device);

  dist::Group* group = o.group;
  // Every rank starts from rank 0's weights (as PyTorch's DDP does), whatever its own file or initialisation held.
  if (group) group->broadcast(net.state());

  at::Tensor x_all = fit.x.to(device), y_all = fit.y.to(device);
  const int64_t n = fit.size();
  const int64_t batches_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  TrainResult result;
  std::vector<at::Tensor> best;
  int64_t since_best = 0, batches_done = 0;
  int64_t planned = o.epochs * batches_per_epoch;
  if (o.max_batches > 0) planned = std::min(planned, o.max_batches);
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor perm = at::randperm(n, order, at::TensorOptions(at::kLong)).to(device);
    progress.begin(fmt::format("epoch {}/{}", epoch, o.epochs), batches_per_epoch);
    double loss_sum = 0;
    int64_t seen = 0;
    for (int64_t b = 0; b < batches_per_epoch; ++b) {
      if (o.max_batches > 0 && batches_done >= o.max_batches) break;
      if (!group && o.stop && o.stop->load()) {
        result.stopped = true;
        break;
      }
      at::Tensor idx = perm.narrow(0, b * o.batch_size, std::min(o.batch_size, n - b * o.batch_size));
      const int64_t batch = idx.size(0);
      at::Tensor x, y;
      if (group) {
        // The whole batch is drawn and augmented on every rank, so the generator advances alike everywhere;
        // each rank then trains on every size()-th row of it.
        at::Tensor mine = at::arange(group->rank(), batch, group->size(), at::TensorOptions(at::kLong).device(device));
        if (o.augment.enabled()) {
          x = augment_batch(x_all.index_select(0, idx), o.augment, order).index_select(0, mine);
        } else {
          x = x_all.index_select(0, idx.index_select(0, mine));
        }
        y = y_all.index_select(0, idx.index_select(0, mine));
      } else {
        x = augment_batch(x_all.index_select(0, idx), o.augment, order);
        y = y_all.index_select(0, idx);
      }
      if (o.cosine) {
        double progress_fraction = static_cast<double>(batches_done) / static_cast<double>(std::max<int64_t>(1, planned));
        optimizer.set_lr(o.lr * 0.5 * (1.0 + std::cos(M_PI * progress_fraction)));
      }
      optimizer.zero_grad();
      double batch_loss = 0;
      if (x.size(0) > 0) {
        at::Tensor logits = net.forward(x, true, true);
        at::Tensor loss = at::cross_entropy_loss(logits, y);
        if (teacher) {
          at::Tensor soft;
          {
            at::NoGradGuard no_grad;
            soft = at::softmax(teacher->forward(x, false, true) / o.distill_temperature, 1);
          }
          double t = o.distill_temperature;
          at::Tensor kl = at::kl_div(at::log_softmax(logits / t, 1), soft, at::Reduction::Sum) / x.size(0);
          loss = (1 - o.distill_alpha) * loss + o.distill_alpha * t * t * kl;
        }
        // A rank's mean loss weighted by its share of the batch: the summed gradients are the whole batch's mean.
        (group ? loss * (static_cast<double>(x.size(0)) / static_cast<double>(batch)) : loss).backward();
        batch_loss = loss.item<double>();
      }
      if (group) {
        std::vector<at::Tensor> grads;
        for (at::Tensor& p : params) {
          if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
          grads.push_back(p.grad());
        }
        group->sum(grads);
      }
      optimizer.step();  // masks the gradients and the weights
      loss_sum += batch_loss * static_cast<double>(x.size(0));
      seen += x.size(0);
      ++batches_done;
      progress.update(b + 1, fmt::format("loss {:.4f}", seen ? loss_sum / static_cast<double>(seen) : 0.0));
    }
    if (result.stopped) {
      progress.end(fmt::format("epoch {}: stopped after {} batches", epoch, batches_done));
      break;
    }
    if (group) {
      // The epoch's loss over the whole data (every rank decides on divergence alike), and BatchNorm's running
      // statistics, which each rank gathered on its own rows, from rank 0.
      at::Tensor totals = at::tensor({loss_sum, static_cast<double>(seen)}, at::kDouble);
      group->sum({totals});
      loss_sum = totals[0].item<double>();
      seen = static_cast<int64_t>(totals[1].item<double>());
      group->check_identical(params, fmt::format("weights after epoch {}", epoch));
      group->broadcast(net.state());
    }
    EpochRecord rec;
    rec.epoch = epoch;
    rec.train_loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
    if (o.stop_on_divergence && !std::isfinite(rec.train_loss)) {
      throw OptionError("TrainOptions::lr", fmt::format("training diverged: the loss became {} in epoch {} at learning "
                                                        "rate {}; a smaller one may help (or the data holds values "
                                                        "that are not finite)", rec.train_loss, epoch, o.lr));
    }
    if (val && val->size() > 0) {
      ExecOptions eo;
      eo.device = o.device;
      eo.group = group;
      rec.val_accuracy = evaluate(net.to_graph(), *val, eo).accuracy;
      if (rec.val_accuracy > result.best_val_accuracy) {
        result.best_val_accuracy = rec.val_accuracy;
        result.best_epoch = epoch;
        if (o.restore_best) best = snapshot(net.state());
        since_best = 0;
      } else {
        ++since_best;
      }
    }
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.epochs.push_back(rec);
    progress.end(rec.val_accuracy >= 0
                     ? fmt::format("epoch {}: loss {:.4f}, val accuracy {:.4f} ({:.1f} s)", epoch, rec.train_loss,
                                   rec.val_accuracy, rec.seconds)
                     : fmt::format("epoch {}: loss {:.4f} ({:.1f} s)", epoch, rec.train_loss, rec.seconds));
    if (o.patience > 0 && since_best >= o.patience) break;
    if (o.max_batches > 0 && batches_done >= o.max_batches) break;
  }
  if (!best.empty() && !result.stopped) {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> state = net.state();
    for (size_t i = 0; i < state.size(); ++i) state[i].copy_(best[i]);
  }
  result.graph = net.to_graph();
  return result;
}

}  // namespace snare::exec
