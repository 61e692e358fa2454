"""Every command's failure paths: one line `kumo: ...` on stderr, a non-zero exit, no
traceback. Against no server, with a bad token or none, with unknown resources, with
malformed instances, with a wrong command line, and with a job that fails."""

from __future__ import annotations

import shlex
from pathlib import Path

import httpx
import pytest

from api.cli.client import Api, CliError
from tests.cli.conftest import Server, kumo, one_line_failure
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(120)

# Every REST command, with arguments that are fine locally (files exist, flags parse), so
# the server is what refuses them. {file} is an existing file, {instances} a valid one.
REST_COMMANDS = [
    "data upload {file}", "data list", "data download nope/x.csv {dir}",
    "data delete nope/x.csv",
    "jobs submit training nope_job --module-name jobs.builtin.dnn --async",
    "jobs describe nope", "jobs list", "jobs cancel nope", "jobs stream-logs nope",
    "jobs metrics nope",
    "models create nope_model", "models list", "models describe nope", "models delete nope",
    "versions create v1 --model nope --origin file:///nowhere/model",
    "versions list --model nope", "versions describe v1 --model nope",
    "versions set-default v1 --model nope", "versions delete v1 --model nope",
    "predict --model nope --json-instances {instances}",
]
# Those naming a resource that does not exist, and what the server says about it.
UNKNOWN = {
    "data download nope/x.csv {dir}": "NOT_FOUND: ", "data delete nope/x.csv": "NOT_FOUND: ",
    "jobs describe nope": "NOT_FOUND: job 'nope' not found",
    "jobs cancel nope": "NOT_FOUND: job 'nope' not found",
    "jobs stream-logs nope": "NOT_FOUND: job 'nope' not found",
    "jobs metrics nope": "NOT_FOUND: job 'nope' not found",
    "models describe nope": "NOT_FOUND: ", "models delete nope": "NOT_FOUND: ",
    "versions create v1 --model nope --origin file:///nowhere/model": "NOT_FOUND: ",
    "versions list --model nope": "NOT_FOUND: ",
    "versions describe v1 --model nope": "NOT_FOUND: ",
    "versions set-default v1 --model nope": "NOT_FOUND: ",
    "versions delete v1 --model nope": "NOT_FOUND: ",
    "predict --model nope --json-instances {instances}": "NOT_FOUND: ",
}


@pytest.fixture
def args(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "file.csv").write_text("a,b\n1,2\n")
    (tmp_path / "instances.json").write_text("[1, 2, 3, 4]\n")
    return {"file": str(tmp_path / "file.csv"), "instances": str(tmp_path / "instances.json"),
            "dir": str(tmp_path)}


@pytest.mark.parametrize("command", REST_COMMANDS)
def test_unreachable_server(server: Server, command: str, args: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_failure(kumo(server, *command.format(**args).split(), "--server", url))
    assert line.startswith(f"kumo: cannot reach the kumo server at {url} (")
    assert line.endswith("start it with `kumo serve`, or point --server or KUMO_SERVER at it")


@pytest.mark.parametrize("command", REST_COMMANDS)
def test_bad_token(server: Server, command: str, args: dict[str, str]) -> None:
    line = one_line_failure(kumo(server, *command.format(**args).split(), KUMO_TOKEN="bad"))
    assert line == "kumo: UNAUTHENTICATED: invalid token (token from KUMO_TOKEN)"


def test_no_token_says_where_one_comes_from(server: Server, tmp_path: Path) -> None:
    line = one_line_failure(kumo(server, "--server", server.url, "jobs", "list",
                                 KUMO_HOME=str(tmp_path)))
    assert line.startswith("kumo: UNAUTHENTICATED: missing token")
    assert line.endswith(f"set KUMO_TOKEN, or run `kumo serve`, which saves one in "
                         f"{tmp_path / 'credentials'}")


@pytest.mark.parametrize("command", list(UNKNOWN))
def test_unknown_resource(server: Server, command: str, args: dict[str, str]) -> None:
    line = one_line_failure(kumo(server, *command.format(**args).split()))
    assert line.startswith(f"kumo: {UNKNOWN[command]}")
    assert not list(Path(args["dir"]).glob("*x.csv*"))  # a failed download leaves nothing


@pytest.mark.parametrize("verb", [["predict", "--model", "m"], ["local", "predict",
                                                                "--model-dir", "."]])
@pytest.mark.parametrize(("flag", "content", "message"), [
    ("--json-instances", "[1, 2]\n{oops\n", "--json-instances {path} line 2: not JSON ("),
    ("--json-instances", "\n\n", "--json-instances {path}: no instances"),
    ("--json-request", '{"instances": [1]', "--json-request {path}: not JSON ("),
    ("--json-request", "[[1, 2]]", '--json-request {path}: expected {{"instances": [...]}}'),
    ("--json-request", '{"instances": []}', "--json-request {path}: no instances"),
    ("--json-instances", None, "--json-instances {path}: No such file or directory"),
])
def test_malformed_instances(server: Server, tmp_path: Path, verb: list[str], flag: str,
                             content: str | None, message: str) -> None:
    path = tmp_path / "instances.json"
    if content is not None:
        path.write_text(content)
    line = one_line_failure(kumo(server, *verb, flag, str(path)))
    assert line == f"kumo: {message.format(path=path)}" or (
        line.startswith(f"kumo: {message.format(path=path)}") and message.endswith("("))


@pytest.mark.parametrize("verb", [["predict", "--model", "m"], ["local", "predict",
                                                                "--model-dir", "."]])
def test_instances_from_one_source(server: Server, verb: list[str]) -> None:
    assert one_line_failure(kumo(server, *verb)) == \
        "kumo: give either --json-instances or --json-request"
    assert one_line_failure(kumo(server, *verb, "--json-instances", "-", "--json-request",
                                 "-", input="[1]\n")) == \
        "kumo: give either --json-instances or --json-request"


@pytest.mark.parametrize("command", [
    ["jobs", "submit", "training", "job_1", "--", "--max-steps", "5"],
    ["local", "train", "--job-dir", "out"],
])
def test_missing_module_name(server: Server, command: list[str]) -> None:
    result = kumo(server, *command)
    where = " ".join(command[:3] if command[0] == "jobs" else command[:2])
    assert one_line_failure(result) == (f"kumo: {where}: Missing option '--module-name'. See "
                                        f"`kumo {where} --help`.")
    assert result.exit_code == 2


@pytest.mark.parametrize(("command", "message"), [
    ("jobs submit training j --module-name m --stream-logs --async",
     "jobs submit training: --stream-logs and --async exclude each other"),
    ("jobs submit training j --module-name m --labels team",
     "--labels: 'team' is not key=value"),
    ("jobs submit training j --module-name m --config {dir}/none.yaml",
     "--config {dir}/none.yaml: No such file or directory"),
    ("jobs submit training j --module-name m --config {dir}/list.yaml",
     "--config {dir}/list.yaml: expected a job's fields, e.g. `trainingInput: {{scaleTier: "
     "BASIC, hyperparameters: ...}}`"),
    ("jobs submit training j --module-name m --package-path {dir}/list.yaml",
     "--package-path {dir}/list.yaml: not a directory (point it at the directory of your "
     "package, the one holding __init__.py)"),
    ("jobs list --format yaml", "Invalid value for '--format': 'yaml': use text, json or "
     "value(field,...), e.g. 'value(jobDir)'. See `kumo --help`."),
    ("jobs lst", "jobs: No such command 'lst'. Did you mean 'list'? See `kumo jobs --help`."),
    ("jobs list --limit 0", "jobs list: Invalid value for '--limit': Input should be greater "
     "than or equal to 1. See `kumo jobs list --help`."),
    ("versions create v1 --model m --origin {dir}/nowhere",
     "--origin {dir}/nowhere: neither an s3:// or file:// URI nor a local snapshot directory"),
    ("local train --module-name 'bad module' --job-dir {dir}",
     "pythonModule 'bad module' is not a Python module name (dotted identifiers, e.g. "
     "trainer.task)."),
    ("local train --module-name m --job-dir s3://bucket/out",
     "--job-dir s3://bucket/out: local train writes to a local directory"),
    ("data upload {dir}/nowhere.csv", "{dir}/nowhere.csv: no such file or directory"),
    ("jobs list --server ftp://host", "--server 'ftp://host' is not a URL like "
     "http://127.0.0.1:8080 (Request URL has an unsupported protocol 'ftp://'.)"),
])
def test_command_line_errors(server: Server, tmp_path: Path, command: str,
                             message: str) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    result = kumo(server, *shlex.split(command.format(dir=tmp_path)))
    assert one_line_failure(result) == f"kumo: {message.format(dir=tmp_path)}"
    # 2 for what the command line says; a missing input file is a plain failure
    assert result.exit_code == (1 if command.startswith("data upload") else 2)


def test_local_predict_needs_a_snapshot(server: Server, tmp_path: Path) -> None:
    (tmp_path / "i.json").write_text("[1]\n")
    line = one_line_failure(kumo(server, "local", "predict", "--model-dir", str(tmp_path),
                                 "--json-instances", str(tmp_path / "i.json")))
    assert line.startswith(f"kumo: --model-dir {tmp_path}: not a usable snapshot: ")


def test_local_train_exits_with_the_modules_status(server: Server, tmp_path: Path) -> None:
    """The module's own complaint is its own; kumo's is one line, with its exit status."""
    result = kumo(server, "local", "train", "--module-name", "json.tool", "--job-dir",
                  str(tmp_path / "out"), "--", "--no-such-flag")
    assert result.exit_code == 2
    assert result.stderr == "kumo: json.tool exited with status 2\n"


def test_a_failed_job_is_one_line_and_exit_1(server: Server) -> None:
    result = kumo(server, "jobs", "submit", "training", "cli_fail", "--module-name",
                  "no_such_module")
    line = one_line_failure(result)
    assert line.startswith("kumo: job cli_fail FAILED: The replica exited with a non-zero "
                           "status of 1: ")
    assert "No module named no_such_module" in line
    assert one_line_failure(kumo(server, "jobs", "stream-logs", "cli_fail")) == line
    assert "already ended (FAILED)" in one_line_failure(kumo(server, "jobs", "cancel",
                                                             "cli_fail"))


@pytest.mark.parametrize(("response", "message"), [
    (httpx.Response(502, text="<html>\nBad gateway</html>"),
     "502: the server failed (HTTP 502): <html>"),
    (httpx.Response(500, json={"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
     "INTERNAL: the server failed (HTTP 500): boom"),
    (httpx.Response(200, text="hello"), "http://s answered / with something other than JSON: "
     "is it a kumo server?"),
])
def test_odd_answers(response: httpx.Response, message: str) -> None:
    response.request = httpx.Request("GET", "http://s/")
    with pytest.raises(CliError) as caught:
        Api("http://s", "default", "t", "KUMO_TOKEN")._json(response)
    assert str(caught.value) == message


def test_admin_token_that_cannot_be_saved(server: Server, tmp_path: Path) -> None:
    (tmp_path / "home").write_text("a file, not a directory")
    result = kumo(server, "admin-token", KUMO_HOME=str(tmp_path / "home"),
                  KUMO_DATA_DIR=str(tmp_path / "data"))
    assert one_line_failure(result).startswith(
        f"kumo: cannot save the token in {tmp_path / 'home' / 'credentials'}: ")
    assert result.exit_code == 1 and result.stdout == ""
