// snare::dist — the processes of one distributed run, on PyTorch's c10d engine with the Gloo backend (TCP).
//
// Every rank runs the same program on the same data (SPMD): training shards each batch over the ranks and sums
// the gradients here, evaluation shards the split and sums the counts here, so every rank sees the same numbers
// and takes the same decisions. Rank 0 alone writes files (docs/distributed.md).
//
//   dist::DistConfig c = dist::config_from_environment();   // WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT
//   dist::Group g(c);                                     // meets the other ranks, or throws DistError
//   g.sum(gradients);                                     // in place, identical bits on every rank
//
// Every failure of a peer (died, hung beyond the timeout, unreachable) is a DistError (exit 7) naming this rank,
// the operation and the timeout.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace snare::dist {

struct DistConfig {
  int world_size = 1;  ///< 1 = no distribution: no Group is made
  int rank = 0;
  std::string host = "127.0.0.1";  ///< where rank 0 listens (the rendezvous)
  int port = 29500;
  double timeout_s = 300;  ///< a collective that waits longer for a peer fails
};

/// "tcp://HOST:PORT" into `config`; throws OptionError (DistConfig::rendezvous) for anything else.
void parse_rendezvous(const std::string& url, DistConfig& config);

/// WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT (as torchrun sets them) over `config`'s values; throws
/// OptionError naming the variable for values that are not numbers in range.
DistConfig config_from_environment(DistConfig config = {});

/// Throws OptionError unless 1 <= world_size, 0 <= rank < world_size, 1 <= port <= 65535, timeout > 0.
void check(const DistConfig& config);

class Group {
 public:
  /// Meets the other ranks: rank 0 serves the rendezvous at host:port, the others connect. Throws DistError when
  /// the rendezvous does not complete within the timeout.
  explicit Group(const DistConfig& config);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int size() const;
  bool leader() const { return rank() == 0; }
  const DistConfig& config() const;

  /// Sums the tensors over all ranks, in place (CPU tensors of one dtype; flattened into one message).
  void sum(const std::vector<at::Tensor>& tensors);
  /// Rank `root`'s values into every rank's tensors, in place.
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  /// Throws InternalError on every rank unless each rank's tensors equal rank 0's bit for bit (`what` names them).
  void check_identical(const std::vector<at::Tensor>& tensors, const std::string& what);
  /// Every rank's `facts` (a flat JSON object) must equal rank 0's: otherwise every rank throws DistError listing
  /// each differing key with rank 0's value and the other rank's.
  void agree(const nlohmann::json& facts, const std::string& what);
  /// Rank 0's `bytes` on every rank (the others pass anything): a checkpoint only rank 0 has read.
  std::string share(const std::string& bytes);
  /// True on every rank when `flag` is true on any rank (a stop request seen by one).
  bool any(bool flag);

  /// The ranks r with r % parts == rank() % parts as a group of their own, numbered r / parts: the trial groups of
  /// a step with parallel trials. Every rank calls it with the same `parts`, in the same order; a group of one rank
  /// is made too (its collectives cost nothing). Its collectives count in this group's traffic. Throws OptionError
  /// unless 1 <= parts <= size().
  std::unique_ptr<Group> split(int parts);

  /// What this rank's collectives (sum, broadcast) cost so far: for the report and the scaling estimate.
  struct Traffic {
    int64_t collectives = 0;
    int64_t bytes = 0;      ///< payload sent into the collectives (each rank's message size)
    double seconds = 0;     ///< spent inside them: transfer plus waiting for slower ranks
  };
  const Traffic& traffic() const;

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Rows [begin, end) of `n` that rank `rank` of `world` evaluates: contiguous, sizes differing by at most one.
std::pair<int64_t, int64_t> shard_of(int64_t n, int rank, int world);

}  // namespace snare::dist
