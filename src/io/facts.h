// snare's own facts about a model — Graph::input_scaling, trained_on, class_names and Layer::factorized_from — as
// the text entries both file formats carry: the Keras root attribute snare_meta (a JSON object of them) and ONNX
// metadata_props. The one place that maps the typed facts to text and back.
//
//   snare.scale            "raw" | "unit" | "standard"
//   snare.mean, .stddev    JSON lists of numbers (standard only; one value stands for every channel)
//   snare.data             the data set it was trained or reduced on
//   snare.class_names      a JSON list of strings
//   snare.factorized_from  a JSON object: first layer of a factorised pair -> the layer it replaced
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"

namespace snare::io {

/// The entries for `graph`'s facts (only those that are set).
std::map<std::string, std::string> fact_entries(const ir::Graph& graph);

/// Sets the fact `key` names from `value`; false when `key` is not one of snare's facts. Layers named by
/// snare.factorized_from must exist already. Throws ModelError naming `file`, `where` (the attribute or
/// metadata entry) and the key for a malformed value.
bool read_fact_entry(ir::Graph& graph, const std::string& key, const std::string& value, const std::string& file,
                     const std::string& where);

/// "snare.scale=unit", or "snare.scale=standard snare.mean=[..] snare.stddev=[..]"; "" when the scaling is
/// unstated. An ONNX file's input scaling nodes become this, and are written back while it still holds.
std::string scaling_summary(const ir::InputScaling& scaling);

}  // namespace snare::io
