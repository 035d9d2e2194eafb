"""The peer for `airlock bench slack-ingest --target`: a Slack Bolt for Python app (AsyncApp, aiohttp server)
that verifies the signature and acks `app_mention` events, and does nothing else. No network: authorization is
answered locally instead of calling auth.test.

    BOLT_SIGNING_SECRET=... BOLT_PORT=3000 python app.py
"""
import logging
import os

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

logging.basicConfig(level=logging.WARNING)


async def authorize(enterprise_id, team_id, logger):
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench", bot_user_id="U0BOT", bot_id="B0BOT")


app = AsyncApp(signing_secret=os.environ["BOLT_SIGNING_SECRET"], authorize=authorize)


@app.event("app_mention")
async def on_mention(ack):
    await ack()


if __name__ == "__main__":
    app.start(port=int(os.environ.get("BOLT_PORT", "3000")), path="/slack/events", host="127.0.0.1")
