// Runs the brook CLI in a child process for black-box tests.
#ifndef BROOK_TESTS_SUPPORT_SUBPROCESS_H_
#define BROOK_TESTS_SUPPORT_SUBPROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace brook::testing {

// The brook CLI built with the tests, or "" when the CLI is not built.
inline std::string CliPath() {
#ifdef BROOK_CLI_PATH
  return BROOK_CLI_PATH;
#else
  const char* dir = std::getenv("BROOK_BIN_DIR");
  return dir != nullptr ? std::string(dir) + "/brook" : "";
#endif
}

// A child with pipes to its stdin and from its stdout.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      close(in[0]);
      close(in[1]);
      close(out[0]);
      close(out[1]);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Child() {
    CloseStdin();
    if (stdout_ >= 0) close(stdout_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return pid_ > 0; }
  int stdin_fd() const { return stdin_; }
  int stdout_fd() const { return stdout_; }
  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // Sends SIGKILL and reaps.
  void Kill() {
    kill(pid_, SIGKILL);
    Wait();
  }
  // Waits for exit; returns the exit code, or -signal.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  // Reads whatever stdout has until EOF.
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(stdout_, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  bool reaped_ = false;
};

// Runs a command to completion; returns its exit code and stdout.
inline std::pair<int, std::string> Run(const std::vector<std::string>& argv,
                                       const std::string& input = "") {
  Child child(argv);
  if (!input.empty()) {
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = write(child.stdin_fd(), input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }
  child.CloseStdin();
  std::string out = child.ReadAll();
  return {child.Wait(), out};
}

}  // namespace brook::testing

#endif  // BROOK_TESTS_SUPPORT_SUBPROCESS_H_
