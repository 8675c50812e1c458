"""`make run` prepares the demo's slow parts in the background; the home page shows how far it got."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.test import Client

from ops.demo_progress import DemoProgress, State, read_progress, write_progress
from ops.management.commands import prepare_demo
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


@pytest.fixture
def signed_in():
    client = Client()
    client.force_login(make_user())
    return client


def a_dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_home_page_says_which_step_is_running(signed_in):
    steps = ["Loading accounts", "Training the demo text model on 2,000 SpamAssassin mails"]
    write_progress(DemoProgress(state=State.RUNNING, steps=steps, step=1, pid=os.getpid(), log="var/prepare_demo.log"))
    html = signed_in.get("/").content.decode()
    assert 'id="demo-progress"' in html
    assert "step 2 of 2" in html and "Training the demo text model" in html
    assert '<progress max="2" value="1">' in html


def test_the_home_page_says_when_the_preparation_failed_or_died_and_nothing_when_done(signed_in):
    steps = ["Loading accounts", "Training"]
    write_progress(DemoProgress(state=State.FAILED, steps=steps, step=1, error="prepare_demo_model: OSError: disk"))
    assert "could not be prepared" in (html := signed_in.get("/").content.decode()) and "OSError: disk" in html
    write_progress(DemoProgress(state=State.RUNNING, steps=steps, step=0, pid=a_dead_pid()))
    assert "stopped at step 1 of 2" in signed_in.get("/").content.decode()
    write_progress(DemoProgress(state=State.DONE, steps=steps, step=2))
    assert 'id="demo-progress"' not in signed_in.get("/").content.decode()


def test_without_a_preparation_the_home_page_has_no_progress_card(signed_in):
    assert read_progress() is None
    assert 'id="demo-progress"' not in signed_in.get("/").content.decode()


def test_the_command_runs_its_steps_in_order_records_them_and_does_not_run_twice(monkeypatch, capsys):
    # Two cheap real commands stand in for the slow ones (the real steps are timed by the first-run measurement).
    steps = [("Checking", "check", {}), ("Listing migrations", "showmigrations", {})]
    monkeypatch.setattr(prepare_demo, "STEPS", steps)
    call_command("prepare_demo")
    progress = read_progress()
    assert progress.state == State.DONE and progress.step == 2 and progress.finished_at
    assert list(progress.seconds_per_step) == ["check", "showmigrations"]
    call_command("prepare_demo")
    assert "prepared already" in capsys.readouterr().out


def test_a_failing_step_is_recorded_for_the_home_page_and_a_rerun_resumes(monkeypatch):
    monkeypatch.setattr(prepare_demo, "STEPS", [("Checking", "check", {}), ("Broken", "no_such_command", {})])
    with pytest.raises(Exception, match="no_such_command"):
        call_command("prepare_demo")
    progress = read_progress()
    assert progress.state == State.FAILED and progress.step == 1 and "no_such_command" in progress.error
    monkeypatch.setattr(prepare_demo, "STEPS", [("Checking", "check", {})])
    call_command("prepare_demo")
    assert read_progress().state == State.DONE


def test_a_running_preparation_is_not_started_again(capsys):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_progress(DemoProgress(state=State.RUNNING, steps=["Training"], pid=other.pid))
        call_command("prepare_demo", background=True)
        assert "being prepared already" in capsys.readouterr().out
        assert read_progress().pid == other.pid
    finally:
        other.kill()
        other.wait()


def test_the_detached_process_runs_although_its_parent_wrote_its_pid_as_running(monkeypatch):
    # `--background` writes the child's pid before the child starts: the child must not take itself for a rival.
    write_progress(DemoProgress(state=State.RUNNING, steps=["Checking"], pid=os.getpid()))
    monkeypatch.setattr(prepare_demo, "STEPS", [("Checking", "check", {})])
    call_command("prepare_demo")
    assert read_progress().state == State.DONE
