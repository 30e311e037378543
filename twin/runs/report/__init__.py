"""After-action reports: what happened in a recorded run, for the drill team's review.

``twin report RECORDING [-o DIR] [--lang en|zh-CN]`` reads a recording (see
:mod:`twin.runs.recording`) and writes ``report.html`` with its pictures beside it in
``DIR`` (no internet needed to read it) and ``report.pdf``, the same for printing (A4):

- the executive summary, the first page (:mod:`.summary`): what happened, how fast
  against the deadlines, objectives met or not, three findings;
- the run: scene, drill, seed, tick, span, when it was recorded, plugins;
- the scorecard: the drill's expectations re-scored from the recording (its events and
  its ground truth), or, for a live exercise's recording, its debrief
  (:mod:`twin.runs.debrief`, the same section as the server's debrief page);
- the alarms grouped by incident where the recording carries incidents, else by domain
  and place, the worst group first, with per alarm the times to detect, acknowledge,
  dispatch and resolve (*detect* runs from the input action nearest before the raise
  on the alarmed asset or an asset coupled to it);
- the timeline of the groups, and of every event;
- plots of the key fields of the worst alarmed assets;
- the district at the worst moment, its worst alarms named;
- measured and true: the sensors that matter (faulty, or on the worst alarms' assets),
  their readings against the ground truth the recording keeps, and the all-clears the
  truth contradicts (:mod:`.truthcharts`).

Every moment is the local time of the scene's time zone; every word comes from the one
table the viewer shares (:mod:`twin.i18n`) and the names the plugins, scene and drill
file declare in each language.

The package: :mod:`.data` reads the recording and analyses it, :mod:`.groups` groups
the alarms, :mod:`.text` words the sentences, :mod:`.plots` and :mod:`.district` draw,
:mod:`.view` puts what the report says in one language, :mod:`.render` (jinja2,
``templates/``) and :mod:`.pdf` (reportlab) lay it out, :mod:`.build` writes it all.
"""

from twin.i18n import LEVEL_COLOURS, LEVEL_INK, words
from twin.runs.report.build import Report, write_report
from twin.runs.report.data import AlarmLife, Run, Twin, credit_detection, load_twin, read_run
from twin.runs.report.district import DistrictPicture, render_district
from twin.runs.report.groups import AlarmGroup, group_alarms

__all__ = ["LEVEL_COLOURS", "LEVEL_INK", "words", "Report", "write_report", "AlarmLife", "Run", "Twin", "credit_detection",
           "load_twin", "read_run", "DistrictPicture", "render_district", "AlarmGroup", "group_alarms"]
