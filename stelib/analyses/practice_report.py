r"""Reading the practice runs: long-form tables, orderings judged against the seed spread, Yin's Table 1.

The chapter *Practice on real data* imports its tables and verdicts from here
(``from stelib.practice_report import ...``); each name is here, from the module of its idea:

* :mod:`stelib.report_orderings` -- :func:`judge` (two STEs compared with the spread over seeds,
  a tie where the intervals mean +- sd overlap), :func:`ordering` and :func:`ordering_notes`
  (three ranked, and the pairs a chain of ties misstates), :func:`stats_of` and
  :func:`pair_counts` on our runs, :func:`judged_pairs` (every pair with the spread and seed by
  seed), :func:`pair_changes` and :func:`moved_pairs` (which readings move between two runs);
* :mod:`stelib.report_yin` -- :func:`load_yin_table` (Yin et al. (2019), Table 1, checked against
  its SHA-256), :func:`yin_stats`, :func:`compare_with_yin`, the verdicts against the two
  references (:func:`yin_verdicts`, :func:`reference_verdicts`, :func:`deep_networks_agree`,
  :func:`all_ties`, :func:`verdict_text`) and what the last recorded check changes in them
  (:func:`changed_verdicts`, :func:`verdict_changes`), with :func:`orderings_of` and
  :func:`matches_reference`;
* :mod:`stelib.report_frames` -- the frames of our runs (:func:`long_frame`, :func:`layer_frame`,
  :func:`summary_frame`, :func:`change_frame`), :func:`start_summary`, :func:`plot_runs`,
  :func:`table_text`, :func:`changed_rows` and, for a run in bf16 against its float32 twin,
  :func:`precision_frame` and :func:`precision_text`.

Each module's docstring has an example.
"""

from __future__ import annotations

from stelib.analyses.report_frames import _reading as _reading
from stelib.analyses.report_frames import change_frame as change_frame
from stelib.analyses.report_frames import (
    changed_rows,
    layer_frame,
    long_frame,
    precision_frame,
    precision_text,
    start_summary,
    table_text,
)
from stelib.analyses.report_frames import plot_runs as plot_runs
from stelib.analyses.report_frames import summary_frame as summary_frame
from stelib.analyses.report_orderings import METRICS as METRICS
from stelib.analyses.report_orderings import _pairs as _pairs
from stelib.analyses.report_orderings import judge, judged_pairs, moved_pairs, ordering, ordering_notes, pair_changes
from stelib.analyses.report_orderings import pair_counts as pair_counts
from stelib.analyses.report_orderings import stats_of as stats_of
from stelib.analyses.report_yin import (
    COMPARABLE,
    REFERENCES,
    YIN_TABLE,
    all_ties,
    changed_verdicts,
    compare_with_yin,
    deep_networks_agree,
    load_yin_table,
    matches_reference,
    orderings_of,
    reference_verdicts,
    verdict_changes,
    verdict_text,
)
from stelib.analyses.report_yin import PAIR_COLUMNS as PAIR_COLUMNS
from stelib.analyses.report_yin import VERDICT_COLUMNS as VERDICT_COLUMNS
from stelib.analyses.report_yin import yin_stats as yin_stats
from stelib.analyses.report_yin import yin_verdicts as yin_verdicts

# Every stelib.analyses name above is re-exported from the module of its idea; ``X as X`` marks
# the ones outside __all__ (as before the split: summary_frame, change_frame, plot_runs, pair_counts,
# stats_of, yin_stats, yin_verdicts, the constants and the private helpers), so that their old
# addresses keep working.
__all__ = ["COMPARABLE", "REFERENCES", "YIN_TABLE", "all_ties", "compare_with_yin", "deep_networks_agree", "judge",
           "layer_frame", "load_yin_table", "long_frame", "ordering", "ordering_notes", "reference_verdicts",
           "start_summary", "table_text", "changed_verdicts", "verdict_changes", "verdict_text", "changed_rows",
           "judged_pairs", "pair_changes", "moved_pairs", "matches_reference", "orderings_of", "precision_frame",
           "precision_text"]
