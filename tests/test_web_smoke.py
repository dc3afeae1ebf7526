import httpx

from tests.conftest import MakeStaff, sign_in


async def test_agent_signs_in_and_sees_home(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜")
    r = await sign_in(client, "lina")
    assert r.status_code == 303
    home = await client.get("/")
    assert home.status_code == 200, home.text
    assert "李娜，您好" in home.text
