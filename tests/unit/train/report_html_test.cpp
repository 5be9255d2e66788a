// report_html.h and svg_plot.h: the page has the expected sections and series for research and derived
// runs, escapes text from the files (a module named <script>), copes with NaN / missing fields and
// unfinished runs, references nothing external, and write_run_report writes OUT/report.html.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/fs.h"
#include "train/report_html.h"
#include "train/svg_plot.h"
#include "unit/train/run_fixture.h"

namespace mc::train {
namespace {

bool has(const std::string& page, const std::string& what) { return page.find(what) != std::string::npos; }

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

/// Nothing the browser would fetch or run.
void expect_self_contained(const std::string& page) {
  EXPECT_FALSE(has(page, "http")) << "external reference";
  EXPECT_FALSE(has(page, "<script"));
  EXPECT_FALSE(has(page, "src="));
  EXPECT_FALSE(has(page, "href="));
  EXPECT_FALSE(has(page, "url("));
  EXPECT_FALSE(has(page, "@import"));
  EXPECT_FALSE(has(page, "nan")) << "a NaN printed as a number";
  EXPECT_FALSE(has(page, "inf\""));
  EXPECT_TRUE(page.rfind("<!DOCTYPE html>", 0) == 0);
  EXPECT_TRUE(has(page, "</html>"));
  EXPECT_EQ(count(page, "<svg"), count(page, "</svg>"));
  EXPECT_EQ(count(page, "<section"), count(page, "</section>"));
}

TEST(ReportHtml, ResearchRun) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_research_run(run);
  const std::string page = run_report_html(read_run_files(run));
  expect_self_contained(page);
  EXPECT_TRUE(has(page, "<section id=\"summary\">"));
  EXPECT_TRUE(has(page, "<th>final_loss</th><td class=\"num\">1.75</td>"));
  EXPECT_TRUE(has(page, "<th>stop_reason</th><td>max_steps</td>"));
  EXPECT_TRUE(has(page, "configuration (4 fields)"));
  EXPECT_TRUE(has(page, "<section id=\"loss\">"));
  EXPECT_TRUE(has(page, "data-label=\"train loss\""));
  EXPECT_TRUE(has(page, "data-label=\"eval loss\""));
  EXPECT_TRUE(has(page, "base model eval loss 2.6"));
  EXPECT_TRUE(has(page, "<section id=\"learning-rate\">"));
  EXPECT_TRUE(has(page, "data-label=\"learning rate\""));
  // Research runs have no step sizes, saturation, batch sizes or gate.
  EXPECT_FALSE(has(page, "id=\"step-size\""));
  EXPECT_FALSE(has(page, "id=\"spectral-budget\""));
  EXPECT_FALSE(has(page, "id=\"batch-size\""));
  EXPECT_FALSE(has(page, "id=\"pipeline-gate\""));
  EXPECT_FALSE(has(page, "id=\"warnings\""));
}

TEST(ReportHtml, DerivedRunEscapesModuleNames) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_derived_run(run, "<script>alert(1)</script>", "a&b\"c'");
  const std::string page = run_report_html(read_run_files(run));
  expect_self_contained(page);
  EXPECT_TRUE(has(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_TRUE(has(page, "a&amp;b&quot;c&#39;"));
  EXPECT_TRUE(has(page, "<section id=\"step-size\">"));
  for (const char* s : {"η_step", "η_ceiling", "η_sps", "η_weyl", "η_margin"})
    EXPECT_TRUE(has(page, std::string("data-label=\"") + s + "\"")) << s;
  EXPECT_TRUE(has(page, "(log scale)"));
  EXPECT_FALSE(has(page, "id=\"learning-rate\""));
  EXPECT_TRUE(has(page, "<section id=\"spectral-budget\">"));
  EXPECT_TRUE(has(page, "limit 1.0"));
  EXPECT_TRUE(has(page, "epoch 1, step 4"));
  EXPECT_EQ(count(page, "<g class=\"bar\">"), 3u);
  EXPECT_TRUE(has(page, "fill=\"#d62728\""));  // the 1.25 bar is over the limit
  EXPECT_TRUE(has(page, "<section id=\"batch-size\">"));
  EXPECT_TRUE(has(page, "<section id=\"pipeline-gate\">"));
  EXPECT_TRUE(has(page, "<td>spectral_bounds</td><td class=\"failed\">failed</td>"));
  EXPECT_TRUE(has(page, "Verdict: <strong>failed</strong> (failure modes: spectral_bounds)"));
  EXPECT_TRUE(has(page, "<th>base_eval_loss</th><td>n/a</td>"));  // null in the result
  // No base eval loss: no reference line.
  EXPECT_FALSE(has(page, "base model eval loss"));
}

TEST(ReportHtml, InterruptedRunWithCutLineAndNaNs) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_interrupted_research_run(run);
  test::write_bytes(run + "/metrics.jsonl",
                    "{\"step\":1,\"loss\":null,\"lr\":null}\n{\"step\":2,\"loss\":2.0,\"lr\":0.1}\n"
                    "{\"step\":2,\"eval_loss\":null}\n{\"step\":3,\"lo");
  const std::string page = run_report_html(read_run_files(run));
  expect_self_contained(page);
  EXPECT_TRUE(has(page, "absent (the run has not finished)"));
  EXPECT_TRUE(has(page, "<th>latest checkpoint</th>"));
  EXPECT_TRUE(has(page, "<th>last eval loss</th><td class=\"num\">n/a</td>"));
  EXPECT_TRUE(has(page, "<section id=\"warnings\">"));
  EXPECT_TRUE(has(page, "skipped an incomplete last line"));
  EXPECT_TRUE(has(page, "<circle"));  // step 2 is an isolated point between NaNs: drawn as a dot
}

TEST(ReportHtml, NoMetricsAtAll) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_research_run(run);
  std::filesystem::remove(run + "/metrics.jsonl");
  const std::string page = run_report_html(read_run_files(run));
  expect_self_contained(page);
  EXPECT_TRUE(has(page, "No step lines in metrics.jsonl."));
  EXPECT_EQ(count(page, "<svg"), 0u);
}

TEST(ReportHtml, WriteRunReport) {
  test::TempDir t;
  const std::string run = t / "run";
  test::make_complete_derived_run(run);
  write_run_report(run);
  const std::string page = test::read_bytes(run + "/report.html");
  EXPECT_EQ(page, run_report_html(read_run_files(run)));
  test::write_bytes(run + "/report.html", "old");
  write_run_report(run);  // replaces an older report
  EXPECT_EQ(test::read_bytes(run + "/report.html"), page);
}

TEST(SvgPlot, EscapeAndNumbers) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(fmt_num(std::nan("")), "n/a");
  EXPECT_EQ(fmt_num(INFINITY), "n/a");
  EXPECT_EQ(fmt_num(0.0002), "0.0002");
}

TEST(SvgPlot, Ticks) {
  EXPECT_EQ(nice_linear_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_linear_ticks(1, 97, 5), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  const std::vector<double> same = nice_linear_ticks(3, 3, 5);
  EXPECT_LT(same.front(), 3);
  EXPECT_GT(same.back(), 3);
  const std::vector<double> lt = log_ticks(0.003, 0.02);
  EXPECT_DOUBLE_EQ(lt.front(), 0.002);
  EXPECT_DOUBLE_EQ(lt.back(), 0.02);
  const std::vector<double> wide = log_ticks(1e-6, 1e2);
  EXPECT_DOUBLE_EQ(wide.front(), 1e-6);
  EXPECT_DOUBLE_EQ(wide.back(), 100);
  EXPECT_LE(wide.size(), 10u);
}

TEST(SvgPlot, LogAxisSkipsNonPositiveAndEmptyChartSaysNoData) {
  SvgLineChart c;
  c.title = "t";
  c.log_y = true;
  c.hline = std::nan("");
  SvgSeries s;
  s.label = "s";
  s.x = {1, 2, 3, 4};
  s.y = {0.1, -1, 0.0, 1.0};
  c.series.push_back(s);
  const std::string svg = svg_line_chart(c);
  EXPECT_EQ(count(svg, "<circle"), 2u);  // points 1 and 4 are isolated
  EXPECT_FALSE(has(svg, "no data"));
  c.log_y = false;
  c.series[0].y = {1, 2, 2, 3};
  c.series[0].steps = true;
  const std::string stepped = svg_line_chart(c);
  EXPECT_EQ(count(stepped, " L"), 6u) << stepped;  // each of the 3 steps is a horizontal and a vertical segment
  c.log_y = true;
  c.series[0].steps = false;
  c.series[0].y = {-1, 0, std::nan(""), -2};
  EXPECT_TRUE(has(svg_line_chart(c), "no data"));
  SvgBarChart b;
  b.title = "b";
  b.limit = std::nan("");
  EXPECT_TRUE(has(svg_bar_chart(b), "no data"));
}

}  // namespace
}  // namespace mc::train
