import asyncio

import websockets


def test_publish_reaches_user(server, redis_server):
    async def run():
        async with websockets.connect(server.url + "/?user=Alice") as ws:
            assert redis_server.client().publish("alice", "hello") == 1
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
    asyncio.run(run())
