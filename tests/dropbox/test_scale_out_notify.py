"""Scale-out (issue 15; dropbox/shared.py): each instance runs the notices' beat, and a notice that
reports wait goes out once for all of them."""

import os
import shutil

import pytest

from dropbox import config
from tests.dropbox.scale_out_helpers import REDIS_URL, redis_prefix
from tests.helpers import make_instance, postgres_database

if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
    pytest.skip("SEALDROP_SKIP_POSTGRES=1", allow_module_level=True)


def test_a_notice_goes_out_once_for_all_instances(tmp_path):
    """Each instance runs the notices' beat; one of them sends each notice, and none repeats it."""
    from dropbox.desk import notify
    from tests.dropbox.notify_helpers import HOUR, START, Clock, add_reports

    class Channel:
        name = "webhook"

        def recipients(self, slug: str) -> list[str]:
            return ["the desk's hook"]

        def send(self, w, at: float, test: bool = False) -> None:
            sent.append((w.slug, w.count, at))

    sent: list[tuple] = []
    with redis_prefix() as prefix, postgres_database() as url:
        first = make_instance(tmp_path / "one", url)
        config.save(config.load(first).with_overrides(redis_url=REDIS_URL, redis_prefix=prefix))
        shutil.copytree(first, tmp_path / "two")
        clock = Clock(START + 5)
        notifiers = [notify.Notifier(config.load(folder), clock) for folder in (first, tmp_path / "two")]
        for notifier in notifiers:
            notifier.channels = [Channel()]
        add_reports(first, 3)
        assert sum(n.beat() for n in notifiers) == 1
        clock.t += HOUR  # the next period, nothing new: neither instance repeats it
        assert sum(n.beat() for n in notifiers) == 0
        add_reports(first, 2)
        clock.t += HOUR
        assert sum(n.beat() for n in notifiers) == 1
        assert sent == [("demo", 3, START), ("demo", 5, START + 2 * HOUR)]
        for notifier in notifiers:
            notifier.close()
