"""The configuration every test bot runs with: who the admin is and where alerts go."""

from __future__ import annotations

ADMIN_ID = 9001
ADMIN_CHAT_ID = -100500
TEST_BOT_TOKEN = "123456:TEST-token-for-the-fake-bot-api-000000"
