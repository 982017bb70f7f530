// dist::Group over loopback: two ranks as two threads of this process (c10d's TCPStore and Gloo do not care),
// plus the configuration parsers.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common/error.h"
#include "dist/group.h"

namespace {

using snare::dist::DistConfig;
using snare::dist::Group;

/// Runs `body(group)` on ranks 0..world-1, one thread each; returns each rank's error text ("" when none).
std::vector<std::string> on_ranks(int world, int port, const std::function<void(Group&)>& body, double timeout_s = 20) {
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        DistConfig c;
        c.world_size = world;
        c.rank = r;
        c.port = port;
        c.timeout_s = timeout_s;
        Group g(c);
        body(g);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

/// A port for this test: the pid keeps parallel test programs apart.
int port_for(int offset) { return 20000 + (::getpid() * 7 + offset) % 20000; }

TEST(Dist, SumsBroadcastsAndAgreesOverTwoRanks) {
  std::vector<double> sums(2), broadcasts(2);
  std::vector<bool> any(2);
  auto errors = on_ranks(2, port_for(1), [&](Group& g) {
    // Two tensors of different shapes: one message, unflattened back.
    at::Tensor a = at::full({3}, static_cast<float>(g.rank() + 1)), b = at::full({2, 2}, static_cast<float>(10 * g.rank()));
    g.sum({a, b});
    sums[static_cast<size_t>(g.rank())] = a.sum().item<double>() + b.sum().item<double>();
    at::Tensor c = at::full({4}, static_cast<double>(g.rank() + 5));
    g.broadcast({c});
    broadcasts[static_cast<size_t>(g.rank())] = c[3].item<double>();
    any[static_cast<size_t>(g.rank())] = g.any(g.rank() == 1);
    g.agree({{"version", "1"}, {"seed", 3}}, "run");
    EXPECT_EQ(g.share(g.leader() ? "from rank 0" : "ignored"), "from rank 0");
    g.check_identical({at::ones({5})}, "ones");
  });
  EXPECT_EQ(errors, std::vector<std::string>(2, ""));
  EXPECT_EQ(sums, std::vector<double>({3 * 3 + 4 * 10.0, 3 * 3 + 4 * 10.0}));
  EXPECT_EQ(broadcasts, std::vector<double>({5, 5}));
  EXPECT_EQ(any, std::vector<bool>({true, true}));
}

// Three ranks split in two trial groups: {0, 2} and {1}. Each group sums among its own ranks only, and a broadcast
// over the world from group 1's first rank (world rank 1) reaches everyone; the split's traffic counts in the world's.
TEST(Dist, SplitGroupsSumAmongTheirOwnRanks) {
  std::vector<double> within(3), from_group1(3);
  std::vector<int> sub_rank(3), sub_size(3);
  std::vector<int64_t> counted(3);
  auto errors = on_ranks(3, port_for(5), [&](Group& g) {
    const auto r = static_cast<size_t>(g.rank());
    std::unique_ptr<Group> mine = g.split(2);
    sub_rank[r] = mine->rank();
    sub_size[r] = mine->size();
    at::Tensor t = at::full({2}, static_cast<double>(g.rank() + 1));
    mine->sum({t});
    within[r] = t[0].item<double>();
    at::Tensor b = at::full({1}, static_cast<double>(100 + g.rank()));
    g.broadcast({b}, 1);
    from_group1[r] = b.item<double>();
    counted[r] = g.traffic().collectives;
    EXPECT_THROW(g.split(4), snare::OptionError);
  });
  EXPECT_EQ(errors, std::vector<std::string>(3, ""));
  EXPECT_EQ(sub_rank, std::vector<int>({0, 0, 1}));
  EXPECT_EQ(sub_size, std::vector<int>({2, 1, 2}));
  EXPECT_EQ(within, std::vector<double>({1 + 3, 2, 1 + 3}));
  EXPECT_EQ(from_group1, std::vector<double>({101, 101, 101}));
  EXPECT_EQ(counted, std::vector<int64_t>({2, 2, 2}));
}

TEST(Dist, RanksThatDifferAreRefusedOnEveryRankNamingTheDifference) {
  auto errors = on_ranks(2, port_for(2), [](Group& g) { g.agree({{"version", "1"}, {"seed", g.rank() + 3}}, "run"); });
  for (const std::string& e : errors) {
    EXPECT_NE(e.find("do not run the same run"), std::string::npos) << e;
    EXPECT_NE(e.find("rank 1's seed: 4 (rank 0: 3)"), std::string::npos) << e;
  }
  auto differ = on_ranks(2, port_for(3), [](Group& g) { g.check_identical({at::full({2}, g.rank())}, "weights"); });
  for (const std::string& e : differ) EXPECT_NE(e.find("weights: 1 of 2 ranks hold other values"), std::string::npos) << e;
}

TEST(Dist, ARankThatLeavesEndsTheOtherWithDistErrorWithinTheTimeout) {
  std::string code;
  auto errors = on_ranks(2, port_for(4), [&](Group& g) {
    if (g.rank() == 1) return;  // leaves: its group goes away
    try {
      at::Tensor t = at::ones({4});
      for (int i = 0; i < 1000; ++i) g.sum({t});
    } catch (const snare::Error& e) {
      code = std::to_string(static_cast<int>(e.exit_code()));
      throw;
    }
  }, 5);
  EXPECT_EQ(code, "7");
  EXPECT_NE(errors[0].find("rank 0 of 2: summing over the ranks (all-reduce) failed"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[1], "");
}

TEST(Dist, RendezvousAndEnvironmentAreParsedAndChecked) {
  DistConfig c;
  snare::dist::parse_rendezvous("tcp://10.0.0.7:1234", c);
  EXPECT_EQ(c.host, "10.0.0.7");
  EXPECT_EQ(c.port, 1234);
  snare::dist::parse_rendezvous("tcp://[::1]:29500", c);
  EXPECT_EQ(c.host, "::1");
  for (const char* bad : {"10.0.0.7:1234", "tcp://host", "tcp://:80", "tcp://h:0", "tcp://h:65536", "tcp://h:x"}) {
    EXPECT_THROW(snare::dist::parse_rendezvous(bad, c), snare::OptionError) << bad;
  }
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  setenv("MASTER_ADDR", "node0", 1);
  setenv("MASTER_PORT", "29501", 1);
  DistConfig e = snare::dist::config_from_environment();
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.host, "node0");
  EXPECT_EQ(e.port, 29501);
  setenv("RANK", "three", 1);
  try {
    snare::dist::config_from_environment();
    ADD_FAILURE() << "RANK=three accepted";
  } catch (const snare::OptionError& err) {
    EXPECT_EQ(err.field(), "RANK");
  }
  for (const char* v : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
  DistConfig out_of_range;
  out_of_range.world_size = 2;
  out_of_range.rank = 2;
  EXPECT_THROW(snare::dist::check(out_of_range), snare::OptionError);
}

TEST(Dist, ShardsCoverEveryRowOnce) {
  for (int64_t n : {0, 1, 7, 6000}) {
    for (int world : {1, 2, 3, 8}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        auto [begin, end] = snare::dist::shard_of(n, r, world);
        EXPECT_EQ(begin, next);
        EXPECT_LE(end - begin, n / world + 1);
        next = end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

}  // namespace
