"""Cloud storage and upload-triggered runs against a real S3 + SQS server (moto's, over HTTP
on 127.0.0.1), with bucket notifications to SQS configured as on AWS."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from prefect.client.orchestration import get_client

from scoreflow.flows.watch import score_new, score_uploads
from scoreflow.tasks.audio.media import generate_video
from scoreflow.tasks.cloud import storage
from scoreflow.tasks.errors import InputError, TransientStorageError

SHOTS = "scene,tc_in,tc_out,description\n1,0,2,calm piano\n2,2,4,tense rock\n"
BROKEN = "scene,tc_in,tc_out,description\n1,0,3,calm\n2,2,4,overlapping\n"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return generate_video(
        tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=4, rate="25", size="64x36"
    ).read_bytes()


def bucket_with_queue(name: str, prefix: str = "incoming/") -> str:
    """A bucket whose ObjectCreated events under `prefix` go to a new queue; its URL."""
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    s3.create_bucket(Bucket=name)
    queue = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    config = {
        "QueueArn": arn["Attributes"]["QueueArn"],
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }
    s3.put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration={"QueueConfigurations": [config]}
    )
    return queue


def put(bucket: str, key: str, body: bytes | str) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body
    )


def keys(bucket: str, prefix: str = "") -> list[str]:
    return [k for k, _ in storage.list_objects(f"s3://{bucket}/{prefix}")]


def drain(queue: str, **kwargs) -> list[dict]:
    """Passes over the queue until a pass receives nothing."""
    report = []
    for _ in range(10):
        got = score_uploads(queue, prefix="incoming/", wait_s=1, retry_delay_s=0, **kwargs)
        if not got:
            return report
        report += got
    raise AssertionError(f"queue not drained: {report}")


def test_upload_scored_once_with_unicode_keys(prefect_server, aws, clip):
    queue = bucket_with_queue("studio")
    put("studio", "incoming/Café scène 1.csv", SHOTS)
    put("studio", "incoming/Café scène 1.mp4", clip)
    report = drain(queue)
    assert [r["what"] for r in report].count("scored") == 1, report
    assert {r["what"] for r in report} <= {"scored", "duplicate event", "nothing to score"}
    manifests = [k for k in keys("studio", "scored/") if k.endswith("manifest.json")]
    assert len(manifests) == 1
    run = manifests[0].rsplit("/", 1)[0]
    assert run.startswith("s3://studio/scored/Café scène 1/")  # out/<stem>/<run id>/
    manifest = storage.get_json(manifests[0])
    assert manifest["location"] == run + "/"
    assert manifest["inputs"]["video"]["path"] == "s3://studio/incoming/Café scène 1.mp4"
    # a published manifest carries the inputs' URIs and file names, no path of the machine
    from scoreflow.tasks.cloud.storage import work_dir

    text = json.dumps(manifest)
    assert str(work_dir()) not in text and "/tmp/" not in text and "site-packages" not in text
    assert manifest["inputs"]["video"]["probe"]["path"].startswith("s3://")
    assert all(s["origin"].startswith("s3://") for s in manifest["scenes"])
    present = set(keys("studio", "scored/"))
    for name in manifest["outputs"]:  # every output the manifest names is there
        assert f"{run}/{name}" in present
    assert f"{run}/Café scène 1.scored.mp4" in present and f"{run}/mix.wav" in present
    # the same upload again (same ETag): a new event, not a new run
    put("studio", "incoming/Café scène 1.csv", SHOTS)
    again = drain(queue)
    assert [r["what"] for r in again] == ["already scored"], again
    assert len([k for k in keys("studio", "scored/") if k.endswith("manifest.json")]) == 1
    # a changed shot list is a new pair: scored again
    put("studio", "incoming/Café scène 1.csv", SHOTS.replace("calm piano", "happy piano"))
    assert [r["what"] for r in drain(queue)] == ["scored"]


def test_broken_shot_list_is_dead_lettered_and_does_not_block(prefect_server, aws, clip):
    queue = bucket_with_queue("agency")
    put("agency", "incoming/bad cut.csv", BROKEN)
    put("agency", "incoming/bad cut.mp4", clip)
    put("agency", "incoming/good.csv", SHOTS)
    put("agency", "incoming/good.mp4", clip)
    report = drain(queue)
    outcomes = {(r["what"], r.get("pair")) for r in report}
    assert ("dead-lettered", "bad cut") in outcomes and ("scored", "good") in outcomes
    failed = keys("agency", "failed/")
    assert len(failed) == 1 and "bad%20cut.mp4" in failed[0]
    record = storage.get_json(failed[0])
    assert "bad cut.csv:3" in record["error"] and "overlaps scene '1'" in record["error"]
    assert record["tries"] == 3 and "s3://agency/incoming/bad cut.csv:3" in record["error"]
    assert record["pair"]["shots"]["uri"] == "s3://agency/incoming/bad cut.csv"
    assert ("duplicate event", "bad cut") in outcomes  # its other upload's event
    assert not [k for k in keys("agency", "scored/") if "bad cut" in k]


def test_interrupted_run_restarts_without_regenerating_cues(prefect_server, aws, clip):
    queue = bucket_with_queue("restart")
    shots = SHOTS.replace("calm piano", "restart test strings")
    put("restart", "incoming/take.csv", shots)
    put("restart", "incoming/take.mp4", clip)
    out = "s3://restart-out/scored/"  # the output bucket does not exist yet
    first = score_uploads(queue, out=out, prefix="incoming/", wait_s=1, retry_delay_s=0)
    failed = [r for r in first if r["what"].startswith("failed")]
    assert len(failed) == 1, first  # left on the queue for another try
    boto3.client("s3").create_bucket(Bucket="restart-out")
    report = drain(queue, out=out)
    assert [r["what"] for r in report if r["what"] == "scored"] == ["scored"], report
    manifest_key = next(k for k in keys("restart-out") if k.endswith("manifest.json"))
    manifest = storage.get_json(manifest_key)
    cues = [s["cue"] for s in manifest["scenes"] if "cue" in s]
    assert len(cues) == 2 and all(c["cached"] for c in cues)  # finished cues reused


def test_polling_mode(prefect_server, aws, clip):
    boto3.client("s3").create_bucket(Bucket="nightly")
    put("nightly", "incoming/a.csv", SHOTS)
    put("nightly", "incoming/a.mp4", clip)
    put("nightly", "incoming/lonely.mp4", clip)  # no shot list: not a pair
    first = score_new("s3://nightly/incoming/")
    assert [(r["what"], r["pair"]) for r in first] == [("scored", "a")]
    assert score_new("s3://nightly/incoming/") == []  # nothing new
    assert any(k.endswith("manifest.json") for k in keys("nightly", "scored/a/"))


def test_multipart_upload_and_clear_errors(tmp_path, aws, monkeypatch):
    boto3.client("s3").create_bucket(Bucket="big")
    monkeypatch.setenv("SCOREFLOW_MULTIPART_MB", "5")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    storage.upload(big, "s3://big/a b/big.bin")
    assert storage.etag("s3://big/a b/big.bin").endswith("-3")  # three parts
    back = storage.fetch("s3://big/a b/big.bin", tmp_path / "work", what="file")
    assert back.read_bytes() == big.read_bytes() and back.name == "big.bin"
    with pytest.raises(InputError, match=r"s3://big/nope\.mp4: cannot read: not found"):
        storage.fetch("s3://big/nope.mp4", tmp_path / "work", what="video")
    with pytest.raises(InputError, match="not found"):
        storage.etag("s3://no-such-bucket/x.mp4")
    with pytest.raises(InputError, match="not an S3 URI"):
        storage.S3Uri.parse("s3://x")


def test_unreachable_storage_is_transient(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    storage.aws_client.cache_clear()
    try:
        with pytest.raises(TransientStorageError, match=r"s3://bkt/k\.mp4: cannot read"):
            storage.etag("s3://bkt/k.mp4")
    finally:
        storage.aws_client.cache_clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """A real Prefect server (the test harness's ephemeral one runs no scheduler)."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
        "PREFECT_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("the Prefect server did not start")
    yield url, env
    server.terminate()
    server.wait(timeout=30)


def assert_one_at_a_time(url, *names):
    """The deployments exist on the server at `url`, each limited to one run, new runs
    cancelled while one goes on."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(url) as client:
        for name in names:
            deployment = client.read_deployment_by_name(name)
            assert deployment.global_concurrency_limit.limit == 1, name
            assert deployment.concurrency_options.collision_strategy == "CANCEL_NEW", name


def test_served_deployment_runs_the_batch(prefect_api, tmp_path, clip):
    url, env = prefect_api
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "promo.mp4").write_bytes(clip)
    (incoming / "promo.csv").write_text(SHOTS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoreflow", "serve", "--folder", str(incoming), "--interval", "2"],
        env={**env, "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    manifest = tmp_path / "scored" / "promo" / "manifest.json"
    done = tmp_path / ".scoreflow" / "done"  # the ledger is written after the run's manifest
    try:
        deadline = time.monotonic() + 150
        while not (manifest.exists() and done.is_dir()) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(1)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert manifest.exists(), out[-3000:]
    assert_one_at_a_time(url, "score-new/serve-batch")
    data = json.loads(manifest.read_text())
    assert Path(data["inputs"]["video"]["path"]) == incoming / "promo.mp4"
    assert done.is_dir()


def run_counts(uri, tmp_path):
    """How many times the fetch task ran for `uri` (retries without delay)."""
    from prefect import flow

    from scoreflow.flows.stages import fetch_task

    @flow
    def fetch_once():
        quick = fetch_task.with_options(retry_delay_seconds=0)
        state = quick(uri, tmp_path, "video", return_state=True)
        return state.state_details.task_run_id, state.is_failed()

    task_run_id, failed = fetch_once()
    with get_client(sync_client=True) as client:
        return client.read_task_run(task_run_id).run_count, failed


def test_transient_errors_are_retried_missing_objects_not(
    prefect_server, aws, tmp_path, monkeypatch
):
    boto3.client("s3").create_bucket(Bucket="retries")
    count, failed = run_counts("s3://retries/missing.mp4", tmp_path)
    assert count == 1 and failed  # not found: reported, not retried
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    storage.aws_client.cache_clear()
    try:
        count, failed = run_counts("s3://retries/x.mp4", tmp_path)
    finally:
        storage.aws_client.cache_clear()
    assert count == 4 and failed  # unreachable: 1 try + 3 retries


def test_credentials_from_a_prefect_block(prefect_server, aws, monkeypatch):
    from prefect_aws import AwsCredentials
    from prefect_aws.client_parameters import AwsClientParameters

    boto3.client("s3").create_bucket(Bucket="blocky")
    put("blocky", "in/a.csv", SHOTS)
    AwsCredentials(
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=aws["AWS_ENDPOINT_URL"]),
    ).save("scoreflow-test", overwrite=True)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("SCOREFLOW_AWS_BLOCK", "scoreflow-test")
    storage.aws_client.cache_clear()
    try:
        assert [u for u, _ in storage.list_objects("s3://blocky/in/")] == ["s3://blocky/in/a.csv"]
    finally:
        storage.aws_client.cache_clear()


def test_prefect_yaml_deploys_and_a_worker_runs_it(prefect_api, tmp_path, clip):
    url, env = prefect_api
    # a worker machine with scoreflow installed: its `scoreflow` on the PATH
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env = {**env, "PREFECT_API_URL": url, "PATH": path}
    incoming = tmp_path / "drop"
    incoming.mkdir()
    (incoming / "spot.mov").write_bytes(clip)
    (incoming / "spot.yaml").write_text(
        "fps: 25\nscenes:\n  - {scene: 1, tc_in: 0, tc_out: 4, description: warm strings}\n"
    )

    def prefect(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    prefect("work-pool", "create", "scoreflow", "--type", "process")
    infra = Path(__file__).resolve().parents[2] / "infra"
    prefect("work-pool", "create", "scoreflow-gpu", "--type", "kubernetes",
            "--base-job-template", str(infra / "k8s" / "gpu-job-template.json"))  # fmt: skip
    yaml = infra / "prefect.yaml"
    prefect("deploy", "--all", "--prefect-file", str(yaml))
    assert_one_at_a_time(url, "score-new/pool-batch", "score-uploads/pool-uploads")
    gpu = json.loads(prefect("deployment", "inspect", "score-uploads/gpu-uploads", "-o", "json"))
    cpu = json.loads(prefect("deployment", "inspect", "score-new/pool-batch", "-o", "json"))
    assert (gpu["work_pool_name"], gpu["work_queue_name"]) == ("scoreflow-gpu", "gpu")
    assert gpu["job_variables"]["gpu_count"] == 1 and "gpu" in gpu["tags"]  # GPU workers only
    assert (cpu["work_pool_name"], cpu["work_queue_name"]) == ("scoreflow", "cpu")
    # the queue deployments point at placeholder AWS queues: no run of them may start here
    prefect("deployment", "delete", "score-uploads/pool-uploads")
    prefect("deployment", "delete", "score-uploads/gpu-uploads")
    prefect(
        "deployment", "run", "score-new/pool-batch",
        "--param", f"folder={incoming}", "--param", f"out={tmp_path / 'delivered'}",
    )  # fmt: skip
    worker = prefect("worker", "start", "--pool", "scoreflow", "--run-once")
    manifest = tmp_path / "delivered" / "spot" / "manifest.json"
    assert manifest.exists(), worker[-3000:]
    assert json.loads(manifest.read_text())["outputs"]["spot.scored.mov"]["bytes"] > 0


@pytest.mark.parametrize(
    ("code", "status", "kind", "words"),
    [
        ("NoSuchKey", 404, InputError, "not found"),
        ("AccessDenied", 403, storage.StorageError, "permission denied"),
        ("SlowDown", 503, TransientStorageError, "SlowDown"),
        ("InternalError", 500, TransientStorageError, "InternalError"),
        ("InvalidRange", 416, storage.StorageError, "InvalidRange"),
    ],
)
def test_storage_errors_sorted(code, status, kind, words):
    from botocore.exceptions import ClientError

    response = {
        "Error": {"Code": code, "Message": words},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    err = storage.storage_error(ClientError(response, "GetObject"), "s3://b/k", "read")
    assert type(err) is kind and words in str(err) and "s3://b/k" in str(err)


def test_watch_command_polls_a_folder(prefect_server, tmp_path, clip, capsys):
    from scoreflow.flows.cli import main

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "ad.mp4").write_bytes(clip)
    (drop / "ad.csv").write_text(SHOTS)
    assert main(["watch", "--poll", str(drop), "--once"]) == 0
    assert "scored: ad" in capsys.readouterr().out
    assert (tmp_path / "scored" / "ad" / "manifest.json").exists()
    assert main(["watch", "--poll", str(drop), "--once"]) == 0
    assert "scored" not in capsys.readouterr().out  # nothing new the second time


def test_batch_command_scores_pairs_in_worker_processes(prefect_server, tmp_path, clip, capsys):
    from scoreflow.flows.cli import main

    drop = tmp_path / "drop"
    drop.mkdir()
    for name in ("ad1", "ad2", "ad3"):
        (drop / f"{name}.mp4").write_bytes(clip)
        (drop / f"{name}.csv").write_text(BROKEN if name == "ad3" else SHOTS)
    assert main(["batch", str(drop), "--concurrency", "2"]) == 1  # ad3's shot list is bad
    lines = sorted(capsys.readouterr().out.splitlines())
    assert [line.split(" -> ")[0] for line in lines] == [
        "dead-lettered: ad3", "scored: ad1", "scored: ad2",
    ]  # fmt: skip
    pids = set()
    for name in ("ad1", "ad2"):
        manifest = json.loads((tmp_path / "scored" / name / "manifest.json").read_text())
        assert manifest["qc"]["passed"]
        pids |= {int(w.rsplit("/", 1)[1]) for w in manifest["workers"]}
    assert os.getpid() not in pids, "the pairs were scored in the batch's worker processes"
    assert main(["batch", str(drop), "--concurrency", "2"]) == 0  # nothing new
    assert capsys.readouterr().out == ""
    assert main(["batch", str(drop), "--concurrency", "0"]) == 2


def test_render_from_and_to_s3(aws, tmp_path):
    from fractions import Fraction

    import soundfile

    from scoreflow.flows.cli import main
    from scoreflow.tasks.engines.composer import Composer
    from scoreflow.tasks.music.brief import make_brief
    from scoreflow.tasks.timeline.model import Scene

    brief = make_brief(Scene("c", 0, 75, Fraction(25), "calm piano"))
    cue = Composer().generate([brief], seconds=[3.0], seed=1)[0]
    boto3.client("s3").create_bucket(Bucket="daw")
    put("daw", "edits/cue 1.mid", cue.midi)
    args = ["render", "s3://daw/edits/cue 1.mid", "--out", "s3://daw/renders/cue 1.wav"]
    assert main([*args, "--seconds", "3"]) == 0
    local = storage.fetch("s3://daw/renders/cue 1.wav", tmp_path, what="render")
    audio, sr = soundfile.read(local)
    assert sr == 48000 and audio.shape == (3 * 48000, 2)
    assert main(["render", "s3://daw/edits/cue 1.mid", "--out", "s3://daw/edits/cue 1.mid"]) == 2


def test_a_long_run_keeps_its_message_hidden(prefect_server, aws, tmp_path):
    """With a 1 s visibility timeout and a run of several seconds, the message stays hidden
    from other consumers while the run goes on."""
    queue = bucket_with_queue("slow")
    sqs = boto3.client("sqs")
    shots = (  # music no other test made: generated, not taken from the cache
        "scene,tc_in,tc_out,description\n1,0,6,slow heartbeat pads\n"
        "2,6,12,driving heartbeat electronic\n3,12,16,heartbeat jazz coda\n"
    )
    boto3.client("s3").put_object(Bucket="slow", Key="incoming/long.csv", Body=shots.encode())
    sqs.purge_queue(QueueUrl=queue)  # only the video's event is left to handle
    video = generate_video(tmp_path / "long.mp4", seconds=16, rate="25", size="64x36")
    put("slow", "incoming/long.mp4", video.read_bytes())

    def counts():
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
        return int(attrs[names[0]]), int(attrs[names[1]])

    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            report=score_uploads(queue, prefix="incoming/", wait_s=1, visibility_s=1)
        )
    )
    started = time.monotonic()
    worker.start()
    while worker.is_alive() and counts() != (0, 1):  # until the pass has received it
        time.sleep(0.1)
    visible = []
    while worker.is_alive():
        visible.append(counts()[0])
        time.sleep(0.2)
    worker.join()
    assert time.monotonic() - started > 3  # the run outlived the timeout three times
    assert [r["what"] for r in result["report"]] == ["scored"]
    assert visible and max(visible) == 0


def test_config_from_s3(aws):
    from scoreflow.flows import settings

    boto3.client("s3").create_bucket(Bucket="configs")
    put("configs", "projects/loud.toml", '[pipeline]\npreset = "streaming"\n')
    assert settings.load("s3://configs/projects/loud.toml").pipeline.preset == "streaming"


@pytest.fixture
def locked_bucket(monkeypatch):
    """A moto server enforcing IAM: a bucket with an object, and a user with no rights."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"}  # setup, then auth enforced
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    admin = {"endpoint_url": url, "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    iam = boto3.client("iam", region_name="us-east-1", **admin)
    iam.create_user(UserName="intern")
    key = iam.create_access_key(UserName="intern")["AccessKey"]
    s3 = boto3.client("s3", region_name="us-east-1", **admin)
    s3.create_bucket(Bucket="locked")
    s3.put_object(Bucket="locked", Key="cut.csv", Body=SHOTS.encode())
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    storage.aws_client.cache_clear()
    yield "s3://locked/cut.csv"
    storage.aws_client.cache_clear()
    server.terminate()
    server.wait(timeout=10)


def test_permission_denied_is_clear_and_not_retried(prefect_server, locked_bucket, tmp_path):
    with pytest.raises(
        storage.StorageError, match=r"s3://locked/cut\.csv: cannot read: permission"
    ):
        storage.fetch(locked_bucket, tmp_path, what="shot list")
    count, failed = run_counts(locked_bucket, tmp_path)
    assert count == 1 and failed


def test_cues_cached_in_an_s3_block(prefect_server, aws, tmp_path, clip):
    """`[cache] storage` names a Prefect S3 block: the cue results land in the bucket, and a
    second run takes every cue from there."""
    from prefect_aws import AwsCredentials, S3Bucket
    from prefect_aws.client_parameters import AwsClientParameters

    from scoreflow.flows.score import score_video

    boto3.client("s3").create_bucket(Bucket="cue-cache")
    credentials = AwsCredentials(
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=aws["AWS_ENDPOINT_URL"]),
    )
    S3Bucket(bucket_name="cue-cache", credentials=credentials, bucket_folder="cues").save(
        "scoreflow-cues", overwrite=True
    )
    (tmp_path / "v.mp4").write_bytes(clip)
    (tmp_path / "s.csv").write_text(SHOTS)
    project = tmp_path / "project.toml"
    project.write_text('[cache]\nstorage = "s3-bucket/scoreflow-cues"\n')

    def run(out):
        return score_video(video=str(tmp_path / "v.mp4"), shots=str(tmp_path / "s.csv"),
                           out=str(tmp_path / out), config_file=str(project))  # fmt: skip

    run("first")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="cue-cache")["Contents"]]
    assert len([k for k in keys if k.startswith("cues/scoreflow-cue-")]) >= 2, keys
    second = run("second")
    assert [s["cue"]["cached"] for s in second["scenes"]] == [True, True]


MALFORMED = [
    "not json at all",
    "[1, 2, 3]",
    '"a string"',
    "{}",
    '{"Records": "x"}',
    '{"Records": [1]}',
    '{"Records": [{"eventName": "ObjectCreated:Put", "s3": "x"}]}',
    '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "A B"},'
    ' "object": {"key": "k.mp4"}}}]}',
    '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "ok-bucket"},'
    ' "object": {}}}]}',
]


def test_malformed_messages_are_dead_lettered_at_once(prefect_server, aws):
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="malformed")["QueueUrl"]
    boto3.client("s3").create_bucket(Bucket="dead-letters")
    for body in MALFORMED:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    sqs.send_message(QueueUrl=queue, MessageBody='{"Event": "s3:TestEvent"}')
    report = drain(queue, dead_letter="s3://dead-letters/failed/")
    malformed = [r for r in report if r["what"].startswith("malformed message")]
    assert len(malformed) == len(MALFORMED) and len(report) == len(MALFORMED) + 1, report
    assert all(r["what"].endswith("dead-lettered") for r in malformed)
    records = [storage.get_json(u) for u in keys("dead-letters", "failed/")]
    assert sorted(r["body"] for r in records) == sorted(MALFORMED)
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"  # none left in flight


def test_claims_let_one_watcher_score_a_pair(aws, tmp_path):
    from scoreflow.tasks.cloud import inbox

    boto3.client("s3").create_bucket(Bucket="claims")
    pair = inbox.Pair(
        inbox.Upload("s3://claims/in/a.mp4", "e1"), inbox.Upload("s3://claims/in/a.csv", "e2")
    )
    for root in ("s3://claims/.scoreflow/", str(tmp_path / "ledger")):
        assert inbox.claim(root, pair, stale_after_s=60)
        assert not inbox.claim(root, pair, stale_after_s=60)  # a second watcher backs off
        assert inbox.claim(root, pair, stale_after_s=0)  # a dead watcher's claim is taken
        inbox.release(root, pair)
        assert inbox.claim(root, pair, stale_after_s=60)


def test_a_pair_published_before_its_ledger_is_not_scored_again(prefect_server, aws, clip):
    """A watcher killed after publishing a run but before writing its ledger: the next one
    finds the run's manifest (same objects, same ETags) and records it instead."""
    queue = bucket_with_queue("republish")
    put("republish", "incoming/spot.csv", SHOTS)
    put("republish", "incoming/spot.mp4", clip)
    report = drain(queue)
    assert [r["what"] for r in report].count("scored") == 1, report
    ledger_keys = [k for k in keys("republish", ".scoreflow/done/")]
    for key in ledger_keys:  # as if the watcher had died before writing it
        storage.delete(key)
    put("republish", "incoming/spot.csv", SHOTS)  # the same content again: a new event
    report = drain(queue)
    assert [r["what"] for r in report].count("scored") == 0, report
    assert "already scored" in [r["what"] for r in report]
    manifests = [k for k in keys("republish", "scored/") if k.endswith("manifest.json")]
    assert len(manifests) == 1


def test_watch_outlives_an_unreachable_queue_and_stops_cleanly(tmp_path):
    """Connection refused is transient: the loop backs off and tries again; SIGTERM stops
    it with its temporary Prefect server."""
    import signal

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_MAX_ATTEMPTS": "1"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoreflow", "watch", "--queue",
         f"http://127.0.0.1:{port}/123456789012/uploads", "--out", str(tmp_path / "o")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen = ""
    deadline = time.monotonic() + 120
    while seen.count("trying again") < 2 and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    assert seen.count("trying again") >= 2 and proc.poll() is None, seen[-2000:]
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143 and "Traceback" not in rest, rest[-2000:]
    assert not list((tmp_path / "prefect" / "scoreflow-temporary").glob("*.json"))
