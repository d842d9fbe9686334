"""The parts of the endpoint processes that need no process: the link's frames, the
commit queue seen from an endpoint process, the shared session-ticket key, the count."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from pathlib import Path

import pytest

from kenshin.bootstrap import App
from kenshin.config import Settings
from kenshin.entrypoints.mqtt import link as frames
from kenshin.entrypoints.mqtt.front import RemoteCommits
from kenshin.entrypoints.mqtt.fronts import EndpointProcesses, _Process, endpoint_processes
from kenshin.entrypoints.mqtt.link import Frame, Link, frame_bytes
from kenshin.entrypoints.mqtt.tickets import (
    TICKET_KEYS_BYTES,
    new_ticket_keys,
    share_ticket_keys,
    ticket_keys,
)
from kenshin.services.batching import CertificateRevoked, CommitError
from kenshin.services.ingest import Incoming


def test_frames_cut_anywhere_arrive_whole_and_in_order() -> None:
    got: list[Frame] = []
    link = Link(got.append, lambda _: None)
    entry = ["mqtt:U-1", b"\x00" * 300, 1, "readings", "U-1", None]
    sent = [[frames.COMMITS, n, [entry] * (n % 3)] for n in range(50)]
    data = b"".join(frame_bytes(frame) for frame in sent)
    for start in range(0, len(data), 7):  # 7 bytes at a time: headers cut too
        link.data_received(data[start : start + 7])
    assert got == sent


def test_what_one_loop_turn_sends_leaves_in_one_write() -> None:
    async def main() -> tuple[list[Frame], int]:
        ours, theirs = socket.socketpair()
        got: list[Frame] = []
        loop = asyncio.get_running_loop()
        sender = Link(lambda _: None, lambda _: None)
        receiver = Link(got.append, lambda _: None)
        transport, _ = await loop.create_unix_connection(lambda: sender, sock=ours)
        await loop.create_unix_connection(lambda: receiver, sock=theirs)
        writes = 0
        write = transport.write

        def counted(data: bytes | bytearray | memoryview) -> None:
            nonlocal writes
            writes += 1
            write(data)

        transport.write = counted  # type: ignore[method-assign]
        for n in range(100):
            sender.send([frames.ANSWER, n, None, False])
        while len(got) < 100:
            await asyncio.sleep(0.01)
        sender.close()
        return got, writes

    got, writes = asyncio.run(main())
    assert [frame[1] for frame in got] == list(range(100))
    assert writes == 1


class Sent:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def send(self, frame: Frame) -> None:
        self.frames.append(frame)


def item(serial: int | None = 2**150) -> Incoming:
    return Incoming("mqtt:U-1", b"{}", 1, "readings", "U-1", serial=serial)


def test_an_endpoint_process_acknowledges_only_what_the_server_answers_committed() -> None:
    async def main() -> list[object]:
        link = Sent()
        commits = RemoteCommits(link, limit=2)  # type: ignore[arg-type]
        answers: list[object] = []
        for _ in range(3):
            commits.offer(item(), answers.append)
        assert commits.full()
        room = asyncio.ensure_future(commits.room())
        await asyncio.sleep(0)
        assert not room.done()  # connections stop reading
        [(kind, first, batch)] = link.frames  # what one loop turn offered: one frame
        assert (kind, first, len(batch)) == (frames.COMMITS, 1, 3)
        assert {int.from_bytes(entry[5], "big") for entry in batch} == {2**150}  # 160 bits
        commits.answered(1, None, False)
        commits.answered(2, "its certificate is revoked: not stored", True)
        await asyncio.wait_for(room, 1)
        commits.gone()  # the link is lost before the third is answered
        with pytest.raises(CommitError):
            commits.offer(item(), answers.append)
        return answers

    answers = asyncio.run(main())
    assert answers[0] is None
    assert isinstance(answers[1], CertificateRevoked)
    assert type(answers[2]) is CommitError
    assert len(answers) == 3


def test_endpoint_processes_share_the_servers_session_ticket_key() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    own = ticket_keys(context)
    keys = new_ticket_keys()
    assert own is not None
    assert own != keys  # each process its own, until shared
    assert share_ticket_keys(context, keys)
    assert ticket_keys(context) == keys
    with pytest.raises(ValueError, match=f"{TICKET_KEYS_BYTES} bytes"):
        share_ticket_keys(context, keys[:16])


def processes(store: dict[str, str], **mqtt: int) -> int:
    settings = Settings.model_validate({"mqtt": mqtt, "store": store})
    return endpoint_processes(App(settings, Path(), None, None))  # type: ignore[arg-type]


def test_one_endpoint_process_per_core_unless_told_and_none_with_the_memory_store() -> None:
    assert processes({}) == len(os.sched_getaffinity(0))
    assert processes({}, processes=3) == 3
    assert processes({}, processes=1) == 1
    assert processes({"backend": "memory"}, processes=3) == 1  # the store is in the server


def test_of_two_connections_told_in_either_order_the_older_is_closed() -> None:
    async def main() -> list[list[Frame]]:
        settings = Settings.model_validate({})
        owner = EndpointProcesses(App(settings, Path(), None, None), None, None, 2)  # type: ignore[arg-type]
        a, b = _Process(owner, 0), _Process(owner, 1)
        sent: list[list[Frame]] = [[], []]
        a.link.send, b.link.send = sent[0].append, sent[1].append  # type: ignore[method-assign,assignment]
        owner.connected_through("U-1", a, 200)  # a's later connection is told first
        owner.connected_through("U-1", b, 100)  # b's earlier one, told late
        assert owner.connected == ["U-1"]
        owner.disconnected_from("U-1", b)  # b closed it: a's stays
        assert owner.connected == ["U-1"]
        owner.connected_through("U-1", b, 300)  # later through b: a's is closed
        return sent

    to_a, to_b = asyncio.run(main())
    assert to_b == [[frames.TAKEN_OVER, "U-1", 200]]
    assert to_a == [[frames.TAKEN_OVER, "U-1", 300]]
