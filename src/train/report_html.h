// The training run report: one self-contained HTML page (inline CSS and inline SVG; no scripts, no
// external resources) built from a run directory's files (run_files.h):
//   summary           the result's headline fields and its config (or, for an unfinished run, the
//                     last step and checkpoint)
//   loss              train loss per step and eval loss per evaluation, vs step
//   learning rate     research runs: lr vs step (linear axis)
//   step size         derived runs: eta_step with eta_ceiling, eta_sps, eta_weyl (and eta_margin when
//                     present) on a log10 axis
//   spectral budget   the last epoch line's saturation ratio per module (bars; limit line at 1.0)
//   batch size        vs step, when the step lines carry it
//   pipeline gate     the gate's checks, when the result has them
//   warnings          what reading the files reported (e.g. a metrics line cut by a crash)
// Every text taken from the files is HTML-escaped; NaN and missing numbers print as "n/a".
#pragma once
#include <string>

#include "train/run_files.h"

namespace mc::train {

/// The report page.
std::string run_report_html(const RunFiles& run);

/// Reads `out_dir` (read_run_files) and writes `out_dir`/report.html atomically (replacing an older
/// report). Throws what read_run_files throws.
void write_run_report(const std::string& out_dir);

}  // namespace mc::train
