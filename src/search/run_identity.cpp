#include "search/run_identity.h"

#include <fmt/format.h>

namespace snare::search {

namespace {

std::string shown(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object() || !object.contains(key)) return "(none)";
  const nlohmann::json& v = object.at(key);
  return v.is_string() && !v.get<std::string>().empty() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::vector<std::string> identity_differences(const nlohmann::json& recorded, const nlohmann::json& now) {
  std::vector<std::string> out;
  auto compare = [&](const std::string& key) {
    const bool both = recorded.is_object() && recorded.contains(key) && now.is_object() && now.contains(key);
    if (both && recorded.at(key) == now.at(key)) return;
    out.push_back(fmt::format("{}: {} in the checkpoint, {} now", key, shown(recorded, key), shown(now, key)));
  };
  if (now.is_object()) {
    for (const auto& item : now.items()) compare(item.key());
  }
  if (recorded.is_object()) {
    for (const auto& item : recorded.items()) {
      if (!now.is_object() || !now.contains(item.key())) compare(item.key());
    }
  }
  return out;
}

}  // namespace snare::search
