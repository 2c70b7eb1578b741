"""GET /candidate-sessions: filters and cursor pagination (the body stays a JSON list)."""

from __future__ import annotations

import pytest

from tests.support import RunningServer

pytestmark = pytest.mark.anyio


async def test_pages_cover_every_session_once(server: RunningServer) -> None:
    created = [(await server.create_session("exam-p"))[0] for _ in range(5)]
    await server.create_session("exam-other")
    seen: list[str] = []
    pages = 0
    url = "/candidate-sessions?assessmentId=exam-p&limit=2"
    async with server.http() as client:
        while url:
            response = await client.get(url)
            assert response.status_code == 200 and isinstance(response.json(), list)
            seen += [s["id"] for s in response.json()]
            pages += 1
            link = response.headers.get("link")
            if link is None:
                assert "x-next-cursor" not in response.headers
                break
            assert link.endswith('>; rel="next"') and response.headers["x-next-cursor"] in link
            url = link[1 : link.index(">")]
    assert seen == created and pages == 3


async def test_filters_by_status_and_trust_level(server: RunningServer) -> None:
    done, done_token = await server.create_session("exam-f")
    risky, risky_token = await server.create_session("exam-f")
    calm, _ = await server.create_session("exam-f")
    async with server.candidate(done, done_token) as candidate:
        await candidate.event(1, "assessment_submitted")
        await candidate.acked(1)
    async with server.candidate(risky, risky_token) as candidate:
        for seq in range(1, 4):  # three HIGH: 100 - 45 = 55, trust LOW
            await candidate.event(seq, "inspect_element_opened")
        await candidate.acked(3)
    async with server.http() as client:

        async def ids(query: str) -> list[str]:
            return [
                s["id"]
                for s in (
                    await client.get(f"/candidate-sessions?assessmentId=exam-f&{query}")
                ).json()
            ]

        assert await ids("status=COMPLETED") == [done]
        assert await ids("status=IN_PROGRESS") == [risky, calm]
        assert await ids("trustLevel=LOW") == [risky]
        assert await ids("trustLevel=HIGH&status=IN_PROGRESS") == [calm]


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=5000", "limit"), ("limit=ten", "limit"), ("status=BORED", "status"),
     ("trustLevel=ULTRA", "trustLevel"), ("cursor=%21%21", "cursor"), ("assessmentId=a%20b", "assessmentId")],
)  # fmt: skip
async def test_bad_queries_name_the_parameter(
    server: RunningServer, query: str, field: str
) -> None:
    async with server.http() as client:
        response = await client.get(f"/candidate-sessions?{query}")
    assert response.status_code == 422
    assert (
        response.json()["error"]["code"] == "invalid_query"
        and response.json()["error"]["field"] == field
    )
