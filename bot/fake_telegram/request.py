"""The Application's way in to the fake Telegram: a ``telegram.request.BaseRequest`` that hands
every Bot API call to a :class:`~bot.fake_telegram.api.FakeBotAPI` in the same process."""

from __future__ import annotations

from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.fake_telegram.api import FakeBotAPI


class FakeRequest(BaseRequest):
    """Routes the Application's HTTP calls to a :class:`FakeBotAPI` in the same process."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Hand the call to the fake API; scheduled network failures surface as PTB errors."""
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        files = dict(request_data.multipart_data) if request_data else {}
        try:
            return await self.api.handle(api_method, params, files)
        except (TimedOut, NetworkError):
            raise
        except TimeoutError:
            raise TimedOut from None
