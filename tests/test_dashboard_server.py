"""`playbook serve`: what the server answers, what it refuses, and that it only reads."""

import fcntl
import hashlib
import json
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request

import pytest
from dashboard_studies import XSS, finish, hostile_study
from test_analysis_load import write_study

from playbook import cli
from playbook import config as config_lib
from playbook.dashboard import server as server_lib
from playbook.errors import ConfigError


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The hostile study served on a free port; yields (base url, study directory)."""
    root = hostile_study(tmp_path_factory.mktemp("serve") / "study")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("outside the study")
    os.symlink(outside / "secret.txt", os.path.join(root, "link_out.txt"))
    os.symlink(outside, os.path.join(root, "dir_out"))
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("inside the study")
    server = server_lib.make_server(root, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def get(url, method="GET"):
    """(status, headers, body bytes) without raising on 4xx/5xx."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def raw_get(base, path):
    """A request line sent as is (urllib would normalise `..` away)."""
    host, port = base.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def digest(root):
    """Every file's content and mtime under the study (links not followed)."""
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            if not os.path.islink(path):
                with open(path, "rb") as f:
                    out[path] = (hashlib.sha1(f.read()).hexdigest(), os.stat(path).st_mtime_ns)
    return out


def test_study_data_counts_each_status_group_and_names_the_reason(served):
    base, _ = served
    status, _, body = get(f"{base}/s/0/api/study")
    view = json.loads(body)
    assert status == 200
    assert {k: v for k, v in view["counts"].items() if k not in ("reruns", "text")} == {
        "total": 10, "pending": 1, "running": 0, "done": 8, "infeasible": 1, "failed": 0}
    assert view["counts"]["reruns"]["total"] == 0
    adamw = next(p for p in view["progress"] if p["label"] == "optimizer=adamw")
    assert (adamw["done"], adamw["pending"], adamw["infeasible"]) == (4, 1, 0)
    assert adamw["best"] == {"trial_id": "0007", "objective": pytest.approx(0.4 - 0.09 + 0.01)}
    rows = {t["trial_id"]: t for t in view["trials"]}
    assert rows["0008"]["group"] == "infeasible" and rows["0008"]["reason"] == "collapsed"
    assert rows["0001"]["values"]["model.activation"] == "relu"
    assert rows["0003"]["values"]["model.activation"] == XSS   # JSON carries the raw text
    assert {"axis_learning_rate", "axis_model_activation", "isolation", "parallel",
            "importance"} <= set(view["figures"])


def test_a_running_trial_shows_its_step(served):
    base, root = served
    trial = os.path.join(root, "trials", "0009")
    with open(os.path.join(trial, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)      # as a runner's claim
        with open(os.path.join(trial, "metrics.jsonl"), "w") as f:
            f.write('{"step": 40, "train/loss": 1.0}\n{"step": 60, "train/lo')  # torn
        try:
            view = json.loads(get(f"{base}/s/0/api/study")[2])
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.unlink(os.path.join(trial, "metrics.jsonl"))
    adamw = next(p for p in view["progress"] if p["label"] == "optimizer=adamw")
    assert adamw["running_trials"] == [{"trial_id": "0009", "step": 40, "max_train_steps": 200}]
    assert view["counts"]["running"] == 1


@pytest.mark.parametrize("path", [
    "/s/0/files/../../../etc/passwd", "/s/0/files/%2e%2e/%2e%2e/etc/passwd",
    "/s/0/files//etc/passwd", "/s/0/files/%2Fetc%2Fpasswd", "/s/0/files/link_out.txt",
    "/s/0/files/dir_out/secret.txt", "/s/0/files/trials/../../outside", "/s/0/files/",
    "/static/../server.py", "/s/0/trial/..%2F..%2Fetc", "/s/1/", "/s/-1/", "/nothing"])
def test_paths_outside_the_study_are_not_found(served, path):
    base, _ = served
    assert raw_get(base, path) == 404


def test_a_file_inside_the_study_is_served_as_inert_text(served):
    base, _ = served
    status, headers, body = get(f"{base}/s/0/files/notes.txt")
    assert status == 200 and body == b"inside the study"
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Content-Security-Policy"] == "sandbox"


def test_the_server_only_reads(served):
    base, root = served
    before = digest(root)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert get(f"{base}/s/0/api/study", method)[0] == 405
    for path in ("/", "/api/studies", "/s/0", "/s/0/", "/s/0/api/study", "/s/0/api/trial/0003",
                 "/s/0/trial/0003/config.py", "/s/0/api/curves?t=0001,0002"):
        assert get(base + path)[0] == 200
    assert digest(root) == before


def test_pages_hold_no_study_text_and_forbid_inline_scripts(served):
    base, _ = served
    status, headers, body = get(f"{base}/s/0/")
    assert status == 200 and b"pwned" not in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"].split("style-src")[0]
    status, _, js = get(f"{base}/static/plotly.min.js")
    assert status == 200 and len(js) > 1_000_000 and b"plotly" in js[:2000].lower()


def test_a_trial_page_has_its_config_result_checkpoint_and_retrain_command(served, tmp_path):
    base, root = served
    view = json.loads(get(f"{base}/s/0/api/trial/0001")[2])
    assert view["config"]["optimizer"] == "adamw"
    assert view["result"]["status"] == "done" and view["row"]["objective"] == pytest.approx(0.41)
    assert view["checkpoints"]["directory"] == os.path.join(root, "trials", "0001", "checkpoints")
    assert view["commands"] == ["playbook train --config trial_0001.py --workdir runs/trial_0001"]
    status, headers, source = get(f"{base}/s/0/trial/0001/config.py")
    assert 'filename="trial_0001.py"' in headers["Content-Disposition"]
    (tmp_path / "trial_0001.py").write_bytes(source)
    config = config_lib.load(str(tmp_path / "trial_0001.py"))
    assert config.learning_rate == pytest.approx(view["config"]["learning_rate"])
    assert get(f"{base}/s/0/api/trial/0042")[0] == 404


def test_a_best_trial_is_retrained_from_the_config_file_the_report_wrote(tmp_path):
    from playbook.dashboard import state

    root = write_study(tmp_path / "study")
    os.makedirs(os.path.join(root, "report", "configs"))
    open(os.path.join(root, "report", "configs", "trial_0001.py"), "w").close()
    assert state.retrain_commands(root, "0001") == [
        f"playbook train --config {root}/report/configs/trial_0001.py --workdir runs/trial_0001"]


def test_a_study_being_written_is_served_and_its_version_changes(served):
    base, root = served
    first = json.loads(get(f"{base}/s/0/api/study")[2])
    unchanged = json.loads(get(f"{base}/s/0/api/study?since={first['version']}")[2])
    assert unchanged == {"version": first["version"], "unchanged": True}
    half = os.path.join(root, "trials", "0010")                     # a trial appearing
    os.makedirs(half)
    with open(os.path.join(half, "trial.json"), "w") as f:
        f.write('{"trial_id": "0010", "scien')                       # half-written
    with open(os.path.join(root, "trials", "0009", "result.json"), "w") as f:
        f.write('{"status": "do')                                    # half-written
    try:
        view = json.loads(get(f"{base}/s/0/api/study?since={first['version']}")[2])
        assert view["counts"]["total"] == 10 and view["counts"]["pending"] == 1
        finish(root, "0009")
        view = json.loads(get(f"{base}/s/0/api/study?since={view['version']}")[2])
        assert view["counts"]["done"] == 9 and view["counts"]["pending"] == 0
        assert view["version"] != first["version"]
    finally:
        shutil.rmtree(half)
        os.unlink(os.path.join(root, "trials", "0009", "result.json"))


def test_a_directory_of_studies_lists_each_round(tmp_path):
    for name in ("round1", "round2"):
        write_study(tmp_path / "rounds" / name, name=name)
    server = server_lib.make_server(tmp_path / "rounds", "127.0.0.1", 0)
    assert [os.path.basename(s) for s in server.dashboard.studies] == ["round1", "round2"]
    assert [s["name"] for s in server.dashboard.index()] == ["round1", "round2"]
    server.server_close()


def test_next_round_drafts_are_shown_when_they_exist(tmp_path):
    from playbook.dashboard import state

    root = write_study(tmp_path / "study")
    assert state.next_round(root) == []
    with open(os.path.join(root, "next_study.py"), "w") as f:
        f.write("# the next round\n")
    assert state.next_round(root) == [{"name": "next_study.py", "text": "# the next round\n"}]


def test_a_port_in_use_is_one_line_naming_the_port(served, capsys):
    _, root = served
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["serve", root, "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"port {port} on 127.0.0.1 is in use" in err


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p])
def test_a_missing_or_non_study_directory_is_one_line_and_exit_2(tmp_path, capsys, make):
    assert cli.main(["serve", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("playbook: error: ")
    with pytest.raises(ConfigError, match="study.json"):
        server_lib.make_server(make(tmp_path), "127.0.0.1", 0)


def test_a_study_just_created_is_served_with_empty_panels(tmp_path):
    from playbook.dashboard import state

    root = write_study(tmp_path / "study")
    view = json.loads(json.dumps(state.study_view(root), allow_nan=False))
    assert view["counts"]["total"] == 0
    assert [p["label"] for p in view["progress"]] == ["optimizer=nesterov", "optimizer=adamw"]
    assert all("error" not in f for f in view["figures"].values())
    assert "no done trial yet" in view["comparison"]
