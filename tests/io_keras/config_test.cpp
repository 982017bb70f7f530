// The supported-class table and the config helpers that do not need files.
#include "io/keras/config.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/error.h"
#include "ir/kind_traits.h"
#include "keras_test_util.h"

namespace {

namespace keras = snare::io::keras;

TEST(KerasConfig, ClassTableIsSortedAndUnique) {
  const auto& table = keras::supported_classes();
  for (size_t i = 1; i < table.size(); ++i) EXPECT_LT(std::strcmp(table[i - 1].name, table[i].name), 0) << table[i].name;
  for (const auto& k : table) {
    ASSERT_NE(keras::find_class(k.name), nullptr) << k.name;
    EXPECT_EQ(keras::find_class(k.name)->kind, k.kind);
  }
  EXPECT_EQ(keras::find_class("Conv3D"), nullptr);
  EXPECT_EQ(keras::find_class("dense"), nullptr);
}

// Every IR kind is written as a class the reader maps back to that kind, and only weighted kinds have weights.
TEST(KerasConfig, EveryKindHasAClassThatReadsBackAndWeightNamesFollowTheTraits) {
  for (const snare::ir::KindTraits& t : snare::ir::all_kind_traits()) {
    snare::ir::Layer l;
    l.name = t.name;
    l.kind = t.kind;
    for (keras::Style style : {keras::Style::kKeras2, keras::Style::kKeras3}) {
      std::string cls = keras::keras_class_for(l, style);
      ASSERT_NE(keras::find_class(cls), nullptr) << t.name << " -> " << cls;
      EXPECT_EQ(keras::find_class(cls)->kind, t.kind) << t.name << " -> " << cls;
    }
    EXPECT_EQ(keras::keras_weight_names(l).empty(), !t.weighted) << t.name;
  }
}

TEST(KerasConfig, SnakeCaseMatchesKerasNaming) {
  EXPECT_EQ(keras::snake_case("Conv2D"), "conv2d");
  EXPECT_EQ(keras::snake_case("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(keras::snake_case("AveragePooling2D"), "average_pooling2d");
  EXPECT_EQ(keras::snake_case("GlobalAveragePooling1D"), "global_average_pooling1d");
  EXPECT_EQ(keras::snake_case("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(keras::snake_case("LSTM"), "lstm");
  EXPECT_EQ(keras::snake_case("ReLU"), "re_lu");
  EXPECT_EQ(keras::snake_case("LeakyReLU"), "leaky_re_lu");
  EXPECT_EQ(keras::snake_case("InputLayer"), "input_layer");
}

keras::Json sequential(const keras::Json& layers) {
  return {{"class_name", "Sequential"}, {"config", {{"name", "s"}, {"layers", layers}}}};
}

keras::Json input_layer() {
  return {{"class_name", "InputLayer"}, {"config", {{"batch_input_shape", {nullptr, 8, 8, 3}}, {"name", "in"}}}};
}

TEST(KerasConfig, UnsupportedReasonsNameTheProblem) {
  keras::ModelConfig mc = keras::parse_model_config(
      sequential({input_layer(),
                  {{"class_name", "Conv2D"},
                   {"config", {{"name", "c"}, {"filters", 2}, {"kernel_size", {3, 3}}, {"data_format", "channels_first"}}}},
                  {{"class_name", "LSTM"}, {"config", {{"name", "l"}, {"units", 2}, {"recurrent_activation", "softsign"}}}},
                  {{"class_name", "Dense"}, {"config", {{"name", "d"}, {"units", 2}, {"activation", "mish"}}}},
                  {{"class_name", "Conv3D"}, {"config", {{"name", "x"}}}}}),
      "m.h5");
  EXPECT_EQ(keras::unsupported_reason(mc.layers[0]), "");
  EXPECT_NE(keras::unsupported_reason(mc.layers[1]).find("channels_first"), std::string::npos);
  EXPECT_NE(keras::unsupported_reason(mc.layers[2]).find("softsign"), std::string::npos);
  EXPECT_NE(keras::unsupported_reason(mc.layers[3]).find("mish"), std::string::npos);
  EXPECT_EQ(keras::unsupported_reason(mc.layers[4]), "unknown layer class");
}

TEST(KerasConfig, FunctionalKeras3NodesGiveInputs) {
  auto tensor = [](const char* name) {
    return keras::Json{{"class_name", "__keras_tensor__"},
                       {"config", {{"shape", {nullptr, 4}}, {"dtype", "float32"}, {"keras_history", {name, 0, 0}}}}};
  };
  keras::Json model = {
      {"class_name", "Functional"},
      {"config",
       {{"name", "f"},
        {"layers",
         {{{"class_name", "InputLayer"}, {"name", "in"}, {"config", {{"batch_shape", {nullptr, 4}}, {"name", "in"}}},
           {"inbound_nodes", keras::Json::array()}},
          {{"class_name", "Dense"}, {"name", "a"}, {"config", {{"name", "a"}, {"units", 4}}},
           {"inbound_nodes", {{{"args", {tensor("in")}}, {"kwargs", keras::Json::object()}}}}},
          {{"class_name", "Add"}, {"name", "s"}, {"config", {{"name", "s"}}},
           {"inbound_nodes", {{{"args", {{tensor("a"), tensor("in")}}}, {"kwargs", keras::Json::object()}}}}}}},
        {"input_layers", {"in", 0, 0}},
        {"output_layers", {"s", 0, 0}}}}};
  keras::ModelConfig mc = keras::parse_model_config(model, "f.keras");
  ASSERT_EQ(mc.layers.size(), 3u);
  EXPECT_EQ(mc.layers[2].inputs, (std::vector<std::string>{"a", "in"}));
  EXPECT_EQ(mc.outputs, (std::vector<std::string>{"s"}));
}

TEST(KerasConfig, SeveralInputsAreUnsupported) {
  keras::Json model = {{"class_name", "Functional"},
                       {"config", {{"name", "f"}, {"layers", keras::Json::array()},
                                   {"input_layers", {{"a", 0, 0}, {"b", 0, 0}}}}}};
  EXPECT_THROW_WITH(keras::parse_model_config(model, "two.h5"), snare::UnsupportedError, "two.h5", "2 inputs");
}

}  // namespace
