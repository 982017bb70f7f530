// snare launch -n N [--port P] -- SUBCOMMAND ARGS...
//
// Starts N local processes of a distributed run on 127.0.0.1, as torchrun does: each runs `snare SUBCOMMAND ARGS`
// with WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT (and SNARE_THREADS = cores / N unless set) in its environment.
// Ctrl-C and SIGTERM are passed on to every process. The exit status is the first failing process's (its cause;
// the others then stop with exit 7), else 0.
#include <fmt/format.h>
#include <netinet/in.h>
#include <csignal>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "common/error.h"

namespace snare::cli {

namespace {

std::vector<pid_t> g_children;

extern "C" void forward_signal(int sig) {
  for (pid_t p : g_children) kill(p, sig);
}

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw UsageError(fmt::format("launch: cannot open a socket: {}", std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  if (!ok) throw UsageError(fmt::format("launch: cannot find a free port on 127.0.0.1: {}", std::strerror(errno)));
  return ntohs(a.sin_port);
}

/// The exit status a shell shows: the code, or 128 + the signal.
int status_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

int launch(int processes, int port, const std::vector<std::string>& command) {
  if (processes < 1 || processes > 1024) throw UsageError(fmt::format("-n: must be from 1 to 1024, got {}", processes));
  if (command.empty()) throw UsageError("launch: give the subcommand to run after --, e.g. snare launch -n 2 -- reduce ...");
  if (port == 0) port = free_port();
  if (port < 1 || port > 65535) throw UsageError(fmt::format("--port: must be from 1 to 65535, got {}", port));
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, cores / static_cast<unsigned>(processes)));
  std::vector<std::string> args{"snare"};
  args.insert(args.end(), command.begin(), command.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Each rank's environment is built here, before fork: between fork and exec a threaded process may only make
  // async-signal-safe calls (setenv and malloc are not).
  auto environment_of = [&](int rank) {
    const std::vector<std::string> replaced = {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"};
    std::vector<std::string> env;
    bool threads_set = false;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e, name = entry.substr(0, entry.find('='));
      if (std::find(replaced.begin(), replaced.end(), name) != replaced.end()) continue;
      threads_set = threads_set || name == "SNARE_THREADS";  // the user's choice stands
      env.push_back(entry);
    }
    env.push_back("WORLD_SIZE=" + std::to_string(processes));
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    if (!threads_set) env.push_back("SNARE_THREADS=" + threads);
    return env;
  };
  std::vector<std::vector<std::string>> environments;
  for (int rank = 0; rank < processes; ++rank) environments.push_back(environment_of(rank));
  std::vector<std::vector<char*>> envps(environments.size());
  for (size_t r = 0; r < environments.size(); ++r) {
    for (std::string& entry : environments[r]) envps[r].push_back(entry.data());
    envps[r].push_back(nullptr);
  }
  std::signal(SIGINT, forward_signal);
  std::signal(SIGTERM, forward_signal);
  for (int rank = 0; rank < processes; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) {
      forward_signal(SIGTERM);
      throw UsageError(fmt::format("launch: cannot start rank {}: {}", rank, std::strerror(errno)));
    }
    if (pid == 0) {
      execve("/proc/self/exe", argv.data(), envps[static_cast<size_t>(rank)].data());
      static const char kFailed[] = "snare launch: cannot run a rank (execve failed)\n";
      (void)!write(2, kFailed, sizeof kFailed - 1);
      _exit(127);
    }
    g_children.push_back(pid);
  }
  int first_failure = 0;
  for (size_t done = 0; done < g_children.size();) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    ++done;
    const int code = status_code(status);
    if (code != 0) {
      size_t rank = 0;
      while (rank < g_children.size() && g_children[rank] != pid) ++rank;
      fmt::print(stderr, "snare launch: rank {} ended with exit {}\n", rank, code);
      if (first_failure == 0) first_failure = code;
    }
  }
  g_children.clear();
  return first_failure;
}

}  // namespace

void register_launch(CLI::App& app) {
  struct Options {
    int processes = 0;
    int port = 0;
    std::vector<std::string> command;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "launch", "Run a subcommand as N processes of one distributed run on this machine (127.0.0.1), e.g. "
                "snare launch -n 2 -- reduce --arch lenet5 --data mnist -o small.h5");
  cmd->add_option("-n,--nproc", o->processes, "Processes (ranks) to start")->required();
  cmd->add_option("--port", o->port, "Rendezvous port on 127.0.0.1 (default: a free one)");
  // After --, every word (flags included) is the command each process runs.
  cmd->add_option("command", o->command, "The subcommand and its flags, after --");
  cmd->callback([o]() {
    const int code = launch(o->processes, o->port, o->command);
    if (code != 0) throw Error(static_cast<ExitCode>(code), "launch: a rank failed (its message is above)");
  });
}

}  // namespace snare::cli
