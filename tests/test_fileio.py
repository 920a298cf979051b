"""Atomic writes: destinations, links and devices, modes, write errors, temporaries, SIGTERM."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlp_core import MLPError, fileio
from mlp_core.errors import WriteError
from mlp_core.fileio import atomic_open, atomic_write_bytes, atomic_write_text, check_writable

REPO = Path(__file__).resolve().parents[1]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_round_trip_leaves_only_the_file(tmp_path):
    atomic_write_bytes(tmp_path / "sub" / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "a.txt", "héllo")
    assert (tmp_path / "sub" / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert names(tmp_path / "sub") == ["a.bin", "a.txt"]


# ---------------------------------------------------------------------------------------------
# Destinations refused up front
@pytest.mark.parametrize("bad,message", [
    ("", r"cannot write '': the path is empty"),
    ("folder/", r"cannot write folder/: is a directory name"),
])
def test_empty_or_folder_like_path(tmp_path, monkeypatch, bad, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MLPError, match=message):
        atomic_write_text(bad, "x")
    with pytest.raises(MLPError, match=message):
        check_writable(bad)
    assert names(tmp_path) == []


def test_existing_directory_is_refused_before_any_temporary(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(fileio, "_make_temp", lambda target: pytest.fail("made a temporary"))
    with pytest.raises(WriteError, match=rf"^cannot write {tmp_path}/out: is a directory$"):
        atomic_write_text(tmp_path / "out", "x")
    with pytest.raises(WriteError, match="is a directory"):
        check_writable(tmp_path / "out")
    assert names(tmp_path) == ["out"] and names(tmp_path / "out") == []


def test_file_where_a_folder_should_be(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=r"cannot write .*file/m.npz: Not a directory"):
        atomic_write_bytes(tmp_path / "file" / "m.npz", b"")
    with pytest.raises(WriteError, match="Not a directory"):
        check_writable(tmp_path / "file" / "deeper" / "m.npz")


# ---------------------------------------------------------------------------------------------
# Links, devices, descriptors
def test_symlink_is_written_through_not_replaced(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "data.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real/data.json")
    atomic_write_text(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "real" / "data.json").read_text() == "new"
    assert names(tmp_path) == ["link.json", "real"] and names(tmp_path / "real") == ["data.json"]


def test_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "link.json").symlink_to(tmp_path / "made" / "data.json")
    atomic_write_text(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "link.json").read_text() == "new"


def test_link_to_character_device_is_written_in_place(tmp_path):
    (tmp_path / "null").symlink_to("/dev/null")
    atomic_write_text(tmp_path / "null", "discarded")
    atomic_write_text("/dev/null", "discarded")
    assert (tmp_path / "null").is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert check_writable(tmp_path / "null") == tmp_path / "null"
    assert names(tmp_path) == ["null"]


def test_write_error_on_a_device_is_one_line():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(WriteError, match=r"^cannot write /dev/full: No space left on device$"):
        atomic_write_bytes("/dev/full", b"x" * 100_000)


def test_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    atomic_write_text(fifo, "through the pipe")
    reader.join(10)
    assert got == ["through the pipe"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def run_child(code: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, **kwargs)


@pytest.mark.parametrize("alias", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_stdout_alias_shares_the_descriptor(tmp_path, alias):
    code = ("from mlp_core.fileio import atomic_write_text\n"
            f"print('before', flush=True); atomic_write_text({alias!r}, 'json\\n'); print('after')")
    with open(tmp_path / "out.txt", "w") as out:  # stdout redirected to a regular file
        assert run_child(code, stdout=out).wait(30) == 0
    assert (tmp_path / "out.txt").read_text() == "before\njson\nafter\n"
    assert names(tmp_path) == ["out.txt"]
    piped = run_child(code, stdout=subprocess.PIPE)
    assert piped.communicate(timeout=30)[0] == b"before\njson\nafter\n"


# ---------------------------------------------------------------------------------------------
# Permissions
@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def test_new_files_follow_the_umask(tmp_path, umask):
    atomic_write_text(tmp_path / "a", "x")
    umask(0o077)
    atomic_write_text(tmp_path / "b", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "b").st_mode) == 0o600


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    (tmp_path / "a").write_text("old")
    os.chmod(tmp_path / "a", 0o640)
    atomic_write_text(tmp_path / "a", "new")
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o640
    assert (tmp_path / "a").read_text() == "new"


# ---------------------------------------------------------------------------------------------
# Write errors: one line, no temporary, the old file intact
@pytest.mark.parametrize("step", ["fsync", "replace", "write"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_write_errors_are_one_line_and_leave_nothing(tmp_path, monkeypatch, step, code):
    target = tmp_path / "m.npz"
    target.write_bytes(b"previous")

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    if step == "write":
        with pytest.raises(WriteError) as info, atomic_open(target) as f:
            f.write(b"partial")
            fail()
    else:
        monkeypatch.setattr(fileio.os, step, fail)
        with pytest.raises(WriteError) as info:
            atomic_write_bytes(target, b"new")
    assert str(info.value) == f"cannot write {target}: {os.strerror(code)}"
    assert isinstance(info.value, OSError)  # callers that caught OSError still do
    assert target.read_bytes() == b"previous" and names(tmp_path) == ["m.npz"]


def test_other_exceptions_pass_through_and_clean_up(tmp_path):
    with pytest.raises(KeyError), atomic_open(tmp_path / "x") as f:
        f.write(b"partial")
        raise KeyError("boom")
    assert names(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Stale temporaries
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_the_same_target_are_swept(tmp_path):
    old = time.time() - fileio.STALE_AFTER_S - 60
    temps = {
        f".m.npz.{dead_pid()}.0123abcd.tmp": "gone",  # its writer died
        f".m.npz.{os.getpid()}.89abcdef.tmp": "kept",  # a live writer, fresh
        f".m.npz.{os.getpid()}.0badf00d.tmp": "gone-old",  # alive but abandoned for too long
        ".m.npz.k2j_9xq1.tmp": "gone-old",  # mkstemp's name, from before PIDs were encoded
        ".m.npz.a8c_0zz1.tmp": "kept",  # the same, fresh
        f".m.npz.x.{dead_pid()}.0123abcd.tmp": "kept",  # a temporary of m.npz.x
        ".other.1.0123abcd.tmp": "kept",
    }
    for name, fate in temps.items():
        (tmp_path / name).write_bytes(b"junk")
        if fate == "gone-old":
            os.utime(tmp_path / name, (old, old))
    atomic_write_bytes(tmp_path / "m.npz", b"new")
    kept = [n for n, fate in temps.items() if fate == "kept"]
    assert names(tmp_path) == sorted(kept + ["m.npz"])


def test_sigkilled_writer_leaves_a_temporary_the_next_write_sweeps(tmp_path):
    target = tmp_path / "m.npz"
    child = start_slow_writer(target)
    (temp,) = [n for n in names(tmp_path) if n.endswith(".tmp")]
    child.kill()
    child.wait(30)
    assert names(tmp_path) == [temp]  # kill -9 cannot be caught
    atomic_write_bytes(target, b"new")
    assert names(tmp_path) == ["m.npz"] and target.read_bytes() == b"new"


# ---------------------------------------------------------------------------------------------
# SIGTERM
SLOW_WRITER = """
import sys, time
from mlp_core.fileio import atomic_open
with atomic_open(sys.argv[1]) as f:
    f.write(b"x" * 100_000)
    print("writing", flush=True)
    time.sleep(60)  # a save that takes long: SIGTERM arrives mid-write
"""


def start_slow_writer(target: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)], env=env,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "writing\n"
    return child


def test_sigterm_mid_write_removes_the_temporary(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"previous")
    child = start_slow_writer(tmp_path / "m.npz")
    assert len(names(tmp_path)) == 2  # the target and the temporary
    child.terminate()
    assert child.wait(30) == -signal.SIGTERM  # still dies of SIGTERM, as it would have
    assert names(tmp_path) == ["m.npz"] and (tmp_path / "m.npz").read_bytes() == b"previous"


def test_sigterm_handler_is_restored_and_others_left_alone(tmp_path):
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with atomic_open(tmp_path / "a") as f:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        f.write(b"x")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def mine(signum, frame):
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        with atomic_open(tmp_path / "b") as f:
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)


def test_writes_from_other_threads_work(tmp_path):
    errors = []

    def write():
        try:
            atomic_write_text(tmp_path / "t", "from a thread")
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=write)
    t.start()
    t.join(10)
    assert not errors and (tmp_path / "t").read_text() == "from a thread"


# ---------------------------------------------------------------------------------------------
# check_writable
def test_check_writable_accepts_good_destinations_and_creates_nothing(tmp_path):
    (tmp_path / "existing").write_text("x")
    for path in (tmp_path / "new.json", tmp_path / "existing", tmp_path / "a" / "b" / "c.npz"):
        assert check_writable(path) == path
    assert check_writable(str(tmp_path / "new.json")) == tmp_path / "new.json"
    assert names(tmp_path) == ["existing"]


def test_check_writable_refuses_an_unwritable_folder():
    if not os.path.isdir("/sys"):
        pytest.skip("no /sys to test with")
    with pytest.raises(WriteError, match=r"^cannot write /sys/m.npz: Permission denied$"):
        check_writable("/sys/m.npz")


def test_check_writable_refuses_a_folder_it_cannot_create_in(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio.os, "access", lambda path, mode: False)
    with pytest.raises(WriteError, match=r"cannot write .*/x/y.npz: cannot create folders in "):
        check_writable(tmp_path / "x" / "y.npz")


def test_check_writable_refuses_a_closed_descriptor():
    with pytest.raises(WriteError, match=r"cannot write /dev/fd/987: Bad file descriptor"):
        check_writable("/dev/fd/987")
