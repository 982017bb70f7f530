#include "dist/group.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <functional>

#include "common/error.h"

namespace snare::dist {

namespace {

/// A whole number in [low, high] from `text`, or an OptionError naming `field`.
int whole_number(const std::string& text, int low, int high, const std::string& field) {
  const bool digits = !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
  const int value = digits ? std::stoi(text) : -1;
  if (!digits || value < low || value > high) {
    throw OptionError(field, fmt::format("expected a whole number from {} to {}, got '{}'", low, high, text));
  }
  return value;
}

std::chrono::milliseconds timeout_of(const DistConfig& c) {
  return std::chrono::milliseconds(static_cast<int64_t>(c.timeout_s * 1000.0));
}

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

std::string bytes_to_string(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }
std::vector<uint8_t> string_to_bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

/// One contiguous buffer holding every tensor (one message for the backend, as PyTorch's DDP buckets do).
at::Tensor flatten(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> flat;
  flat.reserve(tensors.size());
  for (const at::Tensor& t : tensors) flat.push_back(t.detach().reshape({-1}));
  return at::cat(flat);
}

void unflatten_into(const at::Tensor& buffer, const std::vector<at::Tensor>& tensors) {
  at::NoGradGuard no_grad;
  int64_t offset = 0;
  for (const at::Tensor& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(buffer.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

}  // namespace

void parse_rendezvous(const std::string& url, DistConfig& config) {
  const std::string scheme = "tcp://";
  const size_t colon = url.rfind(':');
  if (url.rfind(scheme, 0) != 0 || colon == std::string::npos || colon < scheme.size() + 1) {
    throw OptionError("DistConfig::rendezvous", fmt::format("expected tcp://HOST:PORT, got '{}'", url));
  }
  std::string host = url.substr(scheme.size(), colon - scheme.size());
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);  // [::1]
  config.host = host;
  config.port = whole_number(url.substr(colon + 1), 1, 65535, "DistConfig::rendezvous");
}

DistConfig config_from_environment(DistConfig config) {
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
  };
  if (const char* v = env("WORLD_SIZE")) config.world_size = whole_number(v, 1, 65536, "WORLD_SIZE");
  if (const char* v = env("RANK")) config.rank = whole_number(v, 0, 65535, "RANK");
  if (const char* v = env("MASTER_ADDR")) config.host = v;
  if (const char* v = env("MASTER_PORT")) config.port = whole_number(v, 1, 65535, "MASTER_PORT");
  return config;
}

void check(const DistConfig& c) {
  if (c.world_size < 1) throw OptionError("DistConfig::world_size", fmt::format("must be at least 1, got {}", c.world_size));
  if (c.rank < 0 || c.rank >= c.world_size) {
    throw OptionError("DistConfig::rank", fmt::format("must be from 0 to world size - 1 = {}, got {}", c.world_size - 1, c.rank));
  }
  if (c.port < 1 || c.port > 65535) throw OptionError("DistConfig::port", fmt::format("must be from 1 to 65535, got {}", c.port));
  if (!(c.timeout_s > 0 && c.timeout_s <= 7 * 24 * 3600.0)) {
    throw OptionError("DistConfig::timeout_s", fmt::format("must be a number of seconds from 0 to a week, got {}", c.timeout_s));
  }
  if (c.host.empty()) throw OptionError("DistConfig::rendezvous", "the host is empty");
}

std::pair<int64_t, int64_t> shard_of(int64_t n, int rank, int world) {
  return {n * rank / world, n * (rank + 1) / world};
}

struct Group::Impl {
  DistConfig config;
  /// "rank 1 of 4" for the whole run; a trial group adds which one and this rank's place in it.
  std::string who;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> options;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  int64_t next_key = 0;  ///< store keys of agree/share/split are numbered: every rank calls them in the same order
  /// Shared with the groups split from this one, so the run's report counts their collectives too.
  std::shared_ptr<Traffic> traffic = std::make_shared<Traffic>();

  /// Runs a c10d call; a peer's failure (c10::Error, gloo's IoException or EnforceNotMet, all std::exception) becomes
  /// a DistError that says which rank, what and how long it waited.
  template <typename F>
  auto guarded(const std::string& what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      std::string reason = e.what();
      const size_t newline = reason.find('\n');  // c10 appends a backtrace
      if (newline != std::string::npos) reason.resize(newline);
      throw DistError(fmt::format("{}: {} failed: {}. Another rank stopped (it died or failed: see its own "
                                  "message), could not be reached, or did not get here within --dist-timeout {} s",
                                  who, what, reason, config.timeout_s));
    }
  }
  /// Runs one collective on `buffer` and counts it.
  void collective(const at::Tensor& buffer, const std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>& start) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<at::Tensor> message{buffer};
    start(message)->wait(timeout_of(config));
    traffic->collectives += 1;
    traffic->bytes += static_cast<int64_t>(buffer.numel() * buffer.element_size());
    traffic->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

Group::Group(const DistConfig& config) : impl_(std::make_unique<Impl>()) {
  check(config);
  impl_->config = config;
  impl_->who = fmt::format("rank {} of {}", config.rank, config.world_size);
  const std::string where = fmt::format("rendezvous at {}:{}", config.host, config.port);
  impl_->guarded(where, [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(config.port);
    so.isServer = config.rank == 0;
    so.numWorkers = static_cast<size_t>(config.world_size);
    so.timeout = timeout_of(config);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(config.host, so);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("snare", tcp);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout_of(config));
    // Loopback runs bind to 127.0.0.1; across machines Gloo binds where this host's name resolves, or to
    // GLOO_SOCKET_IFNAME's interface, as PyTorch does.
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    if (interface != nullptr && *interface != '\0') {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else if (loopback(config.host)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    impl_->options = options;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, config.rank, config.world_size, options);
    return 0;
  });
}

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Group::~Group() = default;

std::unique_ptr<Group> Group::split(int parts) {
  if (parts < 1 || parts > size()) {
    throw OptionError("Group::split", fmt::format("parts must be from 1 to the world size {}, got {}", size(), parts));
  }
  const int part = rank() % parts;
  auto child = std::make_unique<Impl>();
  child->config = impl_->config;
  child->config.rank = rank() / parts;
  child->config.world_size = (size() - part + parts - 1) / parts;
  child->who = fmt::format("{} (rank {} of {} in trial group {})", impl_->who, child->config.rank,
                           child->config.world_size, part);
  child->options = impl_->options;
  child->traffic = impl_->traffic;
  // Each group meets under its own store prefix, numbered like agree/share so every rank names the same one.
  const std::string prefix = fmt::format("split/{}/{}", impl_->next_key++, part);
  child->store = c10::make_intrusive<c10d::PrefixStore>(prefix, impl_->store);
  impl_->guarded(fmt::format("forming trial group {} of {}", part, parts), [&] {
    child->group = c10::make_intrusive<c10d::ProcessGroupGloo>(child->store, child->config.rank,
                                                               child->config.world_size, child->options);
    return 0;
  });
  return std::unique_ptr<Group>(new Group(std::move(child)));
}

int Group::rank() const { return impl_->config.rank; }
int Group::size() const { return impl_->config.world_size; }
const DistConfig& Group::config() const { return impl_->config; }
const Group::Traffic& Group::traffic() const { return *impl_->traffic; }

void Group::sum(const std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return;
  at::Tensor buffer = tensors.size() == 1 && tensors[0].is_contiguous() ? tensors[0].detach() : flatten(tensors);
  impl_->guarded("summing over the ranks (all-reduce)", [&] {
    impl_->collective(buffer, [&](std::vector<at::Tensor>& m) { return impl_->group->allreduce(m); });
    return 0;
  });
  if (!(tensors.size() == 1 && tensors[0].is_contiguous())) unflatten_into(buffer, tensors);
}

void Group::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  if (tensors.empty()) return;
  at::Tensor buffer = flatten(tensors);
  impl_->guarded(fmt::format("receiving rank {}'s values (broadcast)", root), [&] {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    impl_->collective(buffer, [&](std::vector<at::Tensor>& m) { return impl_->group->broadcast(m, bo); });
    return 0;
  });
  unflatten_into(buffer, tensors);
}

void Group::check_identical(const std::vector<at::Tensor>& tensors, const std::string& what) {
  at::Tensor mine = flatten(tensors);
  at::Tensor leaders = mine.clone();
  broadcast({leaders});
  const bool same = at::equal(mine, leaders);
  at::Tensor differing = at::full({1}, same ? 0.0 : 1.0, at::kDouble);
  sum({differing});
  if (differing.item<double>() > 0) {
    throw InternalError(fmt::format("{}: {} of {} ranks hold other values than rank 0 (this rank: {})", what,
                                    static_cast<int64_t>(differing.item<double>()), size(), same ? "same" : "differs"));
  }
}

void Group::agree(const nlohmann::json& facts, const std::string& what) {
  const std::string key = fmt::format("agree/{}", impl_->next_key++);
  const std::string verdict_key = key + "/verdict";
  std::string verdict;
  impl_->guarded(fmt::format("comparing {} with rank 0's", what), [&] {
    impl_->store->set(fmt::format("{}/{}", key, rank()), string_to_bytes(facts.dump()));
    if (leader()) {
      std::vector<std::string> problems;
      for (int r = 1; r < size(); ++r) {
        const nlohmann::json theirs = nlohmann::json::parse(bytes_to_string(impl_->store->get(fmt::format("{}/{}", key, r))));
        for (const auto& [name, value] : facts.items()) {
          const nlohmann::json other = theirs.contains(name) ? theirs.at(name) : nlohmann::json();
          if (other != value) {
            problems.push_back(fmt::format("rank {}'s {}: {} (rank 0: {})", r, name, other.dump(), value.dump()));
          }
        }
      }
      verdict = problems.empty() ? "" : fmt::format("{}", fmt::join(problems, "; "));
      impl_->store->set(verdict_key, string_to_bytes(verdict));
    } else {
      verdict = bytes_to_string(impl_->store->get(verdict_key));
    }
    return 0;
  });
  if (!verdict.empty()) {
    throw DistError(fmt::format("rank {} of {}: the ranks do not run the same {}: {}. Every rank must run the same "
                                "snare version with the same model, data and options", rank(), size(), what, verdict));
  }
}

std::string Group::share(const std::string& bytes) {
  const std::string key = fmt::format("share/{}", impl_->next_key++);
  return impl_->guarded("receiving rank 0's checkpoint", [&] {
    if (leader()) {
      impl_->store->set(key, string_to_bytes(bytes));
      return bytes;
    }
    return bytes_to_string(impl_->store->get(key));
  });
}

bool Group::any(bool flag) {
  at::Tensor t = at::full({1}, flag ? 1.0 : 0.0, at::kDouble);
  sum({t});
  return t.item<double>() > 0;
}

}  // namespace snare::dist
