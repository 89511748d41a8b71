// The HTML report: helpers by hand (escaping, word diff, ticks), the document over a mix of inputs (runs,
// judge, rewrite, mtpo cost, training metrics.jsonl), and the document rendered in headless Chromium —
// a screenshot is taken and the DOM holds the tables and plots (skipped with a message without Chromium).
#include <gtest/gtest.h>

#include <cstdlib>

#include "ecpo/ecpo-fixture.h"
#include "ecpo/rewrite.h"
#include "eval/html.h"
#include "eval/report.h"
#include "eval/svg.h"
#include "eval/wr.h"
#include "util/fs.h"

namespace ecpo::eval {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(Html, EscapeDiffTicks) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  // "a b c d" → "a x c d e": b removed, x added, e added.
  auto ops = word_diff("a b c d", "a x c d e");
  std::string seq;
  for (const auto& o : ops) seq += (o.kind == DiffOp::Kind::same ? "=" : o.kind == DiffOp::Kind::removed ? "-" : "+") + o.text + " ";
  EXPECT_EQ(seq, "=a -b +x =c =d +e ");
  EXPECT_EQ(diff_html("keep <old>", "keep <new> more"), "keep <del>&lt;old&gt;</del> <ins>&lt;new&gt; more</ins>");
  EXPECT_EQ(nice_ticks(0, 5), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(nice_ticks(0, 0.9), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(nice_ticks(-3, 7, 5), (std::vector<double>{-4, -2, 0, 2, 4, 6, 8}));
  EXPECT_EQ(nice_ticks(0.5, 0.74, 4), (std::vector<double>{0.5, 0.6, 0.7, 0.8}));  // raw step 0.06 → 0.1
  EXPECT_EQ(fmt_count(12345), "12.3k");
  EXPECT_EQ(fmt_num(std::nan("")), "-");
}

struct Inputs {
  test::TempDir tmp;
  std::vector<fs::path> paths;
};

// runs (test, expert-like second seed, train), a judge dir with a named subdir, a rewrite dir, an mtpo cost
// dir and a training dir.
std::unique_ptr<Inputs> make_inputs() {
  auto in = std::make_unique<Inputs>();
  const fs::path a = test::sample_run("test", 12), b = test::sample_run("test", 12, {"seed=3"}), train = test::sample_run();
  JudgeOptions j;
  j.a = a;
  j.b = b;
  j.offline = true;
  j.out = in->tmp / "judge" / "student";
  judge_command(j);
  pref::RewriteOptions r;
  r.run = train;
  r.offline = true;
  r.out = in->tmp / "rewrite";
  pref::rewrite_run(r);
  fs::create_directories(in->tmp / "mtpo-tree");
  write_json_file(in->tmp / "mtpo-tree" / "cost.json",
                  pref::cost_report("tree-dpo", 10, {}, {}, {"agent (rule)"}, "test cost"));
  std::string m;
  for (int s = 1; s <= 20; ++s)
    m += "{\"step\":" + std::to_string(s) + ",\"epoch\":0,\"loss\":" + std::to_string(0.7 - 0.01 * s) +
         ",\"lr\":1e-6,\"grad_norm\":1.0,\"tokens\":100,\"tokens_per_s\":50,\"rewards/chosen\":" + std::to_string(0.01 * s) +
         ",\"rewards/rejected\":" + std::to_string(-0.01 * s) + "}\n";
  test::write_text(in->tmp / "train-dpo" / "metrics.jsonl", m);
  in->paths = {a, b, train, in->tmp / "judge", in->tmp / "rewrite", in->tmp / "mtpo-tree", in->tmp / "train-dpo"};
  return in;
}

TEST(Report, DocumentHoldsEverySectionAndSaysWhichRolesWereHeuristic) {
  auto in = make_inputs();
  ReportInputs ri = collect_report_inputs(in->paths);
  EXPECT_EQ(ri.runs.size(), 3u);
  EXPECT_EQ(ri.judges.size(), 1u);
  EXPECT_EQ(ri.judges[0].name, "student");
  EXPECT_EQ(ri.rewrites.size(), 1u);
  EXPECT_EQ(ri.methods.size(), 2u);  // the rewrite's cost.json and the mtpo one
  EXPECT_EQ(ri.trainings.size(), 1u);
  EXPECT_EQ(ri.trainings[0].steps.size(), 20u);
  ReportOptions o;
  o.max_episodes = 5;
  const std::string html = render_report(ri, o);
  for (const char* id : {"id=\"heuristic\"", "id=\"runs\"", "id=\"costs\"", "id=\"wr\"", "id=\"rewrite\"", "id=\"diffs\"",
                         "id=\"episodes\"", "id=\"plot-ec-turn\"", "id=\"plot-ec-hist\"", "id=\"plot-lambda\"",
                         "id=\"plot-calls\"", "id=\"plot-trajectories\"", "id=\"plot-loss\"", "id=\"plot-rewards\""})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_NE(html.find("user_sim (agenda)"), std::string::npos);
  EXPECT_NE(html.find("rewriter (heuristic)"), std::string::npos);
  EXPECT_NE(html.find("judge (heuristic)"), std::string::npos);
  // Self-contained: no external resource, no script.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // The WR of the judged run shows in the runs table (matched by path), and the rewrite's pair count.
  json wr = read_json_file(in->tmp / "judge" / "student" / "wr.json");
  EXPECT_NE(html.find(fmt_num(wr["wr"]["overall"].get<double>())), std::string::npos);
  json rep = read_json_file(in->tmp / "rewrite" / "rewrite-report.json");
  EXPECT_NE(html.find(std::to_string(rep["accepted"].get<std::size_t>()) + " <span class=muted>(λ≤5)"), std::string::npos);
  // Diffs mark removed and added words.
  EXPECT_NE(html.find("<ins>"), std::string::npos);
}

TEST(Report, UnknownInputIsRefused) {
  test::TempDir tmp;
  fs::create_directories(tmp / "empty");
  EXPECT_THROW(collect_report_inputs({tmp / "empty"}), Error);
  EXPECT_THROW(collect_report_inputs({tmp / "missing"}), Error);
}

// Headless Chromium with the project's flags; returns the exit code.
int chromium(const std::string& args, const fs::path& user_data, const fs::path& out_file) {
  std::string cmd = "timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                    "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=" +
                    user_data.string() + " " + args + " > " + out_file.string() + " 2>/dev/null";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Report, RendersInHeadlessChromium) {
  if (std::system("command -v chromium > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it): the report is not rendered";
  auto in = make_inputs();
  const fs::path html = in->tmp / "report.html";
  ReportOptions o;
  o.max_episodes = 5;
  write_report(in->paths, html, o);
  test::TempDir profile1, profile2;
  const fs::path png = in->tmp / "shot.png";
  ASSERT_EQ(chromium("--window-size=1280,2400 --screenshot=" + png.string() + " file://" + html.string(), profile1.path(),
                     in->tmp / "shot.log"),
            0);
  ASSERT_TRUE(fs::exists(png));
  const std::string bytes = test::read_text(png);
  ASSERT_GT(bytes.size(), 20000u) << "a blank page compresses to a few KB";
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const fs::path dom = in->tmp / "dom.html";
  ASSERT_EQ(chromium("--dump-dom file://" + html.string(), profile2.path(), dom), 0);
  const std::string d = test::read_text(dom);
  // The parsed DOM holds the tables with their rows, and the SVG plots.
  for (const char* id : {"<table id=\"runs\">", "<table id=\"costs\">", "<table id=\"wr\">", "<table id=\"rewrite\">",
                         "id=\"plot-ec-turn\"", "id=\"plot-loss\"", "id=\"episodes\""})
    EXPECT_NE(d.find(id), std::string::npos) << id;
  EXPECT_NE(d.find("<td class=\"l\">student</td>"), std::string::npos) << "the judge row";
  EXPECT_NE(d.find("ep-00000"), std::string::npos);
  EXPECT_NE(d.find("<polyline"), std::string::npos);
}

}  // namespace
}  // namespace ecpo::eval
