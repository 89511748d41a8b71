// Pipeline execution: fingerprints against stamps, scratch directories renamed into place, resumable
// simulations, and stage commands run as child processes (fork + exec of this binary, output teed to the
// console and the stage log; the child dies with the pipeline, so a killed pipeline leaves no orphan writing
// into the run tree).
#include "pipeline/run.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "llm/llm-check.h"
#include "llm/roles.h"
#include "pipeline/stamp.h"
#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ecpo::pipeline {

namespace {


std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

fs::path self_exe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find this program's executable (/proc/self/exe)", "", "pass the binary explicitly");
  return p;
}

// Runs `exe args...`, copying its stdout+stderr to `log` and (when echo) to `out`. Returns the exit status.
int run_child(const fs::path& exe, const Argv& args, std::ofstream& log, std::ostream& out, bool echo) {
  int fds[2];
  if (::pipe(fds) != 0) throw Error(std::string("pipe failed: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    std::string exe_s = exe.string();
    argv.push_back(exe_s.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe_s.c_str(), argv.data());
    std::fprintf(stderr, "exec %s failed: %s\n", exe_s.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    log.write(buf, n);
    log.flush();
    if (echo) {
      out.write(buf, n);
      out.flush();
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

bool outputs_exist(const fs::path& dir, const Stage& s) {
  return std::all_of(s.outputs.begin(), s.outputs.end(), [&](const std::string& o) { return fs::exists(dir / o); });
}

}  // namespace

std::string stage_fingerprint(const Recipe& r, const Stage& s) {
  json j = {{"stage", s.name}, {"config", s.config}};
  json ups = json::object();
  for (const auto& d : s.deps) {
    auto st = stamp_read(r.out_dir / d);
    if (!st) return "";
    ups[d] = st->outputs_hash;
  }
  j["upstream"] = ups;
  j["external"] = s.external.empty() ? "" : hash_external(s.external);
  return sha256_hex(j.dump());
}

std::vector<StageState> pipeline_run(const Recipe& r, const std::vector<Stage>& stages, const RunOptions& o,
                                     std::ostream& out) {
  auto index_of = [&](const std::string& name) -> std::ptrdiff_t {
    for (std::size_t i = 0; i < stages.size(); ++i)
      if (stages[i].name == name) return static_cast<std::ptrdiff_t>(i);
    std::string names;
    for (const auto& s : stages) names += (names.empty() ? "" : ", ") + s.name;
    throw Error("unknown stage '" + name + "'", "--from/--only", "stages of this recipe: " + names);
  };
  const std::ptrdiff_t from = o.from.empty() ? -1 : index_of(o.from);
  const std::ptrdiff_t only = o.only.empty() ? -1 : index_of(o.only);
  const fs::path exe = o.exe.empty() ? self_exe() : o.exe;

  if (!o.dry_run) {
    fs::create_directories(r.out_dir / "logs");
    r.cfg.save(r.out_dir / "config.yaml");
  }
  // A dry run reads the cache of an existing run tree but never creates one.
  if (fs::exists(r.out_dir)) set_external_hash_cache(r.out_dir / ".external-hashes.json");

  std::vector<StageState> result;
  bool roles_checked = !o.check_roles;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const Stage& s = stages[i];
    StageState state{s.name, "", 0};
    const fs::path dir = r.out_dir / s.name;
    if (only >= 0 && static_cast<std::ptrdiff_t>(i) != only) {
      state.state = "not selected";
      result.push_back(state);
      continue;
    }
    const std::string fp = stage_fingerprint(r, s);
    const bool forced = from >= 0 && static_cast<std::ptrdiff_t>(i) >= from;
    auto stamp = stamp_read(dir);
    const bool up_to_date = !fp.empty() && stamp && stamp->fingerprint == fp && outputs_exist(dir, s) && !forced;
    if (up_to_date) {
      state.state = "up to date";
      result.push_back(state);
      if (o.echo) out << "== " << s.name << ": up to date, skipped\n";
      continue;
    }
    if (o.dry_run) {
      state.state = stamp ? "stale" : "pending";
      result.push_back(state);
      continue;
    }
    if (fp.empty()) {
      std::string missing;
      for (const auto& d : s.deps)
        if (!stamp_read(r.out_dir / d)) missing += (missing.empty() ? "" : ", ") + d;
      throw Error("stage '" + s.name + "' needs unfinished stages: " + missing, r.out_dir.string(),
                  "run the pipeline without --only first, or --only " + missing.substr(0, missing.find(',')));
    }

    for (const auto& ext : s.external)
      if (!fs::exists(ext))
        throw Error("stage '" + s.name + "' needs " + ext.string() + ", which does not exist", r.source.string(),
                    "download or create it (a student.model needs config.json, safetensors and a tokenizer), or fix "
                    "the recipe's path");
    if (!roles_checked) {  // before the first stage that runs: a dead endpoint stops the run with nothing started
      check_recipe_roles(r, out);
      roles_checked = true;
    }

    // Where the stage writes, and whether a simulation continues what a killed run left.
    fs::path work;
    bool resume = false;
    if (s.resumable) {
      work = dir;
      // The fingerprint of a simulation in progress lives beside its directory (the verb wants --out empty).
      const fs::path pending = r.out_dir / (s.name + ".pending");
      const bool same_run = fs::exists(pending) && read_file(pending) == fp;
      if (fs::exists(dir) && (stamp || !same_run || forced)) fs::remove_all(dir);
      else if (fs::exists(dir) && same_run) resume = !fs::is_empty(dir) && fs::exists(dir / "run.db");
      fs::create_directories(dir);
      write_file_atomic(pending, fp);
    } else {
      work = dir;
      work += ".partial";
      fs::remove_all(work);
      fs::create_directories(work);
    }
    if (s.files)
      for (const auto& [name, content] : s.files(r.out_dir)) write_file_atomic(r.out_dir / name, content);

    const fs::path log_path = r.out_dir / "logs" / (s.name + ".log");
    std::ofstream log(log_path, std::ios::app);
    const auto t0 = std::chrono::steady_clock::now();
    if (o.echo) out << "== " << s.name << ": " << s.what << (resume ? " (resuming)" : "") << "\n";
    for (const Argv& cmd : s.commands(work, r.out_dir, resume)) {
      const std::string line = argv_display(cmd);
      log << "$ " << line << "\n";
      log.flush();
      if (o.echo) out << "$ " << line << "\n";
      out.flush();
      const int rc = run_child(exe, cmd, log, out, o.echo);
      if (rc != 0)
        throw Error("stage '" + s.name + "' failed (exit " + std::to_string(rc) + "): " + line, log_path.string(),
                    "fix the cause and rerun the same pipeline command: finished stages are kept");
    }
    if (!outputs_exist(work, s)) {
      std::string missing;
      for (const auto& f : s.outputs)
        if (!fs::exists(work / f)) missing += (missing.empty() ? "" : ", ") + f;
      throw Error("stage '" + s.name + "' finished without writing " + missing, work.string(),
                  "see " + log_path.string());
    }
    Stamp st;
    st.stage = s.name;
    st.fingerprint = fp;
    st.outputs_hash = hash_paths(work, s.hashed.empty() ? s.outputs : s.hashed);
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    st.finished_at = now_utc();
    stamp_write(work, st);
    if (s.resumable) {
      fs::remove(r.out_dir / (s.name + ".pending"));
    } else {
      fs::remove_all(dir);
      fs::rename(work, dir);
    }
    state.state = "ran";
    state.seconds = st.seconds;
    result.push_back(state);
  }
  return result;
}

void check_recipe_roles(const Recipe& r, std::ostream& out) {
  if (r.offline) return;
  const fs::path path = r.cfg.get<std::string>("roles", "");
  llm::RoleSetOptions rso;
  rso.no_cache = true;
  llm::RoleSet roles(llm::load_roles(path), rso);
  const auto results = llm::check_roles(roles);
  for (const auto& c : results)
    if (!c.ok)
      throw Error("role '" + c.role + "' cannot be reached (" + c.model + " at " + c.endpoint + "): " + c.message,
                  path.string(), "fix the role (try `ecpo llm check --config " + path.string() + "`), then rerun: no stage has run");
  out << "== roles: " << results.size() << " endpoint probe" << (results.size() == 1 ? "" : "s") << " ok ("
      << path.string() << ")\n";
}

}  // namespace ecpo::pipeline
