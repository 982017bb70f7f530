#include "cli/flag_names.h"

namespace snare::cli {

const std::vector<std::pair<std::string, std::string>>& field_flags() {
  static const std::vector<std::pair<std::string, std::string>> kTable = {
      // pipeline::ModelSource, pipeline::DataOptions (and data::LoadOptions, which they fill)
      {"ModelSource::path", "MODEL"},
      {"ModelSource::arch", "--arch"},
      {"ModelSource::seed", "--seed"},
      {"DataOptions::spec", "--data"},
      {"DataOptions::scale", "--scale"},
      {"DataOptions::mean", "--mean"},
      {"DataOptions::stddev", "--std"},
      {"DataOptions::layout", "--layout"},
      {"DataOptions::label_column", "--label-column"},
      {"DataOptions::group_column", "--group-column"},
      {"DataOptions::test_split", "--test-split"},
      {"DataOptions::resize", "--resize"},
      {"DataOptions::arrays", "--arrays"},
      {"LoadOptions::scale", "--scale"},
      {"LoadOptions::mean", "--mean"},
      {"LoadOptions::stddev", "--std"},
      {"LoadOptions::layout", "--layout"},
      {"LoadOptions::test_split", "--test-split"},
      {"ImageOptions::height", "--resize"},
      {"ImageOptions::width", "--resize"},
      // pipeline::ReduceOptions
      {"ReduceOptions::output", "-o"},
      {"ReduceOptions::report_dir", "--report"},
      {"ReduceOptions::time_limit_min", "--time-limit"},
      {"ReduceOptions::val_split", "--val-split"},
      {"ReduceOptions::confirm_split", "--confirm-split"},
      {"ReduceOptions::rule", "--rule"},
      {"ReduceOptions::baseline_epochs", "--baseline-epochs"},
      {"ReduceOptions::baseline_recipe", "--baseline-recipe"},
      {"ReduceOptions::train_samples", "--train-samples"},
      {"ReduceOptions::criterion", "--criterion"},
      {"ReduceOptions::augment", "--augment"},
      {"parse_augment(spec)", "--augment"},
      {"ReduceOptions::distill", "--distill"},
      {"ReduceOptions::resume", "--resume"},
      {"ReduceOptions::keep_steps", "--keep-steps"},
      {"ReduceOptions::no_units", "--no-units"},
      {"ReduceOptions::no_masks", "--no-masks"},
      {"ReduceOptions::no_lowrank", "--no-lowrank"},
      {"ReduceOptions::compensate", "--compensate"},
      // dist::DistConfig
      {"DistConfig::world_size", "--world-size"},
      {"DistConfig::rank", "--rank"},
      {"DistConfig::rendezvous", "--rendezvous"},
      {"DistConfig::host", "--rendezvous"},
      {"DistConfig::port", "--rendezvous"},
      {"DistConfig::timeout_s", "--dist-timeout"},
      // search::SearchOptions
      {"SearchOptions::max_loss_pp", "--max-loss"},
      {"SearchOptions::margin_se", "--margin"},
      {"SearchOptions::confirm_margin_se", "--confirm-margin"},
      {"SearchOptions::budget_params", "--budget-params"},
      {"SearchOptions::budget_macs", "--budget-macs"},
      {"SearchOptions::mac_weight", "--mac-weight"},
      {"SearchOptions::time_limit_s", "--time-limit"},
      {"SearchOptions::recovery_rounds", "--recovery-rounds"},
      {"SearchOptions::recovery_window_pp", "--recovery-window"},
      {"SearchOptions::channel_multiple", "--channel-multiple"},
      {"SearchOptions::trials", "--trials"},
      {"SearchOptions::consolidations", "--consolidate"},
      // measure::TorchOracleOptions, exec::TrainOptions
      {"TorchOracleOptions::retrain_batches", "--retrain-batches"},
      {"TorchOracleOptions::finetune_epochs", "--finetune-epochs"},
      {"TorchOracleOptions::lr", "--lr"},
      {"TorchOracleOptions::batch_size", "--batch"},
      {"TorchOracleOptions::device", "--device"},
      {"TrainOptions::epochs", "--epochs"},
      {"TrainOptions::lr", "--lr"},
      {"TrainOptions::batch_size", "--batch"},
      {"TrainOptions::patience", "--patience"},
      {"TrainOptions::optimizer", "--optimizer"},
      {"TrainOptions::device", "--device"},
      // reduce:: plans a user gives (prune, factorize)
      {"magnitude_plan(sparsity)", "--sparsity"},
      {"magnitude_plan(layers)", "--layer"},
      {"keep_most_important(layer)", "--layer"},
      {"keep_most_important(keep)", "--keep/--remove"},
      {"apply(plan)", "the reduction asked for"},
      {"factorize(layer, rank)", "--layer/--rank"},
      {"split_holdouts(validation_fraction)", "--val-split"},
      {"split_holdouts(confirmation_fraction)", "--confirm-split"},
  };
  return kTable;
}

std::string flag_for_field(const std::string& field) {
  for (const auto& [f, flag] : field_flags()) {
    if (f == field) return flag;
  }
  return "";
}

std::string in_flag_terms(std::string message) {
  for (const auto& [field, flag] : field_flags()) {
    for (size_t at = message.find(field); at != std::string::npos; at = message.find(field, at + flag.size())) {
      message.replace(at, field.size(), flag);
    }
  }
  return message;
}

}  // namespace snare::cli
