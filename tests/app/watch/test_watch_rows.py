"""The rows a watch tick reads: all that the newest window's answer needs, the hold included."""

from app.watch.tick import rows_needed
from models.detector import Detector
from models.loading import load_detector
from tests.conftest import TinyModel


def test_a_tick_reads_the_windows_the_alarm_rule_and_its_hold_need(tiny_model: TinyModel) -> None:
    loaded = load_detector(tiny_model.store, tiny_model.name)

    def ruled(**rule: int) -> Detector:
        spec = loaded.spec.model_copy(update=rule)
        return Detector(loaded.name, loaded.version, spec, loaded.engine)

    plain = rows_needed(ruled(alarm_after=1, alarm_hold=0, smoothing=1))
    held = ruled(alarm_after=3, alarm_hold=6, smoothing=2)
    assert held.earlier_windows() == 6 + 2 + 1
    assert rows_needed(held) == plain + 6 + 2 + 1
