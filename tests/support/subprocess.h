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
#include <utility>
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

// Whether a Child's stderr is a pipe the test reads, or the test's own stderr.
enum class ChildStderr { kInherit, kCapture };

// A child with pipes to its stdin and from its stdout (and stderr, if captured).
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv,
                 ChildStderr stderr_mode = ChildStderr::kInherit) {
    int in[2], out[2], err[2] = {-1, -1};
    if (pipe(in) != 0 || pipe(out) != 0) return;
    if (stderr_mode == ChildStderr::kCapture && pipe(err) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      if (err[1] >= 0) dup2(err[1], STDERR_FILENO);
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
        if (fd >= 0) close(fd);
      }
      signal(SIGPIPE, SIG_DFL);  // as a shell would start it (Feed ignores it in the test)
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (err[1] >= 0) close(err[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    stderr_ = err[0];
  }
  ~Child() {
    CloseStdin();
    if (stdout_ >= 0) close(stdout_);
    if (stderr_ >= 0) close(stderr_);
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return pid_ > 0; }
  int stdin_fd() const { return stdin_; }
  int stdout_fd() const { return stdout_; }
  // -1 unless constructed with ChildStderr::kCapture.
  int stderr_fd() const { return stderr_; }
  // Writes all of `input` to stdin, then closes it.
  // Writes `input` to the child's stdin and closes it. A child that exits without reading it all
  // (a command refusing its arguments) ends the feed; it does not kill the test with SIGPIPE.
  void Feed(const std::string& input) {
    static const bool ignoring = [] {
      signal(SIGPIPE, SIG_IGN);  // write() then fails with EPIPE instead
      return true;
    }();
    (void)ignoring;
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = write(stdin_, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    CloseStdin();
  }
  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  // Sends SIGKILL and reaps.
  void Kill() {
    kill(pid_, SIGKILL);
    Wait();
  }
  // Sends `signal` (SIGINT, SIGTERM, ...) without waiting.
  void Signal(int signal) { kill(pid_, signal); }
  // Waits for exit; returns the exit code, or -signal.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  // Reads whatever stdout (or `fd`) has until EOF.
  std::string ReadAll() { return ReadAll(stdout_); }
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int stderr_ = -1;
  bool reaped_ = false;
};

struct RunResult {
  int code = 0;
  std::string out;
  std::string err;
};

// Runs a command to completion, feeding it `input`; returns its exit code, stdout and stderr.
// (stderr is read after stdout ends: enough for messages, not for megabytes of them.)
inline RunResult RunCapturingStderr(const std::vector<std::string>& argv,
                                    const std::string& input = "") {
  Child child(argv, ChildStderr::kCapture);
  child.Feed(input);
  std::string out = child.ReadAll();
  std::string err = Child::ReadAll(child.stderr_fd());
  return {child.Wait(), std::move(out), std::move(err)};
}

// Runs a command to completion; returns its exit code and stdout (stderr goes to the test's).
inline std::pair<int, std::string> Run(const std::vector<std::string>& argv,
                                       const std::string& input = "") {
  Child child(argv);
  child.Feed(input);
  std::string out = child.ReadAll();
  return {child.Wait(), out};
}

}  // namespace brook::testing

#endif  // BROOK_TESTS_SUPPORT_SUBPROCESS_H_
