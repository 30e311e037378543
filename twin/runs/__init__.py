"""Runs and what is kept of them: drills (:mod:`.drill`), recordings (:mod:`.recording`),
replays (:mod:`.replay`), reruns and branches (:mod:`.reruns`) and after-action reports
(:mod:`.report`)."""
