from django.test import Client

from charts.svg import bar_chart, line_chart
from tests.factories import enqueue, make_item, make_queue, make_user


def test_charts_carry_value_ticks_time_labels_units_and_their_figures():
    chart = bar_chart([("05 Dec 10:00", 2.0), ("05 Dec 11:00", 4.0), ("05 Dec 12:00", 0.0)], unit="decisions per hour")
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4"]
    assert [t.label for t in chart.x_ticks] == ["05 Dec 10:00", "05 Dec 11:00", "05 Dec 12:00"]
    assert chart.unit == "decisions per hour" and chart.rows[1] == ("05 Dec 11:00", 4.0)
    single = line_chart([("now (10:00)", 424.0)], unit="pending items")
    assert len(single.points) == 1 and single.points[0].value == 424.0  # one point is still drawn


def test_the_overview_shows_the_present_backlog_before_any_depth_sample(db):
    queue = make_queue()
    for _ in range(3):
        enqueue(make_item(), queue)
    admin = Client()
    admin.force_login(make_user(is_staff=True))
    html = admin.get(f"/queues/{queue.slug}/overview").content.decode()
    assert "<strong>3</strong> items pending now" in html
    assert "No data yet" not in html.split("Decisions per hour")[0]  # the depth chart has its first point
    assert "pending items" in html and "The figures as a table" in html and "<circle" in html
